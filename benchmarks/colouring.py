"""Automatic colouring of line drawings, measured on real doodles: the same hint model painting Quick, Draw!
doodles from lines alone (off), with colours chosen from its training photos by exemplar, and by palette
(sketch.colouring), scored by realism against held-out photos (KID, R), sketch fidelity F, how two colourings of
one drawing differ (colour, not shape), what the colouring step costs, and (demo) compare's colour dE under the
crayons of examples/sketches/colour/.

    # the demo at the main job's scale: the main job's run (seed 0) and a second seed trained alike
    python benchmarks/colouring.py --data demo --checkpoints \\
        icanvas-home/runs/demo/main/checkpoints/epoch_0008.safetensors work/seed1/checkpoints/epoch_0008.safetensors
    # shoes: hint models trained here on the shared edges2shoes pairs, two seeds
    python benchmarks/colouring.py --data shoes --train-steps 800 --width 16 --seeds 0 1

--data demo: doodles of faces (sketch_gap's categories), realism against 200 demo avatars the model never saw
(indices 300-499 of the demo set; the main job trains on 0-239); beside them, the same models on HED drawings of 60
avatars of another seed, coloured by palette ("avatar-edges": the ceiling for colouring). --data shoes: shoe-like
doodles (flip flops, rollerskates, sock), realism against the shared pairs' photos. Each checkpoint must come
from a run trained with --hints (its colours.safetensors beside checkpoints/). Figures go to
benchmarks/results/colouring-<data>-*.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from icanvas.core.images import load_rgb, split_ab
from icanvas.core.paths import resolve_root
from icanvas.core.themes import THEMES
from icanvas.data.demo import make_demo
from icanvas.data.pairing import pair_files, plan_paired, write_pairs
from icanvas.edges.pipeline import EdgeDetector, EdgeSettings
from icanvas.eval.colour import hint_colour_error
from icanvas.eval.compare import sketch_fidelity
from icanvas.eval.fmeasure import tolerant_f
from icanvas.eval.realism import RealismScorer
from icanvas.inference.painter import Painter
from icanvas.pix2pix.trainer import TrainConfig, train
from icanvas.sketch.colouring import METHODS, auto_colour
from icanvas.sketch.fill import _parts, fill_hints
from results import write_result
from sketch_gap import DOODLES, doodles, shared_dir

SCORES = ("kid", "realism", "fidelity", "variation_colour", "variation_shape_f", "crayon_de")
CRAYON_DRAWINGS = Path(__file__).resolve().parent.parent / "examples" / "sketches" / "colour"


def photos_for(data: str, work: Path, size: int) -> list[np.ndarray]:
    if data == "demo":
        folder = work / "demo-unseen"
        if not folder.is_dir():
            make_demo(folder, 500, seed=0)
        files = sorted(folder.glob("*.png"))[300:500]
    else:
        files = pair_files(shared_dir() / "data" / "edges2shoes_120" / "val")
        return [cv2.resize(split_ab(load_rgb(p), str(p))[1], (size, size), interpolation=cv2.INTER_AREA)
                for p in files]
    return [cv2.resize(load_rgb(p), (size, size), interpolation=cv2.INTER_AREA) for p in files]


def avatar_drawings(root: Path, work: Path, count: int = 60) -> list[tuple[str, np.ndarray]]:
    """HED line drawings of demo avatars of another seed (neither trained on nor among the reference photos), made
    as the demo's edges are (256 px, twins merged): the model's own kind of drawing, so realism on them, coloured
    by the palette, is about the most that colouring can reach on this model, whatever a child draws."""
    folder = work / "demo-other-seed"
    if not folder.is_dir():
        make_demo(folder, count, seed=1)
    photos = [load_rgb(p) for p in sorted(folder.glob("*.png"))[:count]]
    drawings = EdgeDetector(root, EdgeSettings(merge_twins=THEMES["demo"].merge_twins)).batch(photos)
    return [(f"avatar-{i}", np.repeat(d[..., None], 3, axis=2)) for i, d in enumerate(drawings)]


def train_shoes(work: Path, steps: int, width: int, seeds: list[int], size: int) -> list[Path]:
    pairs = work / "pairs-shoes"
    if not pairs.is_dir():
        jobs, _ = plan_paired(shared_dir() / "data" / "edges2shoes_120")
        write_pairs(jobs, [], pairs, size=size)
    out = []
    for seed in seeds:
        cfg = TrainConfig(data=str(pairs), run_dir=str(work / f"shoes-{seed}"), theme="shoes", run=f"hints-{seed}",
                          size=size, ngf=width, ndf=width, batch_size=4, epochs=10_000, max_steps=steps, seed=seed,
                          hints=True, save_every=10_000, val_limit=8)
        out.append(train(cfg).checkpoint)
    return out


def colouring_cost(painter: Painter, drawings: list) -> dict:
    """Per drawing, one thread: choosing the colours, then the fill of the whole hint layer (what serve adds per
    request), the parts computed afresh each time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    choose, fill = [], []
    for d in drawings:
        _parts.cache_clear()   # as for a new drawing
        t0 = time.perf_counter()
        layer = auto_colour(d.lines, painter.book, d.hints)
        t1 = time.perf_counter()
        fill_hints(d.lines, layer)
        fill.append(time.perf_counter() - t1)
        choose.append(t1 - t0)
    torch.set_num_threads(threads)
    return {"choose_ms_p50": round(1000 * float(np.median(choose)), 2),
            "choose_ms_p90": round(1000 * float(np.quantile(choose, 0.9)), 2),
            "with_fill_ms_p50": round(1000 * float(np.median(np.add(choose, fill))), 2)}


def crayon_error(painter: Painter) -> float:
    """compare's colour dE: mean CIEDE2000 between each crayon and the picture under it, over the example faces
    with crayon colour (their blank parts coloured by the painter's method)."""
    drawings = [painter.colour(painter.read(load_rgb(p))) for p in sorted(CRAYON_DRAWINGS.glob("*.png"))]
    made = painter.paint(drawings)
    return round(float(np.mean([hint_colour_error(p, d.hints) for p, d in zip(made, drawings)])), 4)


def score(painter: Painter, sketches: list, detector: EdgeDetector, scorer: RealismScorer, colour: bool) -> dict:
    drawings = [painter.read(rgb) for _, rgb in sketches]
    coloured = [painter.colour(d) for d in drawings] if colour else drawings
    made = painter.paint(coloured)
    edges = detector.batch(made)
    fidelity = [sketch_fidelity(n, p, d.lines, e).f for (n, _), p, d, e in zip(sketches, made, drawings, edges)]
    real = scorer(made, [d.lines for d in drawings])
    row = {"kid": real.kid, "realism": real.score, "fidelity": round(float(np.mean(fidelity)), 4)}
    if colour:   # two colourings of each drawing: how far apart in colour (mean |RGB| /255), how alike in shape
        other = painter.paint([painter.colour(d, 1) for d in drawings])
        first = painter.paint([painter.colour(d, 0) for d in drawings])
        row["variation_colour"] = round(float(np.mean([np.abs(a.astype(float) - b).mean() / 255
                                                      for a, b in zip(first, other)])), 4)
        e1, e2 = detector.batch(first), detector.batch(other)
        row["variation_shape_f"] = round(float(np.mean([tolerant_f(a < 128, b < 128, 2).f
                                                        for a, b in zip(e1, e2)])), 4)
        row["cost"] = colouring_cost(painter, drawings)
    return row, made


def run(args: argparse.Namespace) -> dict:
    root = resolve_root(args.root)
    work = Path(args.work or tempfile.mkdtemp(prefix="colouring-"))
    checkpoints = [Path(c) for c in args.checkpoints] if args.checkpoints else \
        train_shoes(work, args.train_steps, args.width, args.seeds, args.size)
    sketches = doodles(args.data)
    photos = photos_for(args.data, work, args.size)
    detector = EdgeDetector(root, EdgeSettings(size=args.size))
    scorer = RealismScorer(detector.net, photos, args.size, f"{args.data} held-out photos")
    avatars = avatar_drawings(root, work) if args.data == "demo" else []
    rows, strips = {}, []
    for i, checkpoint in enumerate(checkpoints):
        for method in ("off", *METHODS):
            painter = Painter.from_pretrained(checkpoint, auto_colour=method != "off",
                                              colouring=None if method == "off" else method)
            if method != "off" and painter.book is None:
                raise SystemExit(f"{checkpoint}: its run has no colour book (train with --hints)")
            row, made = score(painter, sketches, detector, scorer, method != "off")
            if args.data == "demo" and method != "off":
                row["crayon_de"] = crayon_error(painter)
            rows[f"{method}/{i}"] = {"method": method, "checkpoint": str(checkpoint), **row}
            strips.append(np.concatenate(made[:: max(1, len(made) // 12)][:12], axis=1))
            print(f"{method:9s} model {i}: KID {row['kid']:.3f}  R {row['realism']:.3f}  F {row['fidelity']:.3f}"
                  + (f"  variations: colour {row['variation_colour']:.3f} shape F {row['variation_shape_f']:.3f}"
                     f"  cost {row['cost']}" if method != "off" else "")
                  + (f"  crayon dE {row['crayon_de']:.2f}" if "crayon_de" in row else ""), flush=True)
        if avatars:   # the ceiling: the palette on the model's own kind of drawing
            painter = Painter.from_pretrained(checkpoint, colouring="palette")
            row, made = score(painter, avatars, detector, scorer, True)
            rows[f"avatar-edges/{i}"] = {"method": "avatar-edges", "checkpoint": str(checkpoint), **row}
            print(f"avatar edges, palette, model {i}: KID {row['kid']:.3f}  R {row['realism']:.3f}", flush=True)
    summary = {}
    for method in ("off", *METHODS, *(("avatar-edges",) if avatars else ())):
        group = [r for r in rows.values() if r["method"] == method]
        summary[method] = {k: {"mean": round(float(np.mean([r[k] for r in group])), 4),
                               "spread": round(float(np.ptp([r[k] for r in group])), 4)}
                           for k in SCORES if all(k in r and r[k] is not None for r in group)}
    print(f"\n{'method':9s}" + "".join(f"{k:>22s}" for k in SCORES))
    for method, s in summary.items():
        print(f"{method:9s}" + "".join(f"{s[k]['mean']:13.3f} ±{s[k]['spread'] / 2:6.3f}" if k in s else f"{'':>22s}"
                                       for k in SCORES))
    if args.strip:
        cv2.imwrite(args.strip, cv2.cvtColor(np.concatenate(strips, axis=0), cv2.COLOR_RGB2BGR))
    return {"data": args.data, "size": args.size, "doodles": DOODLES[args.data], "photos": len(photos),
            "checkpoints": [str(c) for c in checkpoints], "rows": rows, "summary": summary,
            "settings": {"train_steps": args.train_steps, "width": args.width, "seeds": args.seeds}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=sorted(DOODLES), default="demo")
    parser.add_argument("--checkpoints", nargs="+", help="hint-model checkpoints, one per seed")
    parser.add_argument("--train-steps", type=int, default=800, help="without --checkpoints: train shoes models")
    parser.add_argument("--width", type=int, default=16, help="ngf and ndf of the models trained here")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--root", help="icanvas root with the HED weights (default as the CLI)")
    parser.add_argument("--work", help="working folder (default: a new temporary one)")
    parser.add_argument("--strip", help="also write the pictures, one row per model and method, to this PNG")
    args = parser.parse_args()
    if args.data == "demo" and not args.checkpoints:
        parser.error("--data demo: pass --checkpoints (the main job's run and a second seed)")
    torch.manual_seed(0)
    print(f"results: {write_result(f'colouring-{args.data}', run(args))}")


if __name__ == "__main__":
    main()
