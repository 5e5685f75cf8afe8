"""Colour hints, measured as a curve: pix2pix trained without hints, with simulated crayon hints, and with the
hints and their fill over the sketch's regions (sketch.fill), on the same data, steps and seeds, then scored on
held-out pairs with 0, 1, 5 and 20 hint strokes sampled from the real photo.

    OMP_NUM_THREADS=2 python benchmarks/hints.py --data demo --epochs 20 --seeds 0 1
    python benchmarks/hints.py --data shoes --steps 800 --width 16

For each held-out pair and stroke count k, the hints come from sketch.hints.simulate_hints(photo, rng, strokes=k)
with a generator seeded by (pair, k): every model sees the same hints. Scores: PSNR, SSIM and L1 of the picture
against the photo, and the region colour error (eval.colour.region_colour_error: median CIEDE2000 between a
stroke's colour and the picture over the photo region it lies in). A model trained without hints ignores them:
its row is the baseline. --data demo: the main job's data (demo avatars, icanvas's HED edges, 128 px).
--data shoes: the shared edges2shoes_120 pairs. Figures go to benchmarks/results/hints-<data>-*.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from icanvas.core.images import load_rgb, split_ab
from icanvas.core.paths import resolve_root
from icanvas.data.pairing import pair_files
from icanvas.eval.colour import region_colour_error
from icanvas.eval.compare import photo_scores
from icanvas.pix2pix.checkpoints import load_generator
from icanvas.pix2pix.config import TrainConfig
from icanvas.pix2pix.inputs import encode_input, hint_layers
from icanvas.pix2pix.trainer import train
from icanvas.sketch.hints import simulate_hints
from results import write_result
from sketch_gap import make_data

STROKES = (0, 1, 5, 20)


def held_out_hints(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[int, list[np.ndarray]]:
    """The hint layers every model is scored with: per stroke count, one per pair."""
    return {k: [simulate_hints(photo, np.random.default_rng([7, i, k]), strokes=k) for i, (_, photo) in
                enumerate(pairs)] for k in STROKES}


@torch.inference_mode()
def score(checkpoint: Path, pairs: list[tuple[np.ndarray, np.ndarray]],
          hints: dict[int, list[np.ndarray]]) -> dict[int, dict[str, float]]:
    net, info = load_generator(checkpoint)
    rows = {}
    for k, layers in hints.items():
        got = []
        for (lines, photo), layer in zip(pairs, layers):
            gray = torch.from_numpy(lines.astype(np.float32) / 127.5 - 1)[None, None]
            layers = hint_layers(lines, layer, info.generator.hint_fill)
            hint = torch.from_numpy(layers).permute(2, 0, 1)[None].float() / 255 if k else None
            picture = ((net(encode_input(gray, hint, info.generator)).clamp(-1, 1)[0] + 1) * 127.5 + 0.5)
            picture = picture.to(torch.uint8).permute(1, 2, 0).numpy()
            row = photo_scores(picture, photo)
            row["colour"] = region_colour_error(picture, photo, layer) if k else None
            got.append(row)
        rows[k] = {m: float(np.mean([r[m] for r in got if r[m] is not None])) if k or m != "colour" else None
                   for m in ("l1", "psnr", "ssim", "colour")}
    return rows


def run(args) -> dict:
    root = resolve_root(args.root)
    work = Path(tempfile.mkdtemp(prefix=f"hints_{args.data}_"))
    data = make_data(args.data, work, args.size, root)
    pairs = [split_ab(load_rgb(p), str(p)) for p in pair_files(data / "val")[:40]]
    hints = held_out_hints(pairs)
    runs = {}
    for config in args.configs:
        with_hints = config != "plain"
        for seed in args.seeds:
            name = f"{config}-{seed}"
            cfg = TrainConfig(data=str(data), run_dir=str(work / name), theme=args.data, run=name, size=args.size,
                              ngf=args.width, ndf=args.width, batch_size=4, epochs=args.epochs,
                              max_steps=args.steps, seed=seed, hints=with_hints, hint_fill=config in ("fill", "prior"),
                              fill_prior=config == "prior",
                              save_every=10_000, val_limit=20, amp=args.amp, average=args.average)
            start = time.perf_counter()
            checkpoint = train(cfg).checkpoint
            seconds = time.perf_counter() - start
            runs[name] = {"config": config, "seed": seed, "seconds": round(seconds, 1),
                          "scores": score(checkpoint, pairs, hints if with_hints else {0: hints[0]})}
            for k, row in runs[name]["scores"].items():
                colour = f"  colour dE {row['colour']:.1f}" if row["colour"] is not None else ""
                print(f"{name:8s} {k:2d} strokes: PSNR {row['psnr']:.2f}  SSIM {row['ssim']:.3f}  "
                      f"L1 {row['l1']:.4f}{colour}", flush=True)
            print(f"{name:8s} trained in {seconds:.0f} s", flush=True)
    summary = {}
    for label, k in [(c, k) for c in args.configs for k in (STROKES if c != "plain" else (0,))]:
        rows = [r["scores"][k] for r in runs.values() if r["config"] == label]
        summary[f"{label}/{k}"] = {m: {"mean": round(float(np.mean([r[m] for r in rows])), 4),
                                       "spread": round(float(np.ptp([r[m] for r in rows])), 4)}
                                   for m in ("psnr", "ssim", "l1", "colour") if rows[0][m] is not None}
    print(f"\n{'model/strokes':14s}" + "".join(f"{m:>18s}" for m in ("PSNR", "SSIM", "L1", "colour dE")))
    for key, s in summary.items():
        print(f"{key:14s}" + "".join(f"{s[m]['mean']:10.3f} ±{s[m]['spread'] / 2:6.3f}" if m in s else f"{'-':>18s}"
                                     for m in ("psnr", "ssim", "l1", "colour")))
    return {"data": args.data, "runs": runs, "summary": summary,
            "settings": {"size": args.size, "width": args.width, "epochs": args.epochs, "steps": args.steps,
                         "seeds": args.seeds, "amp": args.amp, "average": args.average,
                         "held_out_pairs": len(pairs)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=("demo", "shoes"), default="demo")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--width", type=int, default=32, help="ngf and ndf")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps (default: the epochs)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--configs", nargs="+", default=["plain", "hints", "fill"], choices=["plain", "hints", "fill", "prior"],
                        help="plain: no hints; hints: the crayon marks; fill: the marks and their fill (train's); prior: "
                             "and the generator paints over the fill")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                        help="bf16 autocast (default: train's default)")
    parser.add_argument("--average", action="store_true",
                        help="checkpoints hold the weights averaged over the second half (train --average)")
    parser.add_argument("--root", help="icanvas root with the HED weights (default as the CLI)")
    args = parser.parse_args()
    print(f"results: {write_result(f'hints-{args.data}', run(args))}")


if __name__ == "__main__":
    main()
