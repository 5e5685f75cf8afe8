"""How close `icanvas edges` comes to the pix2pix authors' own edges (HED + PostprocessHED.m).

Data: edges2shoes-style pairs (A|B side by side, A = the authors' edges, B = the photo), e.g. ../shared/data/
edges2shoes_120. Score: the tolerant F-measure (icanvas.eval.fmeasure, 2 px), averaged over images. The measuring
code is icanvas.eval.edges_quality (tests/test_edges_quality.py holds the defaults to F >= 0.85 with it).

    python benchmarks/edges_quality.py --root ~/.icanvas --data ../shared/data/edges2shoes_120
        runs `icanvas edges` (defaults, --precision fp32, --preset pix2pix-matlab) on the photos and prints F, P, R,
        and what the default precision (bf16 where the machine has it) changes in F against fp32
    python benchmarks/edges_quality.py ... --sweep
        also prints the F curve over thresholds x minimum edge lengths x borders (HED runs once per border)
    python benchmarks/edges_quality.py ... --borders 32 8 4
        also runs `icanvas edges --border B` for each, in fp32 (as on a CPU without bf16: ICANVAS_CPU_BF16=0) and
        at the default precision, two rounds taking turns: F, and each border's speed against the first's

The figures, with the commit, the machine and the date, go to benchmarks/results/edges_quality-<date>-<time>.json
(see benchmarks/results.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from icanvas.core.runtime import CPU_BF16_ENV, resolve_device, resolve_precision
from icanvas.eval.edges_quality import VARIANTS, curve_table, evaluate_cli, load_pairs, sweep
from results import write_result  # benchmarks/results.py (this script's folder is on sys.path)

RUNS = (("icanvas defaults", ()), ("--precision fp32", ("--precision", "fp32")),
        ("--preset pix2pix-matlab", ("--preset", "pix2pix-matlab")))


def _progress(row: dict) -> None:
    variant = {k: row[k] for k in ("border", "max_side") if k in row}
    print(f"{variant}  threshold {row['threshold']:.3f}  min_edge {row['min_edge']:2d}  F {row['f']:.4f}  "
          f"P {row['precision']:.4f}  R {row['recall']:.4f}", file=sys.stderr)


def border_runs(root: Path, pairs, workdir: Path, borders: list[int], rounds: int = 2) -> dict:
    """`icanvas edges --border B` for each border, in fp32 on any CPU and at the default precision, the rounds
    taking turns (a noisy machine slows neighbours alike): F, images/s, and speed against borders[0] per round."""
    runs: dict = {}
    before = os.environ.get(CPU_BF16_ENV)
    for _ in range(rounds):
        for precision, forced_off in (("fp32", True), ("default", False)):
            if forced_off:
                os.environ[CPU_BF16_ENV] = "0"
            for border in borders:
                r = evaluate_cli(root, pairs, workdir, "--border", str(border))
                runs.setdefault(precision, {}).setdefault(border, []).append(r)
            os.environ.pop(CPU_BF16_ENV, None)
            if before is not None:
                os.environ[CPU_BF16_ENV] = before
    table = {}
    for precision, by_border in runs.items():
        base = [r["images"] / r["seconds"] for r in by_border[borders[0]]]
        for border, rs in by_border.items():
            speed = [r["images"] / r["seconds"] for r in rs]
            table[f"{precision}/border {border}"] = {
                "f": rs[0]["f"], "images_per_s": speed,
                f"speed_vs_border_{borders[0]}": [round(a / b, 3) for a, b in zip(speed, base)]}
            print(f"{precision:8s} border {border:3d}: F {rs[0]['f']:.4f}  images/s "
                  f"{', '.join(f'{v:.2f}' for v in speed)}  vs border {borders[0]}: "
                  f"{', '.join(f'{a / b:.2f}x' for a, b in zip(speed, base))}")
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True, help="icanvas root holding weights/ (fetched if missing)")
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/edges2shoes_120")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N pairs")
    ap.add_argument("--sweep", action="store_true", help="print the F curve over settings")
    ap.add_argument("--borders", type=int, nargs="+", help="also time and score these borders (the first the base)")
    args = ap.parse_args()
    pairs = load_pairs(args.data, args.limit)
    print(f"{len(pairs)} pairs from {args.data}")
    figures: dict = {"data": str(args.data), "pairs": len(pairs), "runs": {},
                     "default_precision": resolve_precision("auto", resolve_device("auto"))}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in RUNS:
            r = evaluate_cli(args.root, pairs, Path(tmp), *extra)
            figures["runs"][label] = {**r, "images_per_s": r["images"] / r["seconds"]}
            print(f"{label:24s} F {r['f']:.4f}  P {r['precision']:.4f}  R {r['recall']:.4f}  "
                  f"({r['images'] / r['seconds']:.2f} images/s end to end)")
        if args.borders:
            figures["borders"] = border_runs(args.root, pairs, Path(tmp), args.borders)
    runs = figures["runs"]
    figures["default_precision_f_minus_fp32"] = runs["icanvas defaults"]["f"] - runs["--precision fp32"]["f"]
    print(f"default precision - fp32: F {figures['default_precision_f_minus_fp32']:+.4f}")
    if args.sweep:
        rows = sweep(args.root, pairs, on_row=_progress)
        for variant in VARIANTS:
            sel = [r for r in rows if all(r[k] == v for k, v in variant.items())]
            print(f"\nF by threshold and min_edge, {variant} (HED {sel[0]['hed_ms']:.0f} ms/image)")
            print(curve_table(sel))
        best = max(rows, key=lambda r: r["f"])
        print(f"\nbest: {best}")
        figures["sweep"] = rows
        figures["best"] = best
    path = write_result("edges_quality", figures)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
