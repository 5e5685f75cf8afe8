"""What a line drawing looks like, for both sides of the sketch gap: ink, line width, margins, the sketch style.

`measure_style` describes the training sketches (line width, margins); train stores it with every checkpoint
and normalisation reads it back. Normalisation and augmentation draw lines with the same `draw_lines`, so
widths agree.
"""

from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np
from scipy.ndimage import binary_fill_holes, distance_transform_edt
from skimage.morphology import skeletonize

DEFAULT_STYLE = {"line_width": 1.0, "margin": 0.05}
LINE_LEVEL = 0.25  # ink above this is part of a line (training edges resized to 128 px peak near 0.5)


def ink_of(sketch: np.ndarray) -> np.ndarray:
    """HxW uint8 drawing (255 paper, 0 line) to ink in [0, 1] (1 = full line)."""
    return (255.0 - np.asarray(sketch, np.float32)) / 255.0


def draw_lines(skeleton: np.ndarray, width: float) -> np.ndarray:
    """Draw a 1-pixel skeleton (bool HxW) as anti-aliased lines `width` pixels wide (uint8, 0 = line).

    Ink falls off linearly with the distance to the skeleton, so the ink per skeleton pixel is `width`:
    the same quantity `line_width_of` measures. Under 1 pixel, a line is one pixel of lighter ink.
    """
    if not skeleton.any():
        return np.full(skeleton.shape, 255, np.uint8)
    if width < 1.0:
        ink = skeleton * width
    else:
        ink = np.clip(width / 2.0 + 0.5 - distance_transform_edt(~skeleton), 0.0, 1.0)
    return (255.0 - ink * 255.0 + 0.5).astype(np.uint8)


def line_width_of(sketch: np.ndarray) -> float | None:
    """Average stroke width in pixels: total ink over skeleton length (None for an empty drawing)."""
    ink = ink_of(sketch)
    skeleton = skeletonize(ink > LINE_LEVEL)
    n = int(skeleton.sum())
    return float(ink.sum() / n) if n else None


def outline_of(skeleton: np.ndarray, band: float) -> np.ndarray:
    """Where the outer outline of a drawing is (bool HxW): the band `band` px wide along the edge of its
    silhouette, the area its lines enclose once gaps of up to 3 % of the frame are closed."""
    radius = max(2, round(0.03 * max(skeleton.shape)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    pad = radius + 1   # so that closing works at the frame's edge too
    padded = np.pad(skeleton.astype(np.uint8), pad)
    silhouette = binary_fill_holes(cv2.morphologyEx(padded, cv2.MORPH_CLOSE, disc))[pad:-pad, pad:-pad]
    return silhouette & (distance_transform_edt(np.pad(silhouette, 1))[1:-1, 1:-1] <= band)


SIDES = ("top", "bottom", "left", "right")


def margins_of(sketch: np.ndarray) -> dict[str, float] | None:
    """The gaps between the drawing's bounding box and each side of the frame, as fractions of the frame."""
    mask = ink_of(sketch) > LINE_LEVEL
    if not mask.any():
        return None
    h, w = mask.shape
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return {"top": rows[0] / h, "bottom": (h - 1 - rows[-1]) / h, "left": cols[0] / w, "right": (w - 1 - cols[-1]) / w}


def margin_of(sketch: np.ndarray) -> float | None:
    """The smallest of the four margins (None for an empty drawing)."""
    m = margins_of(sketch)
    return None if m is None else float(min(m.values()))


def measure_style(sketches: Iterable[np.ndarray]) -> dict:
    """How the training sketches look, at the size they are given (the model size): median line width (px),
    median margin on each side and the smallest of those (fractions of the frame). Stored with each checkpoint
    as ModelInfo.sketch_style."""
    widths, margins = [], []
    for s in sketches:
        w, m = line_width_of(s), margins_of(s)
        if w is not None:
            widths.append(w)
            margins.append(m)
    if not widths:
        return dict(DEFAULT_STYLE, sketches=0)
    sides = {k: round(float(np.median([m[k] for m in margins])), 4) for k in SIDES}
    return {"line_width": round(float(np.median(widths)), 3), "margin": min(sides.values()), "margins": sides,
            "sketches": len(widths)}
