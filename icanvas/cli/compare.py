"""`icanvas compare`: score checkpoints on hand-drawn sketches (and held-out pairs), report, optionally install."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from icanvas.cli.common import device_option, finish, progress_bar, say, state

if TYPE_CHECKING:
    from icanvas.eval.compare import Comparison


def _table(comparison: Comparison) -> Table:
    from icanvas.eval.compare import RULE

    with_pairs = comparison.pairs > 0
    table = Table(title="checkpoints, best first", caption=RULE)
    longest = max(len(r.label) for r in comparison.results)
    table.add_column("checkpoint", no_wrap=True, min_width=longest)
    for name in ["score", "fidelity F", "precision", "recall", "degenerate"] + \
            (["L1", "PSNR", "SSIM"] if with_pairs else []):
        table.add_column(name, justify="right")
    for r in comparison.results:
        row = [escape(r.label), f"{r.score:.3f}", f"{r.fidelity:.3f}", f"{r.precision:.3f}", f"{r.recall:.3f}",
               f"{r.degenerate}/{len(r.sketches)}"]
        if with_pairs:
            row += [f"{r.pairs['l1']:.3f}", f"{r.pairs['psnr']:.2f}", f"{r.pairs['ssim']:.3f}"]
        table.add_row(*row)
    return table


def compare(
    ctx: typer.Context,
    runs: List[Path] = typer.Argument(..., metavar="RUN_OR_CHECKPOINT", help="Run folders (all their checkpoints), checkpoint files, "
                                                "or installed model folders."),
    sketches: Path = typer.Option(..., "--sketches", "-s", help="Folder (or file) of hand-drawn sketches."),
    pairs: Optional[Path] = typer.Option(None, "--pairs", "-p",
                                         help="Folder of held-out A|B pairs (e.g. <root>/data/<theme>/pairs/test)."),
    max_pairs: int = typer.Option(50, "--max-pairs", min=1, help="Score at most this many pairs (the first ones)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Report folder [<root>/runs/<theme>/compare]."),
    select: bool = typer.Option(False, "--select", help="Install the winner as <root>/models/<theme>/."),
    device: str = typer.Option("auto", "--device", callback=device_option, help="auto, cpu or cuda."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
) -> None:
    """Compare checkpoints on hand-drawn sketches and held-out pairs; pick one."""
    st = state(ctx)
    # Imported here, not at the top: they load torch, and every other command should start fast.
    from icanvas.eval.selection import compare_runs

    with progress_bar(st, "compare", unit="pictures") as on_progress:
        result = compare_runs(st.root, runs, sketches, pairs=pairs, max_pairs=max_pairs, out=out, select=select,
                              device=device, progress=lambda m: say(st, m),
                              on_progress=on_progress)
    comparison, winner = result.comparison, result.comparison.winner
    for failure in result.skipped:
        say(st, f"[yellow]skipped[/yellow] {escape(str(failure))}")
    if not json_out:
        # Piped or logged output gets the whole table rather than 80 clipped columns.
        Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160).print(_table(comparison))
    if result.selected:
        say(st, f"installed {escape(winner.label)} as {escape(result.selected)}")
    summary = {"checkpoints": result.checkpoints, "sketches": result.sketches, "pairs": result.pairs,
               "skipped": [f.to_dict() for f in result.skipped], "winner": winner.label,
               "winner_path": winner.path, "score": winner.score, "selected": result.selected,
               "report": str(result.report_dir), **result.files,
               "results": [r.summary() for r in comparison.results]}
    finish(st, summary, f"compare: {result.checkpoints} checkpoints on {result.sketches} sketches and "
                        f"{result.pairs} pairs ({len(result.skipped)} skipped); best {winner.label} "
                        f"(score {winner.score:.3f}) -> {result.report_dir}", json_out=json_out)
