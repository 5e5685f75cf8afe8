"""`icanvas pair`: edges and photos side by side (A|B) in train/val/test splits."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from icanvas.cliutil import finish, make_progress, say, state
from icanvas.errors import BadInput, NotFound
from icanvas.paths import edges_dir, pairs_dir, photos_dir
from icanvas.themes import get_theme


def pair(
    ctx: typer.Context,
    theme: Optional[str] = typer.Option(None, "--theme", "-t", help="Pair <root>/data/THEME/edges with "
                                        "<root>/data/THEME/photos into <root>/data/THEME/pairs."),
    edges: Optional[Path] = typer.Option(None, "--edges", help="Folder of edge drawings (instead of --theme)."),
    photos: Optional[Path] = typer.Option(None, "--photos", help="Folder of photos, matched to edges by file name."),
    paired: Optional[Path] = typer.Option(None, "--paired", help="Folder of images that are already A|B pairs "
                                          "(pix2pix edges2*): resized and split; train/val/test subfolders kept."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default with --theme: "
                                       "<root>/data/THEME/pairs)."),
    size: int = typer.Option(256, "--size", help="Side of each half: photos and edges are squashed to SIZE x SIZE."),
    val: float = typer.Option(0.05, "--val", help="Share of pairs for validation (stable hash of the name)."),
    test: float = typer.Option(0.0, "--test", help="Share of pairs for the test split."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split hash."),
    force: bool = typer.Option(False, "--force", help="Rewrite pairs that already exist."),
    workers: int = typer.Option(4, "--workers", help="Threads decoding and encoding images."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
) -> None:
    """Write OUT/{train,val,test}/<stem>.png, sketch on the left, photo on the right (pix2pix's layout)."""
    st = state(ctx)
    # Imported here, not at the top: they load torch, and every other command should start fast.
    from icanvas.pairs import plan_folders, plan_paired, write_pairs
    if theme is not None:
        get_theme(theme)
        if edges or photos or paired:
            raise BadInput("give either --theme, or --edges with --photos, or --paired, not several")
        out = out or pairs_dir(st.root, theme)
        e, p = edges_dir(st.root, theme), photos_dir(st.root, theme)
        if not p.is_dir():
            raise NotFound(f"{p}: no photos for theme '{theme}' (run: icanvas fetch {theme})")
        elif not e.is_dir():
            raise NotFound(f"{e}: no edges for theme '{theme}' (run: icanvas edges --theme {theme})")
        else:
            edges, photos = e, p
    elif paired is not None:
        if edges or photos:
            raise BadInput("give either --paired or --edges with --photos, not both")
    elif edges is None or photos is None:
        raise BadInput("give --theme, or both --edges and --photos, or --paired")
    if out is None:
        raise BadInput("--out is required with --edges/--photos or --paired")

    if paired is not None:
        jobs, problems = plan_paired(paired, val=val, test=test, seed=seed)
    else:
        jobs, problems = plan_folders(edges, photos, val=val, test=test, seed=seed)
    if not jobs:
        source = paired if paired is not None else f"{edges} and {photos}"
        raise NotFound(f"{source}: nothing to pair (no images{'' if paired else ' with matching names'})")

    with make_progress(st, unit="pairs") as progress:
        task = progress.add_task("pairing", total=len(jobs))
        report = write_pairs(jobs, problems, out, size=size, force=force, workers=workers,
                             on_item=lambda _: progress.advance(task))

    for problem in report.failed + report.unmatched:
        say(st, f"[yellow]skipped[/yellow] {escape(problem)}")
    per_split = ", ".join(f"{n} {s}" for s, n in report.written.items() if n)
    line = (f"paired {report.total_written} ({per_split or 'none new'}), {report.skipped} already there, "
            f"{len(report.failed)} failed, {len(report.unmatched)} unmatched -> {report.out_dir}")
    finish(st, report.to_dict(), line, json_out=json_out)
