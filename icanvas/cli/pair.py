"""`icanvas pair`: edges and photos side by side (A|B) in train/val/test splits."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from icanvas.cli.common import finish, progress_bar, say, state
from icanvas.core.errors import BadInput, NotFound
from icanvas.core.paths import edges_dir, pairs_dir, photos_dir
from icanvas.core.themes import get_theme
from icanvas.data.pairing import make_pairs


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
    """Put edges and photos side by side (A|B) in train/val/test splits.

    Writes OUT/{train,val,test}/<stem>.png, sketch on the left, photo on the right (pix2pix's layout)."""
    st = state(ctx)
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

    with progress_bar(st, "pairing", unit="pairs") as on_progress:
        report = make_pairs(out, edges=edges, photos=photos, paired=paired, size=size, val=val, test=test, seed=seed,
                            force=force, workers=workers, on_progress=on_progress)

    for problem in report.failed + report.unmatched:
        say(st, f"[yellow]skipped[/yellow] {escape(str(problem))}")
    per_split = ", ".join(f"{n} {s}" for s, n in report.written.items() if n)
    line = (f"paired {report.total_written} ({per_split or 'none new'}), {report.skipped} already there, "
            f"{len(report.failed)} failed, {len(report.unmatched)} unmatched -> {report.out_dir}")
    finish(st, report.to_dict(), line, json_out=json_out)
