"""Making training sketches look drawn: `augment_sketch` moves HED edges toward hand drawings, so that training
input and normalised drawings come from the same distribution.

Each step works on the 1-pixel skeleton of the edges; a recipe (RECIPES) says which steps run and how often, and
the lines are re-drawn with draw_lines at the end. What each recipe does to the lines is measured by
sketch.gap (docs/sketch-gap.md), and what it does to the pictures by benchmarks/sketch_gap.py.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt
from skimage.morphology import skeletonize

from icanvas.sketch.lines import LINE_LEVEL, draw_lines, ink_of, outline_of


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


def _simplify(skeleton: np.ndarray, tolerance: float) -> np.ndarray:
    """Contour simplification: every line re-drawn as the polygon that follows it within `tolerance` px (the
    smooth, few-cornered strokes of a quick drawing instead of HED's jagged edges)."""
    contours, _ = cv2.findContours(skeleton.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    out = np.zeros(skeleton.shape, np.uint8)
    for c in contours:
        cv2.polylines(out, [cv2.approxPolyDP(c, tolerance, False)], False, 1, thickness=1)
    return skeletonize(out.astype(bool))


def _drop_interior(skeleton: np.ndarray, rng: np.random.Generator, keep: float, min_length: float,
                   band: float) -> np.ndarray:
    """Lines inside the outer outline go, cut off where they meet it: the short ones always, the others with
    probability 1 - keep; the outline stays (a child draws the silhouette and a few details, HED every crease
    and seam)."""
    outline = skeleton & outline_of(skeleton, band)
    inside = skeleton & ~outline
    _, labels, stats, _ = cv2.connectedComponentsWithStats(inside.astype(np.uint8), connectivity=8)
    kept = (stats[:, cv2.CC_STAT_AREA] >= min_length) & (rng.random(len(stats)) < keep)
    kept[0] = False
    return outline | kept[labels]


def _recipe_hand(skeleton: np.ndarray, rng: np.random.Generator, unit: float, side: int) -> np.ndarray:
    """Twin lines merged (50 %), small elastic wobble (70 %), a larger minimum line length (50 %), short gaps
    (50 %), a missing part (10 %)."""
    if rng.random() < 0.5:
        skeleton = _merge_twins(skeleton, max(1.0, rng.uniform(2.0, 4.0) * unit))
    if rng.random() < 0.7:
        skeleton = _wobble(skeleton, rng, rng.uniform(0.5, 2.0) * unit)
    if rng.random() < 0.5:
        skeleton = _drop_short(skeleton, rng.uniform(4.0, 16.0) * unit)
    if rng.random() < 0.5:
        skeleton = _erase_discs(skeleton, rng, int(rng.integers(1, 8)), rng.uniform(1.0, 3.0) * unit)
    if rng.random() < 0.1:
        skeleton = _erase_discs(skeleton, rng, 1, rng.uniform(0.08, 0.2) * side)
    return skeleton


def _recipe_simplify(skeleton, rng, unit, side):
    return _simplify(skeleton, rng.uniform(1.5, 4.0) * unit)


def _recipe_interior(skeleton, rng, unit, side):
    return _drop_interior(skeleton, rng, keep=rng.uniform(0.2, 0.8), min_length=rng.uniform(8.0, 24.0) * unit,
                          band=4.0 * unit)


def _recipe_twins(skeleton, rng, unit, side):
    return _merge_twins(skeleton, max(1.0, rng.uniform(2.0, 4.0) * unit))


def _recipe_doodle(skeleton, rng, unit, side):
    """Everything that moved the line statistics toward the doodles at once: twins merged, interior thinned,
    simplified, a little wobble. The interior keeps more than the interior recipe (most details, only specks
    always go): a drawing without the eyes its photo has teaches the model to paint eyes where none are drawn."""
    skeleton = _recipe_twins(skeleton, rng, unit, side)
    skeleton = _drop_interior(skeleton, rng, keep=rng.uniform(0.6, 1.0), min_length=rng.uniform(3.0, 8.0) * unit,
                              band=4.0 * unit)
    skeleton = _recipe_simplify(skeleton, rng, unit, side)
    return _wobble(skeleton, rng, rng.uniform(0.5, 1.5) * unit)


RECIPES = {"hand": _recipe_hand, "simplify": _recipe_simplify, "interior": _recipe_interior,
           "twins": _recipe_twins, "doodle": _recipe_doodle}


def augment_sketch(sketch: np.ndarray, rng: np.random.Generator, recipe: str = "hand") -> np.ndarray:
    """A random hand-drawn-looking variant of an edge map (HxW uint8, 255 paper, 0 line), same shape and dtype:
    the recipe's steps on the skeleton (see RECIPES), then re-drawn with draw_lines at 0.8x to 2.5x the input's
    own line width. Scales with the image side (the numbers are for 256 px)."""
    sketch = np.asarray(sketch, np.uint8)
    ink = ink_of(sketch)
    skeleton = skeletonize(ink > LINE_LEVEL)
    length = int(skeleton.sum())
    if length == 0:
        return sketch.copy()
    width = float(ink.sum() / length)
    changed = RECIPES[recipe](skeleton, rng, max(sketch.shape) / 256.0, max(sketch.shape))
    if changed.sum() < 0.2 * length:   # a drawing is never taken away whole: keep what there was
        changed = skeleton
    return draw_lines(changed, width * float(np.exp(rng.uniform(np.log(0.8), np.log(2.5)))))
