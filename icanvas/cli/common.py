"""What every command shares: the global options, rich progress on stderr, and the final summary."""

from __future__ import annotations

import json
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from icanvas.core.errors import BadInput
from icanvas.core.paths import resolve_root


class RateColumn(ProgressColumn):
    """Items per second, e.g. '12.3 images/s'."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} {self.unit}/s")


@dataclass
class AppState:
    root: Path
    quiet: bool = False
    debug: bool = False


def state(ctx: typer.Context) -> AppState:
    """The global options, from the root context (or defaults when a command is invoked on its own)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, AppState) else AppState(root=resolve_root())


def stderr_console() -> Console:
    return Console(stderr=True, soft_wrap=True)


def make_progress(st: AppState, *, unit: str = "images") -> Progress:
    """A progress bar on stderr with count, rate and ETA; silent under --quiet."""
    return Progress(
        SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TaskProgressColumn(), RateColumn(unit), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=stderr_console(), disable=st.quiet, transient=False,
    )


def finish(st: AppState, summary: dict[str, Any], line: str, *, json_out: bool) -> None:
    """End a command: the summary as one JSON object on stdout with --json, else one line on stderr."""
    if json_out:
        sys.stdout.write(json.dumps(summary, default=str) + "\n")
        sys.stdout.flush()
    elif not st.quiet:
        stderr_console().print(line, highlight=False)


def say(st: AppState, message: str) -> None:
    """A message for the person at the terminal (stderr), silent under --quiet."""
    if not st.quiet:
        stderr_console().print(message, highlight=False)


@contextmanager
def progress_bar(st: AppState, description: str, *, unit: str = "images") -> Iterator[Callable[[int, int], None]]:
    """A library's on_progress(done, total) as one bar (see make_progress). The bar appears at the first call,
    so a command that fails while planning leaves the terminal untouched."""
    progress, task = make_progress(st, unit=unit), None

    def update(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            progress.start()
            task = progress.add_task(description, total=total)
        progress.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if task is not None:
            progress.stop()


def device_option(value: str) -> str:
    """Typer callback for --device: auto, cpu, cuda or cuda:N."""
    if value is not None and not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
        raise BadInput(f"--device {value}: expected auto, cpu or cuda")
    return value


def precision_option(value: str) -> str:
    """Typer callback for --precision: auto, fp32 or bf16 (see core.runtime.resolve_precision)."""
    from icanvas.core.runtime import PRECISIONS

    if value is not None and value not in PRECISIONS:
        raise BadInput(f"--precision {value}: expected {', '.join(PRECISIONS)}")
    return value


def engine_option(value: str) -> str:
    """Typer callback for --engine: auto, torch or onnxruntime (see core.runtime.resolve_runtime)."""
    from icanvas.core.runtime import ENGINES

    if value is not None and value not in ENGINES:
        raise BadInput(f"--engine {value}: expected {', '.join(ENGINES)}")
    return value
