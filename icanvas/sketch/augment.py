"""Making training sketches look drawn: `augment_sketch` moves HED edges toward hand drawings (stroke width,
wobble, gaps, dropped short segments, rare missing parts), so that training input and normalised drawings come
from the same distribution.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt
from skimage.morphology import skeletonize

from icanvas.sketch.lines import LINE_LEVEL, draw_lines, ink_of


def _wobble(skeleton: np.ndarray, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """Move lines by a smooth random displacement field (elastic jitter), `amplitude` px at most-ish."""
    h, w = skeleton.shape
    coarse = rng.normal(0.0, amplitude, size=(2, 6, 6)).astype(np.float32)
    dx, dy = (cv2.resize(c, (w, h), interpolation=cv2.INTER_CUBIC) for c in coarse)
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    moved = cv2.remap(skeleton.astype(np.float32), xs + dx, ys + dy, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return skeletonize(moved > 0.15)


def _merge_twins(skeleton: np.ndarray, radius: float) -> np.ndarray:
    """Lines closer than about 2 x radius become one centre line. HED sees both sides of an inked outline, a
    child draws it as one stroke."""
    merged = distance_transform_edt(~skeleton) <= radius
    return skeletonize(merged)


def _drop_short(skeleton: np.ndarray, min_length: float) -> np.ndarray:
    """Simplification: connected lines shorter than min_length pixels disappear."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(skeleton.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_length
    keep[0] = False
    return keep[labels]


def _erase_discs(skeleton: np.ndarray, rng: np.random.Generator, count: int, radius: float) -> np.ndarray:
    """Erase discs centred on random line pixels: gaps (small radius) or missing parts (large radius)."""
    ys, xs = np.nonzero(skeleton)
    if len(ys) == 0:
        return skeleton
    pick = rng.integers(0, len(ys), size=count)
    holes = np.zeros(skeleton.shape, np.uint8)
    for y, x in zip(ys[pick], xs[pick]):
        cv2.circle(holes, (int(x), int(y)), max(1, int(round(radius))), 1, thickness=-1)
    return skeleton & (holes == 0)


def augment_sketch(sketch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random hand-drawn-looking variant of an edge map (HxW uint8, 255 paper, 0 line), same shape and dtype.

    On the 1-pixel skeleton of the edges: twin lines merged into one (50 %), small elastic wobble (70 %), simplification by a larger minimum line
    length (50 %), short gaps (50 %), a missing part (10 %); then re-drawn with draw_lines at 0.8x to 2.5x the
    input's own line width. Scales with the image side (the numbers are for 256 px).
    """
    sketch = np.asarray(sketch, np.uint8)
    ink = ink_of(sketch)
    skeleton = skeletonize(ink > LINE_LEVEL)
    length = int(skeleton.sum())
    if length == 0:
        return sketch.copy()
    width = float(ink.sum() / length)
    unit = max(sketch.shape) / 256.0
    if rng.random() < 0.5:
        skeleton = _merge_twins(skeleton, max(1.0, rng.uniform(2.0, 4.0) * unit))
    if rng.random() < 0.7:
        skeleton = _wobble(skeleton, rng, rng.uniform(0.5, 2.0) * unit)
    if rng.random() < 0.5:
        skeleton = _drop_short(skeleton, rng.uniform(4.0, 16.0) * unit)
    if rng.random() < 0.5:
        skeleton = _erase_discs(skeleton, rng, int(rng.integers(1, 8)), rng.uniform(1.0, 3.0) * unit)
    if rng.random() < 0.1:
        skeleton = _erase_discs(skeleton, rng, 1, rng.uniform(0.08, 0.2) * max(sketch.shape))
    return draw_lines(skeleton, width * float(np.exp(rng.uniform(np.log(0.8), np.log(2.5)))))
