"""How close `icanvas edges` comes to the pix2pix authors' own edges (HED + PostprocessHED.m).

Data: edges2shoes-style pairs (A|B side by side, A = the authors' edges, B = the photo). Score: the tolerant
F-measure (icanvas.eval.fmeasure, 2 px), averaged over images. Used by benchmarks/edges_quality.py and by
tests/test_edges_quality.py; plain values in, results out, nothing printed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from icanvas.core.images import find_images, load_gray, load_rgb, save_png, split_ab
from icanvas.eval.fmeasure import edge_mask, tolerant_f

THRESHOLDS = (25 / 255, 0.20, 0.30, 0.35, 0.40, 0.45, 0.50)
MIN_EDGES = (5, 10, 20)
# HED variants: the default border, the authors' border, and HED at half resolution (128 px photos)
VARIANTS = ({"border": 32}, {"border": 128, "max_side": 0}, {"border": 0, "max_side": 128})


class EdgePair(NamedTuple):
    """One A|B picture: its name, the photo (B, HxWx3 uint8) and the authors' edges (A, boolean HxW mask)."""

    name: str
    photo: np.ndarray
    reference: np.ndarray


def load_pairs(data_dir: Path, limit: int | None = None) -> list[EdgePair]:
    """(name, photo HxWx3, authors' edge mask HxW) for every A|B picture under data_dir, sorted by name."""
    pairs = []
    for path in find_images([data_dir])[:limit]:
        sketch, photo = split_ab(load_rgb(path), str(path))
        pairs.append(EdgePair(path.stem, photo, edge_mask(sketch)))
    return pairs


def score(drawings: Sequence[np.ndarray], refs: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean precision, recall and F of drawings (uint8, 0 = line) against reference masks."""
    if len(drawings) != len(refs):
        raise ValueError(f"{len(drawings)} drawings for {len(refs)} references")
    scores = [tolerant_f(edge_mask(d), r) for d, r in zip(drawings, refs)]
    return {k: float(np.mean([getattr(s, k) for s in scores])) for k in ("precision", "recall", "f")}


def evaluate_cli(root: Path, pairs: Sequence[EdgePair], workdir: Path, *args: str) -> dict:
    """Run `icanvas edges` (a fresh process, as a user would) on the photos of `pairs` (written as PNG to
    workdir/photos) with extra args, and score its drawings: precision, recall, f, seconds (end to end, HED weights
    loading included) and images. Raises RuntimeError with the command's stderr if it fails."""
    photos, out = Path(workdir) / "photos", Path(workdir) / "edges"
    for name, photo, _ in pairs:
        if not (photos / f"{name}.png").exists():
            save_png(photo, photos / f"{name}.png")
    cmd = [sys.executable, "-m", "icanvas", "--root", str(root), "--quiet", "edges", str(photos), "-o", str(out),
           "--force", *args]
    start = time.perf_counter()
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    drawings = [load_gray(out / f"{name}.png") for name, _, _ in pairs]
    return {**score(drawings, [ref for _, _, ref in pairs]), "seconds": seconds, "images": len(pairs)}


def hed_maps(root: Path, pairs: Sequence[EdgePair], **settings) -> tuple[list[np.ndarray], float]:
    """The fused HED maps of the photos under EdgeSettings(**settings), and HED ms/image."""
    from icanvas.edges.pipeline import EdgeDetector, EdgeSettings, prepare_photo

    det = EdgeDetector(root, EdgeSettings(**settings))
    start = time.perf_counter()
    maps = [det.hed_maps([prepare_photo(photo, det.settings)])[0] for _, photo, _ in pairs]
    return maps, (time.perf_counter() - start) / max(1, len(pairs)) * 1000


def sweep(root: Path, pairs: Sequence[EdgePair], variants=VARIANTS, thresholds=THRESHOLDS, min_edges=MIN_EDGES,
          on_row: Callable[[dict], None] | None = None) -> list[dict]:
    """F for every (HED variant, threshold, min_edge): HED once per variant (border, max_side), then only the
    post-processing per setting. on_row(row) is called as each row is ready (for progress)."""
    from icanvas.edges.postprocess import postprocess

    refs = [ref for _, _, ref in pairs]
    rows = []
    for variant in variants:
        maps, hed_ms = hed_maps(root, pairs, **variant)
        for t in thresholds:
            for m in min_edges:
                drawings = [postprocess(e, size=256, threshold=t, min_edge=m) for e in maps]
                rows.append({**variant, "threshold": t, "min_edge": m, "hed_ms": hed_ms, **score(drawings, refs)})
                if on_row is not None:
                    on_row(rows[-1])
    return rows


def curve_table(rows: Sequence[dict]) -> str:
    """Markdown: F by threshold (rows) and minimum edge length (columns)."""
    mins = sorted({r["min_edge"] for r in rows})
    lines = ["| threshold | " + " | ".join(f"min edge {m}" for m in mins) + " |", "|---|" + "---|" * len(mins)]
    for t in sorted({r["threshold"] for r in rows}):
        cells = [next(r["f"] for r in rows if r["threshold"] == t and r["min_edge"] == m) for m in mins]
        label = "25/255" if abs(t - 25 / 255) < 1e-9 else f"{t:.2f}"
        lines.append(f"| {label} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines)
