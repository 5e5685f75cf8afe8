"""Sketch in, picture out: find the model, normalise each drawing for it, run it, write the pictures.

`Painter` (a loaded generator and its sketch style) is shared by `icanvas generate` and `icanvas compare`;
`run_jobs` is the batch loop over files, where one bad input is reported and never stops the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from icanvas.checkpoints import ModelInfo, installed_themes, load_generator
from icanvas.errors import BadInput, IcanvasError, NotFound
from icanvas.images import find_images, load_rgb, save_png
from icanvas.inference import run_batch
from icanvas.paths import model_dir
from icanvas.sketch import NormalizeOptions, normalize_sketch
from icanvas.themes import THEMES

DEFAULT_THEME_ENV = "ICANVAS_THEME"   # the theme `generate` uses when several models are installed
STDIN = "-"


def reason_of(exc: IcanvasError, name: str) -> str:
    """An error's message without the leading 'name: ' (summaries list the name beside the reason)."""
    message = str(exc)
    return message.split(": ", 1)[1] if message.startswith(name + ": ") else message


def resolve_model(root: Path, theme: str | None = None, checkpoint: Path | None = None) -> Path:
    """The checkpoint file or installed model folder to use: --checkpoint, else --theme's installed model, else
    the only installed model, else $ICANVAS_THEME's; otherwise a NotFound that lists what is installed."""
    if checkpoint is not None:
        if not Path(checkpoint).exists():
            raise NotFound(f"{checkpoint}: no such checkpoint")
        return Path(checkpoint)
    installed = installed_themes(root)
    if theme is None:
        if len(installed) == 1:
            theme = installed[0]
        elif os.environ.get(DEFAULT_THEME_ENV):
            theme = os.environ[DEFAULT_THEME_ENV]
        else:
            listed = ", ".join(installed) if installed else "none"
            raise NotFound(f"which model? pass --theme or --checkpoint (installed themes in {root / 'models'}: "
                           f"{listed}; ${DEFAULT_THEME_ENV} sets a default)")
    if theme in installed:
        return model_dir(root, theme)
    if theme not in THEMES:
        raise NotFound(f"unknown theme '{theme}': choose one of {', '.join(THEMES)}")
    raise NotFound(f"no model installed for theme '{theme}' in {model_dir(root, theme)}: train or fetch one: "
                   f"'icanvas train {theme}', then 'icanvas compare <run> --sketches DIR --select'")


@dataclass
class Painter:
    """A generator in eval mode with what it needs to read a drawing: its size and its training sketch style."""

    model: torch.nn.Module
    info: ModelInfo
    source: Path

    @classmethod
    def load(cls, path: Path, device: str | torch.device = "cpu") -> "Painter":
        model, info = load_generator(path, device)
        return cls(model, info, Path(path))

    @property
    def size(self) -> int:
        return self.info.generator.size

    def normalize(self, rgb: np.ndarray, options: NormalizeOptions = NormalizeOptions()) -> np.ndarray:
        return normalize_sketch(rgb, self.size, self.info.sketch_style, options)

    def paint(self, sketches: Sequence[np.ndarray], variation: int | None = None,
              batch_size: int = 8) -> list[np.ndarray]:
        """Pictures (HxWx3 uint8 at the model size) for normalised sketches; variation: see run_batch."""
        out: list[np.ndarray] = []
        for start in range(0, len(sketches), batch_size):
            out += run_batch(self.model, sketches[start:start + batch_size], variation=variation)
        return out


def resize_picture(picture: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or size == picture.shape[0]:
        return picture
    return np.asarray(Image.fromarray(picture).resize((size, size), Image.Resampling.LANCZOS))


# ---- batches of files -----------------------------------------------------------------------------------------

@dataclass
class Job:
    """One drawing and where its pictures go: one output per variation (None: returned, e.g. for stdout)."""

    name: str                        # the path as given, or "stdin"
    source: Path | bytes
    outputs: list[Path | None]
    normalized: Path | None = None   # where to save the normalised sketch, if asked


@dataclass
class GenerateReport:
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)   # (input, reason)
    written: list[str] = field(default_factory=list)
    pictures: list[np.ndarray] = field(default_factory=list)      # for outputs that are None, in order


def variation_names(count: int) -> list[str]:
    """Output name suffixes: '' for the one deterministic picture, _v1.._vN for variations."""
    return [""] if count == 0 else [f"_v{i}" for i in range(1, count + 1)]


def plan_jobs(inputs: Sequence[str], out: str, *, variations: int = 0, stdin: bytes | None = None,
              save_normalized: bool = False) -> tuple[list[Job], list[tuple[str, str]]]:
    """Jobs for files, folders (searched recursively) and '-' (stdin), and the inputs that could not be planned.

    out: '-' (stdout: one picture only), a FILE.png (one input), or a folder: <stem>.png for files,
    <relative path>.png for folders, stdin.png for stdin; variations add _v1.._vN."""
    suffixes = variation_names(variations)
    to_stdout = out == STDIN
    to_file = not to_stdout and Path(out).suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp")
    if to_file and Path(out).suffix.lower() != ".png":
        raise BadInput(f"-o {out}: pictures are written as PNG (name the file .png, or give a folder)")
    if to_stdout and save_normalized:
        raise BadInput("--save-normalized needs a file or folder for -o, not stdout")

    sources: list[tuple[str, Path | bytes, Path]] = []   # (name, source, relative output stem)
    refused: list[tuple[str, str]] = []
    for item in inputs:
        if item == STDIN:
            if stdin is None:
                refused.append(("stdin", "no data on stdin"))
            else:
                sources.append(("stdin", stdin, Path("stdin")))
            continue
        path = Path(item)
        try:
            files = find_images([path])
        except NotFound as exc:
            refused.append((item, str(exc).split(": ", 1)[-1]))
            continue
        for f in files:
            rel = f.relative_to(path).with_suffix("") if path.is_dir() else Path(f.stem)
            sources.append((str(f), f, rel))

    if (to_stdout or to_file) and len(sources) * len(suffixes) > 1:
        target = "stdout" if to_stdout else out
        raise BadInput(f"-o {target} takes one picture, but there are {len(sources)} sketches x "
                       f"{len(suffixes)} pictures: give a folder")
    jobs, seen = [], set()
    for name, source, rel in sources:
        if to_stdout:
            outputs: list[Path | None] = [None]
            base = None
        elif to_file:
            outputs, base = [Path(out)], Path(out).with_suffix("")
        else:
            base = Path(out) / rel
            outputs = [base.with_name(base.name + s + ".png") for s in suffixes]
        if base is not None and base in seen:
            refused.append((name, f"same output {outputs[0]} as another input"))
            continue
        seen.add(base)
        normalized = base.with_name(base.name + "_normalized.png") if (save_normalized and base) else None
        jobs.append(Job(name, source, outputs, normalized))
    return jobs, refused


def run_jobs(painter: Painter, jobs: Sequence[Job], *, seeds: Sequence[int | None] = (None,),
             size: int | None = None, options: NormalizeOptions = NormalizeOptions(), force: bool = False,
             batch_size: int = 8, on_done: Callable[[], None] = lambda: None) -> GenerateReport:
    """Pictures for every job, one per seed (None = the deterministic picture). Jobs whose files all exist are
    skipped unless force; an input that does not decode or holds no drawing is listed in report.failed."""
    report = GenerateReport()
    todo: list[Job] = []
    for job in jobs:
        if not force and job.outputs[0] is not None and all(p.exists() for p in job.outputs):
            report.skipped += 1
            on_done()
        else:
            todo.append(job)
    for start in range(0, len(todo), batch_size):
        ready: list[tuple[Job, np.ndarray]] = []
        for job in todo[start:start + batch_size]:
            try:
                sketch = painter.normalize(load_rgb(job.source, name=job.name), options)
                ready.append((job, sketch))
            except IcanvasError as exc:
                report.failed.append((job.name, reason_of(exc, job.name)))
                on_done()
        if not ready:
            continue
        sketches = [s for _, s in ready]
        per_seed = [painter.paint(sketches, variation=seed, batch_size=batch_size) for seed in seeds]
        for i, (job, sketch) in enumerate(ready):
            try:
                for output, pictures in zip(job.outputs, per_seed):
                    picture = resize_picture(pictures[i], size)
                    if output is None:
                        report.pictures.append(picture)
                    else:
                        save_png(picture, output)
                        report.written.append(str(output))
                if job.normalized is not None:
                    save_png(sketch, job.normalized)
                report.done += 1
            except OSError as exc:
                report.failed.append((job.name, f"cannot write output ({exc})"))
            on_done()
    return report
