"""`icanvas generate`: sketches (files, folders, stdin) in, pictures (files, a folder, stdout) out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from icanvas.cliutil import finish, make_progress, say, state
from icanvas.errors import BadInput
from icanvas.images import encode_png


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
                                   help="N different pictures per sketch (dropout on, seeded), as NAME_v1..vN."),
    seed: int = typer.Option(0, "--seed", help="First seed for --variations (the same seed gives the same picture)."),
    normalize: bool = typer.Option(True, "--normalize/--no-normalize",
                                   help="Normalise drawings to the model's training sketches (all steps below)."),
    polarity: bool = typer.Option(True, "--polarity/--no-polarity", help="Detect light lines on a dark canvas."),
    binarize: bool = typer.Option(True, "--binarize/--no-binarize",
                                  help="Even out the light and separate lines from paper."),
    thin: bool = typer.Option(True, "--thin/--no-thin", help="Thin strokes, re-draw at the training line width."),
    fit: bool = typer.Option(True, "--fit/--no-fit", help="Crop to the drawing and frame it like the training set."),
    save_normalized: bool = typer.Option(False, "--save-normalized",
                                         help="Also write the normalised sketch the model sees (NAME_normalized.png)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    force: bool = typer.Option(False, "--force", help="Overwrite pictures that already exist."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
) -> None:
    st = state(ctx)
    # Imported here, not at the top: they load torch, and every other command should start fast.
    from icanvas.devices import resolve_device
    from icanvas.generate import STDIN, Painter, plan_jobs, resolve_model, run_jobs
    from icanvas.sketch import NormalizeOptions
    if out == STDIN and json_out:
        raise BadInput("--json and -o - both write to stdout: choose one")
    options = NormalizeOptions(polarity=polarity, binarize=binarize, thin=thin, fit=fit) if normalize \
        else NormalizeOptions.off()
    stdin = sys.stdin.buffer.read() if STDIN in sketches else None
    jobs, refused = plan_jobs(sketches, out, variations=variations, stdin=stdin, save_normalized=save_normalized)
    painter = Painter.load(resolve_model(st.root, theme, checkpoint), resolve_device(device))
    seeds = [None] if variations == 0 else [seed + i for i in range(variations)]

    with make_progress(st, unit="sketches") as progress:
        task = progress.add_task("generate", total=len(jobs))
        report = run_jobs(painter, jobs, seeds=seeds, size=size, options=options, force=force,
                          on_done=lambda: progress.advance(task))
    for picture in report.pictures:
        sys.stdout.buffer.write(encode_png(picture))
        sys.stdout.buffer.flush()

    failed = refused + report.failed
    for name, reason in failed:
        say(st, f"[red]failed[/red] {escape(name)}: {escape(reason)}")
    where = "stdout" if out == STDIN else out
    summary = {"done": report.done, "skipped": report.skipped, "failed": len(failed),
               "failures": [{"input": n, "reason": r} for n, r in failed], "output": where,
               "written": report.written, "model": str(painter.source), "theme": painter.info.theme,
               "size": size or painter.size, "variations": variations}
    finish(st, summary, f"generate: {report.done} done, {report.skipped} skipped, {len(failed)} failed "
                        f"-> {where} (model {painter.source})", json_out=json_out)
    if failed:
        raise typer.Exit(1)
