"""`icanvas compare`: score checkpoints on hand-drawn sketches (and held-out pairs), report, optionally install."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from icanvas.cli.common import device_option, engine_option, finish, precision_option, progress_bar, say, state

if TYPE_CHECKING:
    from icanvas.eval.compare import Comparison


def _table(comparison: Comparison) -> Table:
    from icanvas.eval.report import score_table

    head, rows = score_table(comparison)
    table = Table(title="checkpoints, best first", caption=comparison.rule)
    table.add_column(head[0], no_wrap=True, min_width=max(len(r.label) for r in comparison.results))
    for name in head[1:]:
        table.add_column(name, justify="right")
    for row in rows:
        table.add_row(*map(escape, row))
    return table


def compare(
    ctx: typer.Context,
    runs: List[Path] = typer.Argument(..., metavar="RUN_OR_CHECKPOINT", help="Run folders (all their checkpoints), checkpoint files, "
                                                "or installed model folders."),
    sketches: Path = typer.Option(..., "--sketches", "-s", help="Folder (or file) of hand-drawn sketches."),
    pairs: Optional[Path] = typer.Option(None, "--pairs", "-p",
                                         help="Folder of held-out A|B pairs (e.g. <root>/data/<theme>/pairs/test)."),
    max_pairs: int = typer.Option(50, "--max-pairs", min=1, help="Score at most this many pairs (the first ones)."),
    photos: Optional[Path] = typer.Option(None, "--photos", help="Held-out photos of the theme for realism "
                                          "(default: the photo halves of --pairs)."),
    rank_by: str = typer.Option("both", "--rank-by", help="Rank on both fidelity and realism (and SSIM with "
                                "--pairs), or on 'fidelity' or 'realism' alone."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Report folder [<root>/runs/<theme>/compare]."),
    select: bool = typer.Option(False, "--select", help="Install the winner as <root>/models/<theme>/."),
    device: str = typer.Option("auto", "--device", callback=device_option, help="auto, cpu or cuda."),
    precision: str = typer.Option("auto", "--precision", callback=precision_option,
                                  help="The generators' precision: auto (bf16 where the hardware computes it "
                                       "natively, else fp32), fp32 or bf16."),
    engine: str = typer.Option("auto", "--engine", callback=engine_option,
                               help="auto (torch: a graph per checkpoint would cost more than it saves), "
                                    "torch or onnxruntime."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
) -> None:
    """Compare checkpoints on hand-drawn sketches and held-out pairs; pick one."""
    st = state(ctx)
    # Imported here, not at the top: they load torch, and every other command should start fast.
    from icanvas.eval.selection import compare_runs

    with progress_bar(st, "compare", unit="pictures") as on_progress:
        result = compare_runs(st.root, runs, sketches, pairs=pairs, max_pairs=max_pairs, photos=photos,
                              rank_by=rank_by, out=out, select=select,
                              device=device, precision=precision, engine=engine, progress=lambda m: say(st, m),
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
               **winner.runtime, "results": [r.summary() for r in comparison.results]}
    plural = "s" * (result.checkpoints != 1)
    finish(st, summary, f"compare: {result.checkpoints} checkpoint{plural} on {result.sketches} sketches and "
                        f"{result.pairs} pairs ({len(result.skipped)} skipped); best {winner.label} "
                        f"(score {winner.score:.3f}) -> {result.report_dir}", json_out=json_out)
