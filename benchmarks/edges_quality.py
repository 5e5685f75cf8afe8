"""How close `icanvas edges` comes to the pix2pix authors' own edges (HED + PostprocessHED.m).

Data: edges2shoes-style pairs (A|B side by side, A = the authors' edges, B = the photo), e.g. ../shared/data/
edges2shoes_120. Score: the tolerant F-measure (icanvas.eval.fmeasure, 2 px), averaged over images. The measuring
code is icanvas.eval.edges_quality (tests/test_edges_quality.py holds the defaults to F >= 0.85 with it).

    python benchmarks/edges_quality.py --root ~/.icanvas --data ../shared/data/edges2shoes_120
        runs `icanvas edges` (defaults, --precision fp32, --preset pix2pix-matlab) on the photos and prints F, P, R,
        and what the default precision (bf16 where the machine has it) changes in F against fp32
    python benchmarks/edges_quality.py ... --sweep
        also prints the F curve over thresholds x minimum edge lengths x borders (HED runs once per border)

The figures, with the commit, the machine and the date, go to benchmarks/results/edges_quality-<date>-<time>.json
(see benchmarks/results.py).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from icanvas.core.runtime import resolve_device, resolve_precision
from icanvas.eval.edges_quality import VARIANTS, curve_table, evaluate_cli, load_pairs, sweep
from results import write_result  # benchmarks/results.py (this script's folder is on sys.path)

RUNS = (("icanvas defaults", ()), ("--precision fp32", ("--precision", "fp32")),
        ("--preset pix2pix-matlab", ("--preset", "pix2pix-matlab")))


def _progress(row: dict) -> None:
    variant = {k: row[k] for k in ("border", "max_side") if k in row}
    print(f"{variant}  threshold {row['threshold']:.3f}  min_edge {row['min_edge']:2d}  F {row['f']:.4f}  "
          f"P {row['precision']:.4f}  R {row['recall']:.4f}", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True, help="icanvas root holding weights/ (fetched if missing)")
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/edges2shoes_120")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N pairs")
    ap.add_argument("--sweep", action="store_true", help="print the F curve over settings")
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
