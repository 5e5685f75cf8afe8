"""`icanvas generate` as a library call: drawings from files, folders or stdin to pictures in files, a folder or
memory, through one Painter. One bad input is reported and never stops the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from icanvas.core.errors import BadInput, Failure, IcanvasError, NotFound
from icanvas.core.images import find_images, load_rgb, load_rgba, save_png
from icanvas.core.progress import OnProgress, steps
from icanvas.inference.generator_engines import NO_VARIATIONS
from icanvas.inference.painter import Painter, resolve_model
from icanvas.sketch.normalize import Drawing, NormalizeOptions

STDIN = "-"


def resize_picture(picture: np.ndarray, size: int | None) -> np.ndarray:
    if size is None or size == picture.shape[0]:
        return picture
    return np.asarray(Image.fromarray(picture).resize((size, size), Image.Resampling.LANCZOS))


# ---- batches of files -----------------------------------------------------------------------------------------

@dataclass
class PictureJob:
    """One drawing and where its pictures go: one output per variation (None: returned, e.g. for stdout)."""

    name: str                        # the path as given, or "stdin"
    source: Path | bytes
    outputs: list[Path | None]
    normalized: Path | None = None   # where to save the normalised sketch, if asked


@dataclass
class GenerateReport:
    done: int = 0
    skipped: int = 0
    failed: list[Failure] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    pictures: list[np.ndarray] = field(default_factory=list)      # for outputs that are None, in order


def variation_names(count: int) -> list[str]:
    """Output name suffixes: '' for the one deterministic picture, _v1.._vN for variations."""
    return [""] if count == 0 else [f"_v{i}" for i in range(1, count + 1)]


def plan_pictures(inputs: Sequence[str], out: str, *, variations: int = 0, stdin: bytes | None = None,
              save_normalized: bool = False) -> tuple[list[PictureJob], list[Failure]]:
    """Jobs for files, folders (searched recursively) and '-' (stdin), and the inputs that could not be planned.

    out: '-' (stdout: one picture only), a FILE.png (one input), or a folder: <stem>.png for files,
    <relative path>.png for folders, stdin.png for stdin; variations add _v1.._vN."""
    suffixes = variation_names(variations)
    to_stdout = out == STDIN
    to_file = not to_stdout and Path(out).suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp")
    if to_file and Path(out).suffix.lower() != ".png":
        raise BadInput(f"output {out}: pictures are written as PNG (name the file .png, or give a folder)")
    if to_stdout and save_normalized:
        raise BadInput("saving the normalised sketches needs an output file or folder, not stdout")

    sources: list[tuple[str, Path | bytes, Path]] = []   # (name, source, relative output stem)
    refused: list[Failure] = []
    for item in inputs:
        if item == STDIN:
            if stdin is None:
                refused.append(Failure("stdin", "no data on stdin"))
            else:
                sources.append(("stdin", stdin, Path("stdin")))
            continue
        path = Path(item)
        try:
            files = find_images([path])
        except NotFound as exc:
            refused.append(Failure(item, str(exc).split(": ", 1)[-1]))
            continue
        for f in files:
            rel = f.relative_to(path).with_suffix("") if path.is_dir() else Path(f.stem)
            sources.append((str(f), f, rel))

    if (to_stdout or to_file) and len(sources) * len(suffixes) > 1:
        target = "stdout" if to_stdout else out
        raise BadInput(f"output {target} takes one picture, but there are {len(sources)} sketches x "
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
            refused.append(Failure(name, f"same output {outputs[0]} as another input"))
            continue
        seen.add(base)
        normalized = base.with_name(base.name + "_normalized.png") if (save_normalized and base) else None
        jobs.append(PictureJob(name, source, outputs, normalized))
    return jobs, refused


def hints_path(normalized: Path, kind: str = "hints") -> Path:
    """Where --save-normalized writes a hint layer beside NAME_normalized.png: NAME_hints.png (the crayon read),
    NAME_chosen.png (the colours chosen for the blank parts)."""
    return normalized.with_name(normalized.name.removesuffix("_normalized.png") + f"_{kind}.png")


def paint_jobs(painter: Painter, jobs: Sequence[PictureJob], *, seeds: Sequence[int | None] = (None,),
             size: int | None = None, options: NormalizeOptions = NormalizeOptions(), force: bool = False,
             batch_size: int = 8, crayons: np.ndarray | None = None,
             on_done: Callable[[], None] = lambda: None) -> GenerateReport:
    """Pictures for every job, one per seed (None = the deterministic picture). Jobs whose files all exist are
    skipped unless force; an input that does not decode or holds no drawing is listed in report.failed.
    `crayons`: a crayon layer sent apart from the lines (HxWx4 RGBA, see sketch.crayon.crayon_layer)."""
    report = GenerateReport()
    todo: list[PictureJob] = []
    for job in jobs:
        if not force and job.outputs[0] is not None and all(p.exists() for p in job.outputs):
            report.skipped += 1
            on_done()
        else:
            todo.append(job)
    for start in range(0, len(todo), batch_size):
        ready: list[tuple[PictureJob, Drawing]] = []
        for job in todo[start:start + batch_size]:
            try:
                ready.append((job, painter.read(load_rgb(job.source, name=job.name), options, crayons)))
            except IcanvasError as exc:
                report.failed.append(Failure.of(job.name, exc))
                on_done()
        if not ready:
            continue
        sketches = [s for _, s in ready]
        per_seed = [painter.paint(sketches, variation=seed, batch_size=batch_size) for seed in seeds]
        for i, (job, drawing) in enumerate(ready):
            try:
                for output, pictures in zip(job.outputs, per_seed):
                    picture = resize_picture(pictures[i], size)
                    if output is None:
                        report.pictures.append(picture)
                    else:
                        save_png(picture, output)
                        report.written.append(str(output))
                if job.normalized is not None:
                    save_png(drawing.lines, job.normalized)
                    if drawing.hints is not None:   # the crayon colour the model read: RGB + mask as alpha
                        save_png(drawing.hints, hints_path(job.normalized))
                    chosen = painter.colour(drawing).chosen
                    if chosen is not None and chosen[:, :, 3].any():   # and the colours chosen for the rest
                        save_png(chosen, hints_path(job.normalized, "chosen"))
                report.done += 1
            except OSError as exc:
                report.failed.append(Failure(job.name, f"cannot write output ({exc})"))
            on_done()
    return report


@dataclass
class GenerateResult:
    report: GenerateReport
    painter: Painter


def generate_pictures(inputs: Sequence[str], out: str, *, root: Path, theme: str | None = None,
                      checkpoint: Path | None = None, device: str = "auto", precision: str = "auto",
                      engine: str = "auto", variations: int = 0, seed: int = 0,
                      size: int | None = None, options: NormalizeOptions = NormalizeOptions(), force: bool = False,
                      save_normalized: bool = False, stdin: bytes | None = None, auto_colour: bool = True,
                      crayons: Path | None = None,
                      on_progress: OnProgress = lambda done, total: None) -> GenerateResult:
    """The whole of `icanvas generate`: plan the outputs (see plan_pictures), load the model (see resolve_model),
    load it in `precision` on `engine` (see Painter.from_pretrained), paint every drawing once per variation
    seed. Inputs that cannot be planned or painted are in report.failed; on_progress(done, total) follows the
    drawings. `crayons`: the crayon layer of the one sketch, as a file (an image with transparency, or colour
    on white). auto_colour False paints line drawings without choosing colours for them (sketch.colouring).
    BadInput for variations from a model without them (an ONNX export of a model that does not colour)."""
    jobs, refused = plan_pictures(inputs, out, variations=variations, stdin=stdin, save_normalized=save_normalized)
    if crayons is not None and len(jobs) + len(refused) != 1:
        raise BadInput(f"--crayons {crayons}: a crayon layer goes with exactly one sketch, got {len(jobs)}")
    layer = load_rgba(crayons, name=f"--crayons {crayons}") if crayons is not None else None
    painter = Painter.from_pretrained(resolve_model(root, theme, checkpoint), root=root, device=device,
                                      precision=precision, engine=engine, auto_colour=auto_colour)
    if variations and not painter.variations:
        raise BadInput(f"{painter.source}: --variations: {NO_VARIATIONS}")
    seeds = [None] if variations == 0 else [seed + i for i in range(variations)]
    report = paint_jobs(painter, jobs, seeds=seeds, size=size, options=options, force=force, crayons=layer,
                        on_done=steps(len(jobs), on_progress))
    report.failed[:0] = refused
    return GenerateResult(report, painter)
