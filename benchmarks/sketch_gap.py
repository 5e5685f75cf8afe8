"""The sketch gap, measured: line statistics of training edges, augmented edges and real doodles, then pix2pix
trained with each augmentation recipe (and plain) on the same data, steps and seeds, scored on real Quick, Draw!
doodles (fidelity, realism) and held-out pairs (PSNR, SSIM).

    OMP_NUM_THREADS=2 python benchmarks/sketch_gap.py --data shoes --steps 800 --seeds 0 1 \\
        --recipes plain hand interior doodle
    python benchmarks/sketch_gap.py --data demo --stats-only
    OMP_NUM_THREADS=2 python benchmarks/sketch_gap.py --data demo --steps 1100 --width 32 --amp --hints \\
        --recipes plain --edges hed twins

--data shoes: the shared edges2shoes_120 pairs (train/ and val/ as they are); doodles: flip flops, rollerskates,
sock. --data demo: demo avatars with icanvas's HED edges (needs the HED weights); doodles: The Mona Lisa, skull,
beard. --edges twins makes the demo's drawings with `edges --merge-twins 3` (one line per inked outline) instead
of HED's twin lines; --hints trains as the main job does (colour hints; scored without colour). Fidelity is also
scored on the hand-drawn examples/sketches (F examples). Needs ../shared (or $ICANVAS_SHARED). Figures go to
benchmarks/results/sketch_gap-<data>-*.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from icanvas.core.images import load_rgb, save_png, split_ab
from icanvas.core.paths import resolve_root
from icanvas.data.demo import make_demo
from icanvas.data.pairing import make_pairs, pair_files, plan_paired, write_pairs
from icanvas.edges.pipeline import EdgeDetector, EdgeSettings
from icanvas.eval.compare import compare_checkpoints
from icanvas.eval.doodles import load_doodles, render
from icanvas.eval.realism import RealismScorer
from icanvas.pix2pix.config import TrainConfig
from icanvas.pix2pix.trainer import train
from icanvas.sketch.augment import RECIPES, augment_sketch
from icanvas.sketch.gap import MEASURES, summarize
from results import write_result

REPO = Path(__file__).resolve().parents[1]
DOODLES = {"shoes": ("flip flops", "rollerskates", "sock"), "demo": ("The Mona Lisa", "skull", "beard")}


def shared_dir() -> Path:
    for c in (os.environ.get("ICANVAS_SHARED"), REPO.parent / "shared", "/work/shared"):
        if c and (Path(c) / "data").is_dir():
            return Path(c)
    sys.exit("shared test data not found (set ICANVAS_SHARED)")


TWINS = 3   # --edges twins: edges --merge-twins at 256 px


def make_data(kind: str, work: Path, size: int, root: Path, twins: int = 0) -> Path:
    """A pairs folder with train/ and val/ at `size` (demo: drawings merged with `twins` px, 0 = HED's lines)."""
    out = work / (f"pairs-{kind}" + (f"-twins{twins}" if twins else ""))
    if kind == "shoes":
        jobs, _ = plan_paired(shared_dir() / "data" / "edges2shoes_120")
        write_pairs(jobs, [], out, size=size)
        return out
    photos, edges = work / "demo-photos", work / ("demo-edges" + (f"-twins{twins}" if twins else ""))
    if not photos.is_dir():
        make_demo(photos, 240, seed=0)
    detector = EdgeDetector(root, EdgeSettings(size=256, merge_twins=twins))
    for path in sorted(photos.glob("*.png")):
        save_png(detector(load_rgb(path)), edges / path.name)
    make_pairs(out, edges=edges, photos=photos, size=size, val=0.1, seed=0)
    return out


def doodles(kind: str) -> list[tuple[str, np.ndarray]]:
    quickdraw = shared_dir() / "data" / "quickdraw"
    return [(f"{cat}-{i}", np.asarray(render(strokes, 512, 6).convert("RGB")))
            for cat in DOODLES[kind] for i, strokes in enumerate(load_doodles(quickdraw, cat, 25))]


def line_table(data: Path, kind: str, size: int) -> dict[str, dict]:
    """Line statistics: the training edges, each recipe's augmented edges, and the normalised doodles."""
    from icanvas.sketch.lines import measure_style
    from icanvas.sketch.normalize import normalize_sketch

    edges = [split_ab(load_rgb(p), str(p))[0] for p in pair_files(data / "train")[:80]]
    rows = {"training edges": summarize(edges)}
    for recipe in RECIPES:
        rng = np.random.default_rng(0)
        rows[f"augmented: {recipe}"] = summarize([augment_sketch(e, rng, recipe) for e in edges])
    style = measure_style(edges)
    rows["doodles (normalised)"] = summarize([normalize_sketch(rgb, size, style) for _, rgb in doodles(kind)])
    return rows


def run(args) -> dict:
    root = resolve_root(args.root)
    work = Path(tempfile.mkdtemp(prefix=f"sketch_gap_{args.data}_"))
    sources = {edges: make_data(args.data, work, args.size, root, TWINS if edges == "twins" else 0)
               for edges in args.edges}
    data = sources[args.edges[0]]
    figures: dict = {"data": args.data, "size": args.size, "lines": line_table(data, args.data, args.size)}
    if "twins" in sources:
        figures["lines"]["training edges (twins)"] = summarize(
            [split_ab(load_rgb(p), str(p))[0] for p in pair_files(sources["twins"] / "train")[:80]])
    print(f"{'':24s}" + "".join(f"{m:>10s}" for m in MEASURES))
    for name, row in figures["lines"].items():
        print(f"{name:24s}" + "".join(f"{row[m]:10.3f}" for m in MEASURES))
    if args.stats_only:
        return figures

    held_out = [split_ab(load_rgb(p), str(p)) for p in pair_files(data / "val")[:40]]
    sketches = doodles(args.data)
    drawn = REPO / "examples" / "sketches"
    examples = [(str(p.relative_to(drawn).with_suffix("")), load_rgb(p)) for p in sorted(drawn.rglob("*.png"))]
    detector = EdgeDetector(root, EdgeSettings(size=args.size))
    scorer = RealismScorer(detector.net, [b for _, b in held_out], args.size, f"{data / 'val'} (photo halves)")
    runs = {}
    scores = ("fidelity", "realism", "psnr", "ssim", "fidelity_examples")
    for edges, data in sources.items():
        # every source is scored on the same held-out photos, each with its own drawings of them
        held_out = [split_ab(load_rgb(p), str(p)) for p in pair_files(data / "val")[:40]]
        for recipe in args.recipes:
            label = recipe if len(sources) == 1 else f"{edges}+{recipe}"
            for seed in args.seeds:
                cfg = TrainConfig(data=str(data), run_dir=str(work / f"{edges}-{recipe}-{seed}"),
                                  theme=args.data, run=f"{recipe}-{seed}", size=args.size, ngf=args.width,
                                  ndf=args.width, batch_size=4, epochs=10_000, max_steps=args.steps, seed=seed,
                                  sketch_augment=recipe != "plain", augment="hand" if recipe == "plain" else recipe,
                                  hints=args.hints, save_every=10_000, val_limit=20, amp=args.amp)
                start = time.perf_counter()
                checkpoint = train(cfg).checkpoint
                result = compare_checkpoints([checkpoint], sketches, lambda s: detector.batch, pairs=held_out,
                                             realism_for=lambda s: scorer).results[0]
                on_examples = compare_checkpoints([checkpoint], examples, lambda s: detector.batch).results[0]
                runs[f"{label}/{seed}"] = row = {
                    "edges": edges, "recipe": recipe, "label": label, "seed": seed, "fidelity": result.fidelity,
                    "realism": result.realism, "kid": result.kid, "psnr": result.pairs["psnr"],
                    "ssim": result.pairs["ssim"], "fidelity_examples": on_examples.fidelity,
                    "degenerate": result.degenerate, "seconds": round(time.perf_counter() - start, 1)}
                print(f"{label:9s} seed {seed}: F {row['fidelity']:.3f}  R {row['realism']:.3f}  "
                      f"PSNR {row['psnr']:.2f}  SSIM {row['ssim']:.3f}  F examples {on_examples.fidelity:.3f}  "
                      f"({row['seconds']:.0f} s)", flush=True)
    figures["runs"] = runs
    figures["summary"] = summary = {}
    for label in dict.fromkeys(r["label"] for r in runs.values()):
        rows = [r for r in runs.values() if r["label"] == label]
        summary[label] = {k: {"mean": round(float(np.mean([r[k] for r in rows])), 4),
                              "spread": round(float(np.ptp([r[k] for r in rows])), 4)} for k in scores}
    print(f"\n{'recipe':9s}" + "".join(f"{k:>20s}" for k in ("fidelity", "realism", "PSNR", "SSIM", "F examples")))
    for label, s in summary.items():
        print(f"{label:9s}" + "".join(f"{s[k]['mean']:12.3f} ±{s[k]['spread'] / 2:6.3f}" for k in scores))
    figures["settings"] = {"steps": args.steps, "seeds": args.seeds, "width": args.width, "batch_size": 4,
                           "amp": args.amp, "hints": args.hints, "edges": args.edges, "twins": TWINS,
                           "doodles": DOODLES[args.data], "held_out_pairs": len(held_out)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=sorted(DOODLES), default="shoes")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--width", type=int, default=16, help="ngf and ndf")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--recipes", nargs="+", default=["plain", *RECIPES], choices=["plain", *RECIPES])
    parser.add_argument("--amp", action="store_true", help="bf16 autocast (faster on CPUs with BF16)")
    parser.add_argument("--hints", action="store_true", help="train with colour hints, as the main job does")
    parser.add_argument("--edges", nargs="+", default=["hed"], choices=["hed", "twins"],
                        help="demo drawings: HED's lines, or merged twins (edges --merge-twins)")
    parser.add_argument("--root", help="icanvas root with the HED weights (default as the CLI)")
    parser.add_argument("--stats-only", action="store_true", help="only the line statistics, no training")
    args = parser.parse_args()
    if args.data == "shoes" and "twins" in args.edges:
        parser.error("--edges twins: the shoes come with the authors' edges; only the demo is drawn here")
    torch.manual_seed(0)
    figures = run(args)
    print(f"results: {write_result(f'sketch_gap-{args.data}', figures)}")


if __name__ == "__main__":
    main()
