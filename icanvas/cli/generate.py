"""`icanvas generate`: sketches (files, folders, stdin) in, pictures (files, a folder, stdout) out."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from icanvas.cli.common import device_option, engine_option, finish, precision_option, progress_bar, say, state
from icanvas.core.errors import BadInput
from icanvas.core.images import encode_png


def generate(
    ctx: typer.Context,
    sketches: List[str] = typer.Argument(..., metavar="SKETCH", help="Sketch files, folders (searched recursively), or - for stdin."),
    theme: Optional[str] = typer.Option(None, "--theme", "-t", help="Use the model installed for this theme."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c",
                                              help="Use this checkpoint (a run's epoch_NNNN.safetensors) or model folder."),
    out: str = typer.Option("generated", "--out", "-o", help="A folder, a FILE.png (one sketch), or - for stdout."),
    size: Optional[int] = typer.Option(None, "--size", min=16, max=4096,
                                       help="Side of the pictures written (default: the model's size)."),
    variations: int = typer.Option(0, "--variations", "-n", min=0, max=64,
                                   help="N different pictures per sketch, as NAME_v1..vN: N colourings of a line "
                                        "drawing (dropout for models that do not colour)."),
    seed: int = typer.Option(0, "--seed", help="First seed for --variations (the same seed gives the same picture)."),
    no_auto_colour: bool = typer.Option(False, "--no-auto-colour",
                                        help="Paint the parts a child left without crayon as the model does from "
                                             "lines alone (default: choose colours for them from the theme's "
                                             "photos, for models trained with hints)."),
    normalize: bool = typer.Option(True, "--normalize/--no-normalize",
                                   help="Normalise drawings to the model's training sketches (all steps below)."),
    polarity: bool = typer.Option(True, "--polarity/--no-polarity", help="Detect light lines on a dark canvas."),
    binarize: bool = typer.Option(True, "--binarize/--no-binarize",
                                  help="Even out the light and separate lines from paper."),
    thin: bool = typer.Option(True, "--thin/--no-thin", help="Thin strokes, re-draw at the training line width."),
    fit: bool = typer.Option(True, "--fit/--no-fit", help="Crop to the drawing and frame it like the training set."),
    hints: bool = typer.Option(True, "--hints/--no-hints",
                               help="Read crayon colour as colour hints, for a model trained with hints "
                                    "(--no-hints: every stroke is a line)."),
    crayons: Optional[Path] = typer.Option(None, "--crayons",
                                           help="The crayon colour of the one SKETCH as its own image (transparent, "
                                                "or colour on white, the sketch's size): every colour counts, "
                                                "black and brown too."),
    save_normalized: bool = typer.Option(False, "--save-normalized",
                                         help="Also write the normalised sketch the model sees (NAME_normalized.png) "
                                              "the crayon colour it read (NAME_hints.png) and the colours it chose "
                                              "(NAME_chosen.png)."),
    device: str = typer.Option("auto", "--device", callback=device_option, help="auto, cpu or cuda."),
    precision: str = typer.Option("auto", "--precision", callback=precision_option,
                                  help="auto (bf16 where the CPU or GPU computes it natively, else fp32), fp32 or bf16."),
    engine: str = typer.Option("auto", "--engine", callback=engine_option,
                               help="auto (torch bf16 where bf16 is native, else onnxruntime fp32 on the CPU), "
                                    "torch or onnxruntime."),
    force: bool = typer.Option(False, "--force", help="Overwrite pictures that already exist."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
) -> None:
    """Sketch in, picture out: files, folders, or stdin/stdout."""
    st = state(ctx)
    # Imported here, not at the top: they load torch, and every other command should start fast.
    from icanvas.inference.generate import STDIN, generate_pictures
    from icanvas.sketch.normalize import NormalizeOptions
    if out == STDIN and json_out:
        raise BadInput("--json and -o - both write to stdout: choose one")
    options = NormalizeOptions(polarity=polarity, binarize=binarize, thin=thin, fit=fit, hints=hints) if normalize \
        else replace(NormalizeOptions.off(), hints=hints)
    stdin = sys.stdin.buffer.read() if STDIN in sketches else None
    with progress_bar(st, "generate", unit="sketches") as on_progress:
        result = generate_pictures(sketches, out, root=st.root, theme=theme, checkpoint=checkpoint, device=device,
                                   precision=precision, engine=engine,
                                   variations=variations, seed=seed, size=size, options=options, force=force,
                                   save_normalized=save_normalized, stdin=stdin, auto_colour=not no_auto_colour,
                                   crayons=crayons,
                                   on_progress=on_progress)
    report, painter = result.report, result.painter
    for picture in report.pictures:
        sys.stdout.buffer.write(encode_png(picture))
        sys.stdout.buffer.flush()

    for failure in report.failed:
        say(st, f"[red]failed[/red] {escape(str(failure))}")
    where = "stdout" if out == STDIN else out
    summary = {"done": report.done, "skipped": report.skipped, "failed": len(report.failed),
               "failures": [f.to_dict() for f in report.failed], "output": where,
               "written": report.written, "model": str(painter.source), "theme": painter.info.theme,
               "size": size or painter.size, "variations": variations, **painter.runtime()}
    finish(st, summary, f"generate: {report.done} done, {report.skipped} skipped, {len(report.failed)} failed "
                        f"-> {where} (model {painter.source}, {painter.engine} {painter.precision})", json_out=json_out)
    if report.failed:
        raise typer.Exit(1)
