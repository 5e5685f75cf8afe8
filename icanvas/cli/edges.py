"""`icanvas edges`: photos to black-on-white line drawings (HED + the pix2pix authors' post-processing)."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import List, Optional

import typer

from icanvas.cli.common import device_option, engine_option, finish, precision_option, progress_bar, say, state
from icanvas.core.errors import BadInput, NotFound
from icanvas.core.paths import edges_dir, photos_dir
from icanvas.core.runtime import torchrun_world
from icanvas.core.themes import THEMES


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
    merge_twins: Optional[int] = typer.Option(None, "--merge-twins", min=0, max=32, help="Merge lines closer than "
                                              "about twice PX into one centre line, as a child draws an inked "
                                              "outline; 0 = off (default: the theme's, else off)."),
    max_side: Optional[int] = typer.Option(None, "--max-side", min=0, help="Shrink photos longer than this before "
                                           "HED; 0 = never (default 1024; pix2pix-matlab 0)."),
    device: str = typer.Option("auto", "--device", callback=device_option, help="auto, cpu or cuda (under torchrun: this rank's GPU)."),
    precision: str = typer.Option("auto", "--precision", callback=precision_option, help="auto, fp32 or bf16: "
                                  "HED's convolutions in bfloat16 (3-4x faster where the CPU has AVX-512 BF16/AMX, "
                                  "and on GPUs); auto picks bf16 there, fp32 elsewhere. --json reports the pick."),
    engine: str = typer.Option("auto", "--engine", callback=engine_option, help="auto, torch or onnxruntime: "
                               "auto is torch (ONNX Runtime is no faster for HED: docs/speed.md)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Same-sized photos per network "
                                             "batch (default 8 on a GPU, 4 on the CPU)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, help="Post-processing processes; 0 = in this "
                                          "process (default: cores - 1, up to 8, on a GPU; on a CPU 1, or 0 "
                                          "with 2 cores or fewer)."),
    force: bool = typer.Option(False, "--force", help="Redo drawings that already exist."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
) -> None:
    """Turn photos into line drawings: HED plus the pix2pix authors' post-processing.

    Outputs <out>/<stem>.png; finished ones are skipped unless --force."""
    from icanvas.edges.pipeline import PRESETS, make_edges

    st = state(ctx)
    if preset not in PRESETS:
        raise BadInput(f"--preset {preset}: expected one of {', '.join(PRESETS)}")
    overrides = dict(size=size, border=border, min_edge=min_edge, max_side=max_side, merge_twins=merge_twins,
                     threshold=None if threshold is None else parse_threshold(threshold))
    settings = replace(PRESETS[preset], nms=nms, thin=thin, raw=raw,
                       **{k: v for k, v in overrides.items() if v is not None})
    if merge_twins is None and theme in THEMES and THEMES[theme].merge_twins:   # the theme's, given at 256 px
        settings = replace(settings, merge_twins=max(1, round(THEMES[theme].merge_twins * settings.size / 256)))

    if theme is not None:
        if inputs or out is not None:
            raise BadInput("--theme: give either --theme or INPUTS/--out, not both")
        src = photos_dir(st.root, theme)
        if not src.is_dir():
            raise NotFound(f"theme {theme}: no photos at {src} (run 'icanvas fetch {theme}' first)")
        inputs, out = [src], edges_dir(st.root, theme)
    if not inputs:
        raise BadInput("no input: give photos or folders, or --theme THEME")

    world = torchrun_world()
    label = "edges" if world.size == 1 else f"edges (rank {world.rank}/{world.size})"
    with progress_bar(st, label, unit="images") as on_progress:
        result = make_edges(inputs, out, st.root, settings, device=device, precision=precision,
                            engine=engine, batch_size=batch_size, workers=workers, force=force,
                            progress=lambda msg: say(st, msg), on_progress=on_progress)
    report, seconds = result.report, result.seconds
    done, skipped, failures = report.done, report.skipped, report.failed
    where = [str(p) for p in result.outputs]
    for failure in failures:
        say(st, f"[yellow]skipped[/] {failure}")

    summary = {"done": done, "skipped": skipped, "failed": len(failures),
               "failures": [f.to_dict() for f in failures], "output": where[0] if len(where) == 1
               else where, "seconds": round(seconds, 3), "images_per_s": round(done / seconds, 3) if done else 0.0,
               "device": str(result.device), "precision": result.precision,
               "engine": result.engine, "rank": result.world.rank,
               "world_size": result.world.size, "settings": asdict(settings)}
    names = ", ".join(Path(f.input).name for f in failures[:3]) + (", ..." if len(failures) > 3 else "")
    line = (f"edges: {done} done, {skipped} skipped (already there), {len(failures)} failed"
            + (f" ({names})" if failures else "") + f" in {seconds:.1f} s"
            + (f" ({done / seconds:.2f} images/s, {result.precision})" if done else "") + f" -> {', '.join(where)}")
    finish(st, summary, line, json_out=json_out)
    if failures and done == 0 and skipped == 0:  # nothing succeeded, now or before
        raise typer.Exit(1)
