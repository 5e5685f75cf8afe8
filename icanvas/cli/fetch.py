"""`icanvas fetch`: a theme's photos (download, extract, normalise), the offline demo theme, or the HED weights."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Optional

import typer
from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from icanvas.cli.common import AppState, finish, say, state, stderr_console
from icanvas.core.errors import BadInput
from icanvas.core.themes import THEMES
from icanvas.data.fetch import fetch_theme


class _AmountColumn(ProgressColumn):
    """'12.3/45.0 MB' for downloads, '120/500' for files and images."""

    def render(self, task) -> Text:
        if task.fields.get("unit") == "bytes":
            total = "?" if task.total is None else decimal(int(task.total))
            return Text(f"{decimal(int(task.completed))}/{total}")
        return Text(f"{int(task.completed)}/{'?' if task.total is None else int(task.total)}")


class _RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("")
        unit = task.fields.get("unit", "images")
        return Text(f"{decimal(int(speed))}/s" if unit == "bytes" else f"{speed:.1f} {unit}/s")


_STAGES = {"download": ("downloading", "bytes"), "extract": ("extracting", "files"), "photos": ("photos", "images")}


class _StageBars:
    """The library's progress(stage, done, total) as one rich bar per stage, on stderr."""

    def __init__(self, st: AppState) -> None:
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                                 _AmountColumn(), TaskProgressColumn(), _RateColumn(), TimeElapsedColumn(),
                                 TextColumn("ETA"), TimeRemainingColumn(), console=stderr_console(),
                                 disable=st.quiet)
        self.tasks: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if not self.tasks:
            self.progress.start()  # lazily: a fetch that fails early leaves the terminal untouched
        if stage not in self.tasks:
            label, unit = _STAGES.get(stage, (stage, "items"))
            self.tasks[stage] = self.progress.add_task(label, total=total, unit=unit)
        self.progress.update(self.tasks[stage], completed=done, total=total)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.tasks:
            self.progress.stop()


def _theme_table() -> Table:
    table = Table(title="icanvas themes", title_justify="left")
    for col in ("theme", "source", "how", "images", "batch", "epochs", "licence", "note"):
        table.add_column(col, overflow="fold")
    how = {"url": "download", "kaggle": "Kaggle API", "manual": "by hand, --from", "demo": "made offline"}
    for t in THEMES.values():
        table.add_row(t.name, t.source, how[t.kind], f"{t.images:,}", str(t.batch_size), str(t.epochs),
                      t.licence, t.note)
    table.caption = "Also: 'icanvas fetch hed' downloads the HED edge-detector weights."
    return table


def fetch(
    ctx: typer.Context,
    theme: Optional[str] = typer.Argument(None, help="Theme to fetch (see --list), or 'hed' for the HED weights.",
                                          show_default=False),
    list_themes: bool = typer.Option(False, "--list", help="List the themes, their sources and licences."),
    source: Optional[str] = typer.Option(None, "--from", metavar="PATH|URL",
                                         help="Use a local archive or folder (downloaded by hand), or another URL."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1,
                                        help="Keep only N images (a quick subset); demo: how many to make "
                                             "(default 500)."),
    force: bool = typer.Option(False, "--force", help="Redo everything, even what is already there."),
    seed: int = typer.Option(0, "--seed", help="demo only: which set of avatars to draw."),
    sha256: Optional[str] = typer.Option(None, "--sha256", metavar="HEX",
                                         help="Verify the downloaded archive against this checksum."),
    retries: int = typer.Option(4, "--retries", min=0, help="Retries (with backoff) for transient network errors."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
) -> None:
    """Download a theme's photos (or make the offline demo theme, or the HED weights).

    Photos go to <root>/data/<theme>/photos/ with a manifest.json."""
    st = state(ctx)
    if list_themes:
        if json_out:
            finish(st, {"themes": {name: asdict(t) for name, t in THEMES.items()}}, "", json_out=True)
        else:
            # the table is the result: stdout, wide enough to stay readable when piped
            Console(width=None if sys.stdout.isatty() else 160).print(_theme_table())
        return
    if theme is None:
        raise BadInput("fetch: name a theme (icanvas fetch --list shows them)")
    if theme == "hed":
        return _fetch_hed(st, force, json_out)

    with _StageBars(st) as bars:
        result = fetch_theme(st.root, theme, source=source, limit=limit, force=force, sha256=sha256, seed=seed,
                             retries=retries, progress=bars)
    summary = result.summary()
    if result.already:
        line = (f"{theme}: already fetched, {result.photos} photos in {result.out_dir} "
                "(--force to fetch again)")
    else:
        parts = [f"{result.photos} photos"]
        if result.edges:
            parts.append(f"{result.edges} edges")
        if result.existing:
            parts.append(f"{result.existing} already there")
        if result.filtered_out:
            parts.append(f"{result.filtered_out} filtered out")
        parts.append(f"{result.skipped} skipped")
        line = f"{theme}: {', '.join(parts)} -> {result.out_dir}"
        for item in result.skipped_files[:5]:
            say(st, f"  skipped {item['file']}: {item['reason']}")
        if result.skipped > 5:
            say(st, f"  ... and {result.skipped - 5} more, listed in manifest.json")
        for note in result.notes:
            say(st, f"  note: {note}")
    finish(st, summary, line, json_out=json_out)


def _fetch_hed(st: AppState, force: bool, json_out: bool) -> None:
    from icanvas.edges.weights import fetch_hed

    summary = fetch_hed(st.root, force=force, progress=lambda message: say(st, message))
    verb = "already there" if summary.get("skipped") else "downloaded"
    finish(st, summary, f"hed: weights {verb} -> {summary['path']}", json_out=json_out)
