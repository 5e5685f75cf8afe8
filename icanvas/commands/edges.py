"""`icanvas edges`: photos to black-on-white line drawings (HED + the pix2pix authors' post-processing)."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import List, Optional

import typer

from icanvas.cliutil import finish, make_progress, say, state
from icanvas.errors import BadInput, NotFound
from icanvas.paths import edges_dir, photos_dir


def parse_threshold(text: str) -> float:
    """'0.2' or '25/255' -> a float in [0, 1]."""
    try:
        num, _, den = text.partition("/")
        value = float(num) / (float(den) if den else 1.0)
    except (ValueError, ZeroDivisionError):
        raise BadInput(f"--threshold {text}: expected a number in [0, 1] or a fraction like 25/255") from None
    if not 0 <= value <= 1:
        raise BadInput(f"--threshold {text}: must lie in [0, 1]")
    return value


def default_workers(device: str) -> int:
    """GPUs outrun the post-processing: give it most cores. On a CPU, HED takes every core and the
    post-processing is about 2% of its time: one worker where there are cores to spare, else none."""
    cores = os.cpu_count() or 1
    if device.startswith("cuda"):
        return max(1, min(8, cores - 1))
    return 1 if cores > 2 else 0


def edges(
    ctx: typer.Context,
    inputs: Optional[List[Path]] = typer.Argument(None, help="Photos and folders (searched recursively for jpg, "
                                                  "jpeg, png, bmp, webp)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: beside the input, "
                                       "FOLDER -> FOLDER-edges; a file's folder likewise)."),
    theme: Optional[str] = typer.Option(None, "--theme", help="Use <root>/data/THEME/photos -> "
                                        "<root>/data/THEME/edges instead of INPUTS."),
    preset: str = typer.Option("icanvas", "--preset", help="Starting settings: 'icanvas' (best match to the "
                               "authors' edges with these weights) or 'pix2pix-matlab' (the authors' values)."),
    size: Optional[int] = typer.Option(None, "--size", min=8, max=4096, help="Drawings are SIZE x SIZE (default 256)."),
    border: Optional[int] = typer.Option(None, "--border", min=0, max=512, help="Reflect-pad photos by this many px "
                                         "before HED (default 32; pix2pix-matlab 128)."),
    threshold: Optional[str] = typer.Option(None, "--threshold", help="Edge threshold after NMS, e.g. 0.2 or 25/255 "
                                            "(default 0.4; pix2pix-matlab 25/255)."),
    min_edge: Optional[int] = typer.Option(None, "--min-edge", min=0, help="Drop lines with fewer pixels (default 5)."),
    nms: bool = typer.Option(True, "--nms/--no-nms", help="Edge non-maximum suppression (edgesNmsMex)."),
    thin: bool = typer.Option(True, "--thin/--no-thin", help="Thin lines to one pixel (bwmorph thin)."),
    raw: bool = typer.Option(False, "--raw", help="Save the soft HED map (resized; dark = edge) instead."),
    max_side: Optional[int] = typer.Option(None, "--max-side", min=0, help="Shrink photos longer than this before "
                                           "HED; 0 = never (default 1024; pix2pix-matlab 0)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda (under torchrun: this rank's GPU)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Same-sized photos per network "
                                             "batch (default 8 on a GPU, 4 on the CPU)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, help="Post-processing processes; 0 = in this "
                                          "process (default: cores - 1, up to 8, on a GPU; on a CPU 1, or 0 "
                                          "with 2 cores or fewer)."),
    force: bool = typer.Option(False, "--force", help="Redo drawings that already exist."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
) -> None:
    """Turn photos into line drawings. Outputs <out>/<stem>.png; finished ones are skipped unless --force."""
    from icanvas.devices import resolve_device
    from icanvas.edges.pipeline import PRESETS, EdgeDetector, plan_jobs, rank_share, run_edges

    st = state(ctx)
    if preset not in PRESETS:
        raise BadInput(f"--preset {preset}: expected one of {', '.join(PRESETS)}")
    overrides = dict(size=size, border=border, min_edge=min_edge, max_side=max_side,
                     threshold=None if threshold is None else parse_threshold(threshold))
    settings = replace(PRESETS[preset], nms=nms, thin=thin, raw=raw,
                       **{k: v for k, v in overrides.items() if v is not None})

    if theme is not None:
        if inputs or out is not None:
            raise BadInput("--theme: give either --theme or INPUTS/--out, not both")
        src = photos_dir(st.root, theme)
        if not src.is_dir():
            raise NotFound(f"theme {theme}: no photos at {src} (run 'icanvas fetch {theme}' first)")
        inputs, out = [src], edges_dir(st.root, theme)
    if not inputs:
        raise BadInput("no input: give photos or folders, or --theme THEME")

    plan = plan_jobs(inputs, out)
    jobs, rank, world = rank_share(plan.jobs)
    todo = [(s, d) for s, d in jobs if force or not d.exists()]
    skipped = len(jobs) - len(todo)
    dev = resolve_device(device)
    batch = batch_size or (8 if dev.type == "cuda" else 4)  # CPUs too: batch 4 ran 1.2-1.5x faster per photo
    n_workers = default_workers(str(dev)) if workers is None else workers
    where = [str(p) for p in plan.outputs]

    start = time.perf_counter()
    report = None
    if todo:
        detector = EdgeDetector(st.root, settings, str(dev), progress=lambda msg: say(st, msg))
        with make_progress(st, unit="images") as progress:
            task = progress.add_task("edges" if world == 1 else f"edges (rank {rank}/{world})", total=len(todo))
            report = run_edges(todo, detector, batch_size=batch, workers=n_workers,
                               on_done=lambda: progress.advance(task))
    seconds = time.perf_counter() - start
    done = report.done if report else 0
    failures = plan.clashes + (report.failed if report else [])
    for name, reason in failures:
        say(st, f"[yellow]skipped[/] {reason if reason.startswith(name) else f'{name}: {reason}'}")

    summary = {"done": done, "skipped": skipped, "failed": len(failures),
               "failures": [{"input": n, "reason": r} for n, r in failures], "output": where[0] if len(where) == 1
               else where, "seconds": round(seconds, 3), "images_per_s": round(done / seconds, 3) if done else 0.0,
               "device": str(dev), "rank": rank, "world_size": world, "settings": asdict(settings)}
    names = ", ".join(Path(n).name for n, _ in failures[:3]) + (", ..." if len(failures) > 3 else "")
    line = (f"edges: {done} done, {skipped} skipped (already there), {len(failures)} failed"
            + (f" ({names})" if failures else "") + f" in {seconds:.1f} s"
            + (f" ({done / seconds:.2f} images/s)" if done else "") + f" -> {', '.join(where)}")
    finish(st, summary, line, json_out=json_out)
    if failures and done == 0 and skipped == 0:  # nothing succeeded, now or before
        raise typer.Exit(1)
