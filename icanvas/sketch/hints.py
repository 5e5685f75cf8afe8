"""Colour hints: what a child's crayon adds to a drawing, in the form the model takes it.

A hint layer is an HxWx4 uint8 array: RGB the crayon's colour, alpha 255 where a hint lies and 0 elsewhere
(RGB is 0 there too). `normalize_drawing` reads one from a drawing; `simulate_hints` draws one from a photo,
for training (a random number of strokes) and for the benchmark (exactly k strokes).

Which colours a crayon can give is one rule shared by both sides (`crayon_colour`): a colour is a hint when it
is saturated against the paper and not dark. Black, grey and white are lines or paper, so the simulation never
colours a region a child could not colour either.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from icanvas.core.errors import BadInput

# A colour relative to the paper (paper = 1 in each channel): its depth is 1 - min (how much of the paper it
# covers), its purity (max - min) / depth. Mixing a crayon with paper (anti-aliasing, a light touch) scales
# depth and keeps purity, so purity tells crayon from pencil at any pressure.
MIN_DEPTH = 0.12       # lighter than this is paper (or paper noise)
MIN_PURITY = 0.3       # palette crayons are 0.49 (green) and up; black and grey pencil are under 0.1
MIN_LIGHTNESS = 0.25   # darker than this is a pen line, however saturated (dark blue ballpoint: 0.17)

NO_HINT_SHARE = 0.6    # training samples without any crayon hint; of all samples, these (from those) are
CHOSEN_SHARE = 0.4     # coloured as icanvas colours a line drawing instead (pix2pix.dataset), the rest bare
MAX_STROKES = 20
KINDS = ("scribble", "stroke", "dots", "fill")
KIND_CUMULATIVE = np.cumsum((0.4, 0.25, 0.15, 0.2))
REGION_TOLERANCE = 12  # a region is where the (median-filtered) photo stays within this of the seed, per channel
FILL_TOLERANCE = (REGION_TOLERANCE,) * 3


def depth_and_purity(relative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth and purity (see above) of colours relative to the paper (float, ...x3, paper = 1)."""
    r, g, b = relative[..., 0], relative[..., 1], relative[..., 2]
    lo, hi = np.minimum(np.minimum(r, g), b), np.maximum(np.maximum(r, g), b)   # (min over axis -1 is slow)
    depth = 1.0 - lo
    return depth, (hi - lo) / np.maximum(depth, 1e-6)


def lightness(rgb01: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of colours in 0..1 (the grey cv2 uses for lines)."""
    return rgb01 @ np.array([0.299, 0.587, 0.114], np.float32)


def crayon_colour(rgb: np.ndarray) -> np.ndarray:
    """Whether colours (...x3 uint8 RGB, on white paper) read as crayon hints rather than lines or paper."""
    rel = np.asarray(rgb, np.float32) / 255.0
    depth, purity = depth_and_purity(rel)
    return (depth >= MIN_DEPTH) & (purity >= MIN_PURITY) & (lightness(rel) >= MIN_LIGHTNESS)


def empty_hints(height: int, width: int) -> np.ndarray:
    return np.zeros((height, width, 4), np.uint8)


def check_hints(hints: np.ndarray, shape: tuple[int, int] | None = None, name: str = "hints") -> np.ndarray:
    """A hint layer as documented (HxWx4 uint8), optionally of a given height and width; else BadInput."""
    hints = np.asarray(hints)
    if hints.ndim != 3 or hints.shape[2] != 4 or hints.dtype != np.uint8:
        raise BadInput(f"{name}: a hint layer is HxWx4 uint8 (RGB + mask), got {hints.shape} {hints.dtype}")
    if shape is not None and hints.shape[:2] != tuple(shape):
        raise BadInput(f"{name}: hint layer is {hints.shape[1]}x{hints.shape[0]}, the picture "
                       f"{shape[1]}x{shape[0]}")
    return hints


def with_chosen(hints: np.ndarray, chosen: np.ndarray | None) -> np.ndarray:
    """A child's crayon (hint layer) and, where it has none, colours chosen for the blank parts (a hint layer
    of the same size, sketch.colouring; None: none chosen)."""
    if chosen is None or not chosen[:, :, 3].any():
        return hints
    return np.where(hints[:, :, 3:] > 127, hints, chosen)


# ---- simulation -----------------------------------------------------------------------------------------------

def stroke_count(rng: np.random.Generator) -> int:
    """The training distribution: none for NO_HINT_SHARE of the samples, else 1..20, small counts more often
    (log-uniform: as many samples with 1-4 strokes as with 5-20)."""
    if rng.random() < NO_HINT_SHARE:
        return 0
    return int(min(MAX_STROKES, np.exp(rng.uniform(0.0, np.log(MAX_STROKES + 1)))))


class _Seeds:
    """Where a crayon may start: inside flat regions of a crayon colour, away from their edges. A region is
    chosen with a weight growing as the square root of its area (big areas more often than small ones, but a
    background does not take every stroke), specks never; then a start inside it. A region once coloured is not
    chosen again until every region has been: a child colours the hair, then the shirt, not the hair five
    times."""

    def __init__(self, smooth: np.ndarray, chromatic_only: bool) -> None:
        side = min(smooth.shape[:2])
        steep = cv2.morphologyEx(smooth, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > REGION_TOLERANCE
        flat = (~(steep[..., 0] | steep[..., 1] | steep[..., 2])).astype(np.uint8)
        self.depth = cv2.distanceTransform(flat, cv2.DIST_L2, 3)
        count, self.regions, stats, _ = cv2.connectedComponentsWithStats(flat, connectivity=4)
        share = 1.0 / np.sqrt(np.maximum(stats[:, cv2.CC_STAT_AREA], 1))   # per pixel: area x this = sqrt(area)
        weight = np.where(self.depth >= max(2.0, 0.012 * side), share[self.regions], 0.0)
        if chromatic_only:
            weight *= crayon_colour(smooth)
        # the possible starts grouped by region, each group with its running weight: two-level sampling
        labels = self.regions.ravel()
        self.starts = np.flatnonzero(weight.ravel() > 0)
        self.starts = self.starts[np.argsort(labels[self.starts], kind="stable")]
        self.running = np.cumsum(weight.ravel()[self.starts], dtype=np.float64)
        self.ends = np.searchsorted(labels[self.starts], np.arange(count), side="right")
        self.region_weight = np.bincount(labels, weights=weight.ravel(), minlength=count)
        self.left = self.region_weight.copy()
        self.width = smooth.shape[1]

    @property
    def empty(self) -> bool:
        return self.region_weight.sum() <= 0.0

    def coloured(self, window: tuple[slice, slice], mask: np.ndarray) -> None:
        self.left[self.regions[window][mask]] = 0.0
        if self.left.sum() <= 0.0:
            self.left = self.region_weight.copy()

    def draw(self, rng: np.random.Generator) -> tuple[int, int, float]:
        cumulative = np.cumsum(self.left)
        region = min(int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")), len(self.left) - 1)
        lo = self.running[self.ends[region - 1] - 1] if region > 0 and self.ends[region - 1] > 0 else 0.0
        hi = self.running[self.ends[region] - 1]
        i = int(np.searchsorted(self.running, lo + rng.random() * (hi - lo), side="right"))
        y, x = divmod(int(self.starts[min(i, self.ends[region] - 1)]), self.width)
        return x, y, float(self.depth[y, x])


def _zigzag(rng: np.random.Generator, length: float, passes: int, spacing: float) -> np.ndarray:
    """Back-and-forth passes along x, stepping along y: the turning points wander, as a hand's do."""
    i = np.arange(passes + 1)
    x = np.where(i % 2 == 0, -0.5, 0.5) * length * rng.uniform(0.75, 1.15, passes + 1)
    y = (i - passes / 2) * spacing * rng.uniform(0.8, 1.2, passes + 1)
    return np.stack([x, y], 1)


def _gesture(kind: str, rng: np.random.Generator, depth: float, width: float, side: int) -> list[np.ndarray]:
    """A gesture's polylines (float, around the origin, before rotation), sized to the region it starts in."""
    if kind == "scribble":
        length = np.clip(depth * rng.uniform(1.0, 2.5), 2 * width, 0.25 * side)
        return [_zigzag(rng, length, int(rng.integers(3, 9)), width * rng.uniform(0.5, 1.0))]
    if kind == "stroke":
        length = np.clip(depth * rng.uniform(1.0, 3.0), 2 * width, 0.3 * side)
        t = np.linspace(-0.5, 0.5, 8)
        bend = rng.uniform(-0.25, 0.25) * length
        return [np.stack([t * length, bend * (1 - 4 * t ** 2)], 1)]
    if kind == "dots":
        spread = min(depth, 3 * width)
        return [rng.uniform(-spread, spread, (1, 2)) for _ in range(int(rng.integers(1, 5)))]
    # a rough fill: dense passes over a window of the region (clipped to the region later)
    reach = min(depth * rng.uniform(2.0, 4.0), 0.35 * side)
    return [_zigzag(rng, 2 * reach, max(2, int(2 * reach / (0.8 * width))), 0.8 * width)]


def _stroke(photo: np.ndarray, smooth: np.ndarray, rng: np.random.Generator, seeds: _Seeds
            ) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
    """One crayon gesture inside one region: (window, mask in the window, colour), or None if it fell off."""
    h, w = photo.shape[:2]
    side = min(h, w)
    x, y, depth = seeds.draw(rng)
    kind = KINDS[min(int(np.searchsorted(KIND_CUMULATIVE, rng.random(), side="right")), len(KINDS) - 1)]
    width = max(2.0, side * rng.uniform(0.018, 0.045))
    angle = rng.uniform(0.0, np.pi)
    c, s = math.cos(angle), math.sin(angle)
    lines = [p @ np.array([[c, s], [-s, c]]) + (x, y) for p in _gesture(kind, rng, depth, width, side)]
    pts = np.concatenate(lines)
    (lx, ly), (hx, hy) = pts.min(0), pts.max(0)
    # the window: the gesture and its seed, one crayon width around
    x0, y0 = max(0, int(min(lx, x) - width)), max(0, int(min(ly, y) - width))
    x1, y1 = min(w, int(max(hx, x) + width) + 2), min(h, int(max(hy, y) + width) + 2)
    window = (slice(y0, y1), slice(x0, x1))
    # the region: the photo's flood fill from the seed, inside the window
    region = np.zeros((y1 - y0 + 2, x1 - x0 + 2), np.uint8)
    cv2.floodFill(np.ascontiguousarray(smooth[window]), region, (x - x0, y - y0), 0, FILL_TOLERANCE,
                  FILL_TOLERANCE, 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
    region = region[1:-1, 1:-1]
    if kind == "fill":   # a child stays a little away from the lines
        r = int(rng.uniform(0.0, 0.6) * width)
        if r:
            region = cv2.erode(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    mask = np.zeros_like(region)
    if kind == "dots":
        for p in lines:
            radius = max(1, int(width * rng.uniform(0.5, 0.9)))
            cv2.circle(mask, (int(p[0, 0]) - x0, int(p[0, 1]) - y0), radius, 1, -1)
    else:
        cv2.polylines(mask, [np.round(p - (x0, y0)).astype(np.int32) for p in lines], False, 1,
                      max(1, round(width)))
    drawn = cv2.countNonZero(mask)
    mask &= region
    inside = cv2.countNonZero(mask)
    # a stroke mostly outside its region would be a fragment; a fill only has to cover something
    if inside < max(4, width) or (kind != "fill" and inside < 0.5 * drawn):
        return None
    mask = mask.view(bool)
    pixels = photo[window][mask]
    pixels = pixels[:: max(1, len(pixels) // 1024)]          # a median over a sample: bounded time
    return window, mask, np.partition(pixels, len(pixels) // 2, axis=0)[len(pixels) // 2]


def simulate_hints(photo: np.ndarray, rng: np.random.Generator, strokes: int | None = None,
                   chromatic_only: bool = True) -> np.ndarray:
    """Crayon hints a child might add to the drawing of `photo` (HxWx3 uint8, any size): a hint layer.

    `strokes=None` draws the training distribution (40 % none, else 1..20); `strokes=k` draws k gestures
    (scribbles, short strokes, dots, rough fills), each inside one region of the photo (a flood fill at a small
    tolerance), clipped to it and coloured with the photo's median colour under the gesture. Wide as a crayon:
    2-4.5 % of the photo's side. Only regions of a crayon colour are coloured (`crayon_colour`) unless
    `chromatic_only` is False, so a photo without such a region gets no hints. Deterministic for a given rng state.
    """
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] < 3 or photo.dtype != np.uint8:
        raise BadInput(f"photo: expected HxWx3 uint8 RGB, got {photo.shape} {photo.dtype}")
    if strokes is not None and strokes < 0:
        raise BadInput(f"strokes: must be 0 or more, got {strokes}")
    photo = np.ascontiguousarray(photo[..., :3])
    h, w = photo.shape[:2]
    layer = empty_hints(h, w)
    count = stroke_count(rng) if strokes is None else strokes
    if count == 0 or min(h, w) < 8:
        return layer
    smooth = cv2.medianBlur(photo, 3)             # regions by colour, not by pixel noise
    seeds = _Seeds(smooth, chromatic_only)
    if seeds.empty:
        return layer
    for _ in range(count):
        for _attempt in range(6):
            stroke = _stroke(photo, smooth, rng, seeds)
            if stroke is not None:
                window, mask, colour = stroke
                layer[window][mask] = (*colour, 255)
                seeds.coloured(window, mask)
                break
    return layer
