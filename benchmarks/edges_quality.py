"""How close `icanvas edges` comes to the pix2pix authors' own edges (HED + PostprocessHED.m).

Data: edges2shoes-style pairs (A|B side by side, A = the authors' edges, B = the photo), e.g. ../shared/data/
edges2shoes_120. Score: the tolerant F-measure (icanvas.eval.fmeasure, 2 px), averaged over images.

    python benchmarks/edges_quality.py --root ~/.icanvas --data ../shared/data/edges2shoes_120
        runs `icanvas edges` (defaults, then --preset pix2pix-matlab) on the photos and prints F, P, R
    python benchmarks/edges_quality.py ... --sweep
        also prints the F curve over thresholds x minimum edge lengths x borders (HED runs once per border)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from icanvas.eval.fmeasure import edge_mask, tolerant_f
from icanvas.core.images import find_images, load_gray, load_rgb, save_png

THRESHOLDS = (25 / 255, 0.20, 0.30, 0.35, 0.40, 0.45, 0.50)
MIN_EDGES = (5, 10, 20)
# HED variants: the default border, the authors' border, and HED at half resolution (128 px photos)
VARIANTS = ({"border": 32}, {"border": 128, "max_side": 0}, {"border": 0, "max_side": 128})


def load_pairs(data_dir: Path, limit: int | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, photo HxWx3, authors' edge mask HxW) for every A|B picture under data_dir, sorted by name."""
    pairs = []
    for path in find_images([data_dir])[:limit]:
        rgb, gray = load_rgb(path), load_gray(path)
        half = rgb.shape[1] // 2
        pairs.append((path.stem, rgb[:, half:], edge_mask(gray[:, :half])))
    return pairs


def score(drawings: list[np.ndarray], refs: list[np.ndarray]) -> dict:
    """Mean precision, recall and F of drawings (uint8, 0 = line) against reference masks."""
    scores = [tolerant_f(edge_mask(d), r) for d, r in zip(drawings, refs)]
    return {k: float(np.mean([getattr(s, k) for s in scores])) for k in ("precision", "recall", "f")}


def evaluate_cli(root: Path, pairs, workdir: Path, *args: str) -> dict:
    """Run `icanvas edges` on the photos of `pairs` (written as PNG to workdir) with extra args; score it."""
    photos, out = workdir / "photos", workdir / "edges"
    for name, photo, _ in pairs:
        if not (photos / f"{name}.png").exists():
            save_png(photo, photos / f"{name}.png")
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "icanvas", "--root", str(root), "--quiet", "edges", str(photos), "-o", str(out),
           "--force", *args]
    subprocess.run(cmd, check=True)
    seconds = time.perf_counter() - start
    drawings = [load_gray(out / f"{name}.png") for name, _, _ in pairs]
    return {**score(drawings, [ref for _, _, ref in pairs]), "seconds": seconds, "images": len(pairs)}


def hed_maps(root: Path, pairs, **settings) -> tuple[list[np.ndarray], float]:
    """The fused HED maps of the photos under EdgeSettings(**settings), and HED ms/image."""
    from icanvas.edges.pipeline import EdgeDetector, EdgeSettings, prepare_photo

    det = EdgeDetector(root, EdgeSettings(**settings))
    start = time.perf_counter()
    maps = [det.hed_maps([prepare_photo(photo, det.settings)])[0] for _, photo, _ in pairs]
    return maps, (time.perf_counter() - start) / len(pairs) * 1000


def sweep(root: Path, pairs, variants=VARIANTS, thresholds=THRESHOLDS, min_edges=MIN_EDGES) -> list[dict]:
    """F for every (HED variant, threshold, min_edge): HED once per variant (border, max_side), then only the
    post-processing per setting."""
    from icanvas.edges.postprocess import postprocess

    refs = [ref for _, _, ref in pairs]
    rows = []
    for variant in variants:
        maps, hed_ms = hed_maps(root, pairs, **variant)
        for t in thresholds:
            for m in min_edges:
                drawings = [postprocess(e, size=256, threshold=t, min_edge=m) for e in maps]
                rows.append({**variant, "threshold": t, "min_edge": m, "hed_ms": hed_ms, **score(drawings, refs)})
                print(f"{variant}  threshold {t:.3f}  min_edge {m:2d}  F {rows[-1]['f']:.4f}  "
                      f"P {rows[-1]['precision']:.4f}  R {rows[-1]['recall']:.4f}", file=sys.stderr)
    return rows


def curve_table(rows: list[dict]) -> str:
    """Markdown: F by threshold (rows) and minimum edge length (columns)."""
    mins = sorted({r["min_edge"] for r in rows})
    lines = ["| threshold | " + " | ".join(f"min edge {m}" for m in mins) + " |", "|---|" + "---|" * len(mins)]
    for t in sorted({r["threshold"] for r in rows}):
        cells = [next(r["f"] for r in rows if r["threshold"] == t and r["min_edge"] == m) for m in mins]
        label = "25/255" if abs(t - 25 / 255) < 1e-9 else f"{t:.2f}"
        lines.append(f"| {label} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True, help="icanvas root holding weights/ (fetched if missing)")
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/edges2shoes_120")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N pairs")
    ap.add_argument("--sweep", action="store_true", help="print the F curve over settings")
    args = ap.parse_args()
    pairs = load_pairs(args.data, args.limit)
    print(f"{len(pairs)} pairs from {args.data}")
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in (("icanvas defaults", ()), ("--preset pix2pix-matlab", ("--preset", "pix2pix-matlab"))):
            r = evaluate_cli(args.root, pairs, Path(tmp), *extra)
            print(f"{label:24s} F {r['f']:.4f}  P {r['precision']:.4f}  R {r['recall']:.4f}  "
                  f"({r['images'] / r['seconds']:.2f} images/s end to end)")
    if args.sweep:
        rows = sweep(args.root, pairs)
        for variant in VARIANTS:
            sel = [r for r in rows if all(r[k] == v for k, v in variant.items())]
            print(f"\nF by threshold and min_edge, {variant} (HED {sel[0]['hed_ms']:.0f} ms/image)")
            print(curve_table(sel))
        best = max(rows, key=lambda r: r["f"])
        print(f"\nbest: {best}")


if __name__ == "__main__":
    main()
