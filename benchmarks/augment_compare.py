"""Does sketch augmentation help on hand drawings? Train the same pix2pix twice, with and without
`--sketch-augment`, on the same pairs for the same number of steps, then score both with `icanvas compare`:
sketch fidelity on real Quick, Draw! doodles (which the models never saw: hand drawings, not HED edges) and
L1/SSIM on the held-out pairs. Prints both figures and their ratio, measured in the same run.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/augment_compare.py \\
        --pairs ../shared/data/edges2shoes_120 --quickdraw ../shared/data/quickdraw --work /tmp/augcmp

On a GPU, raise --steps and --ngf (e.g. --steps 20000 --ngf 64 --batch-size 1, pix2pix's own settings).
The figures, with the commit, the machine and the date, go to benchmarks/results/augment_compare-<date>-<time>.json
(see benchmarks/results.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from results import write_result  # benchmarks/results.py (this script's folder is on sys.path)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from doodles import load_doodles, render  # noqa: E402  (the same renderer the tests use)

CATEGORIES = ["rollerskates", "sock", "flip flops"]   # the closest doodles to shoes that Quick, Draw! has here


def icanvas(root: Path, *args: str) -> dict:
    """Run one icanvas command with --json and return its summary."""
    cmd = [sys.executable, "-m", "icanvas", "--root", str(root), "--quiet", *args, "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def ratio(a: float, b: float) -> float | None:
    """a / b, or None where b is 0 (a model that scored nothing has no meaningful ratio)."""
    return a / b if b else None


def shown(r: float | None) -> str:
    return f"{r:8.2f}" if r is not None else f"{'-':>8}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, required=True, help="pix2pix A|B folder with train/ and val/")
    ap.add_argument("--quickdraw", type=Path, required=True, help="folder of Quick, Draw! <category>.ndjson")
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (an icanvas root goes inside)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--ngf", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--steps", type=int, default=1200, help="training steps for each of the two runs")
    ap.add_argument("--doodles", type=int, default=10, help="doodles per category")
    ap.add_argument("--seed", type=int, default=0, help="seed of both runs (weights, data order, augmentation)")
    args = ap.parse_args()

    root = args.work / "root"
    pairs = root / "data" / "shoes" / "pairs"
    icanvas(root, "pair", "--paired", str(args.pairs), "--out", str(pairs), "--size", str(args.size))

    sketches = args.work / "sketches"
    sketches.mkdir(parents=True, exist_ok=True)
    for category in CATEGORIES:
        for i, strokes in enumerate(load_doodles(args.quickdraw, category, args.doodles)):
            render(strokes, 400, 6).save(sketches / f"{category.replace(' ', '_')}_{i}.png")

    checkpoints = {}
    for name, flag in [("augment", "--sketch-augment"), ("plain", "--no-sketch-augment")]:
        run = icanvas(root, "train", "--data", str(pairs), "--size", str(args.size), "--ngf", str(args.ngf),
                      "--ndf", str(args.ngf), "--batch-size", str(args.batch_size), "--epochs", "100000",
                      "--max-steps", str(args.steps), "--save-every", "100000", "--seed", str(args.seed), "--run", name, flag)
        checkpoints[name] = run["checkpoint"]
        print(f"trained {name}: {run['step']} steps, {run['images_per_s']:.1f} images/s -> {run['checkpoint']}")

    report = icanvas(root, "compare", checkpoints["augment"], checkpoints["plain"], "--sketches", str(sketches),
                     "--pairs", str(pairs / "val"), "-o", str(args.work / "report"))
    rows = {name: next(r for r in report["results"] if r["run"] == name) for name in checkpoints}
    a, p = rows["augment"], rows["plain"]
    print(f"\n{report['sketches']} hand-drawn doodles ({', '.join(CATEGORIES)}), {report['pairs']} held-out pairs")
    print(f"{'':22}{'augment':>10}{'plain':>10}{'ratio':>8}")
    for key, label in [("fidelity", "sketch fidelity F"), ("precision", "  precision"), ("recall", "  recall")]:
        print(f"{label:22}{a[key]:10.3f}{p[key]:10.3f}{shown(ratio(a[key], p[key]))}")
    print(f"{'degenerate pictures':22}{a['degenerate']:10d}{p['degenerate']:10d}")
    for key in ("l1", "ssim"):
        print(f"{'pairs ' + key.upper():22}{a['pairs'][key]:10.3f}{p['pairs'][key]:10.3f}"
              f"{shown(ratio(a['pairs'][key], p['pairs'][key]))}")
    print(f"report: {report['report']}")
    runs = {name: {"fidelity": r["fidelity"], "precision": r["precision"], "recall": r["recall"],
                   "degenerate": r["degenerate"], "pairs_l1": r["pairs"]["l1"], "pairs_ssim": r["pairs"]["ssim"],
                   "checkpoint": checkpoints[name]} for name, r in rows.items()}
    figures = {"size": args.size, "ngf": args.ngf, "ndf": args.ngf, "batch_size": args.batch_size,
               "steps": args.steps, "seed": args.seed, "pairs_folder": str(args.pairs), "categories": CATEGORIES,
               "sketches": report["sketches"], "held_out_pairs": report["pairs"], "report": report["report"],
               "runs": runs, "augment_over_plain": {k: ratio(runs["augment"][k], runs["plain"][k])
                                                    for k in ("fidelity", "precision", "recall", "pairs_l1",
                                                              "pairs_ssim")}}
    print(f"results: {write_result('augment_compare', figures)}")


if __name__ == "__main__":
    main()
