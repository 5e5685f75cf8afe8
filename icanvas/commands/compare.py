"""`icanvas compare`: score checkpoints on hand-drawn sketches (and held-out pairs), report, optionally install."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from icanvas.cliutil import finish, make_progress, say, state
from icanvas.errors import BadInput
from icanvas.images import find_images
from icanvas.paths import runs_dir

if TYPE_CHECKING:
    from icanvas.compare import Comparison


def _table(comparison: Comparison) -> Table:
    from icanvas.compare import RULE

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
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
) -> None:
    st = state(ctx)
    # Imported here, not at the top: they load torch, and every other command should start fast.
    from icanvas.checkpoints import install_model
    from icanvas.compare import (compare_checkpoints, find_checkpoints, load_pairs, load_sketches,
                                 write_report)
    from icanvas.devices import resolve_device
    from icanvas.edges.pipeline import EdgeDetector, EdgeSettings
    from icanvas.pairs import pair_files
    checkpoints = find_checkpoints(runs)
    good, refused = load_sketches(find_images([sketches]))
    if not good:
        raise BadInput(f"{sketches}: no usable sketches (need at least one drawing)")
    pair_list, bad_pairs = load_pairs(pair_files(pairs)[:max_pairs]) if pairs is not None else ([], [])
    if pairs is not None and not pair_list:
        raise BadInput(f"{pairs}: no usable A|B pair images")
    refused += bad_pairs
    for name, reason in refused:
        say(st, f"[yellow]skipped[/yellow] {escape(name)}: {escape(reason)}")
    dev = resolve_device(device)

    @lru_cache(maxsize=None)
    def edges_for(size: int):
        return EdgeDetector(st.root, EdgeSettings(size=size), str(dev), progress=lambda m: say(st, m)).batch

    with make_progress(st, unit="pictures") as progress:
        task = progress.add_task("compare", total=len(checkpoints) * (len(good) + len(pair_list)))
        comparison = compare_checkpoints(checkpoints, good, edges_for, pairs=pair_list, device=dev,
                                         on_step=lambda: progress.advance(task))
    winner = comparison.winner
    usable = winner.degenerate < len(winner.sketches)
    selected = None
    if select and usable:
        selected = str(install_model(st.root, Path(winner.path), metrics=winner.summary()))
    report_dir = out or runs_dir(st.root, winner.theme) / "compare"
    files = write_report(report_dir, comparison, selected)
    if select and not usable:
        raise BadInput(f"no checkpoint made a usable picture from the sketches (every picture was rejected: "
                       f"{winner.sketches[0].problem}, ...); nothing installed, see {files['html']}")

    if not json_out:
        # Piped or logged output gets the whole table rather than 80 clipped columns.
        Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160).print(_table(comparison))
    if selected:
        say(st, f"installed {escape(winner.label)} as {escape(selected)}")
    summary = {"checkpoints": len(checkpoints), "sketches": len(good), "pairs": len(pair_list),
               "skipped": [{"input": n, "reason": r} for n, r in refused], "winner": winner.label,
               "winner_path": winner.path, "score": winner.score, "selected": selected, "report": str(report_dir),
               **files, "results": [r.summary() for r in comparison.results]}
    finish(st, summary, f"compare: {len(checkpoints)} checkpoints on {len(good)} sketches and {len(pair_list)} "
                        f"pairs ({len(refused)} skipped); best {winner.label} (score {winner.score:.3f}) "
                        f"-> {report_dir}", json_out=json_out)
