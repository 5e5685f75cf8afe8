"""Measuring the sketch gap: how line drawings differ, in numbers, between HED edges and what people draw.

All measures are on a drawing at its model size (HxW uint8, 255 paper, 0 line), on the skeleton of its lines:

- lines: connected lines (8-connected pieces of the skeleton);
- length: skeleton length in frame widths (how much is drawn);
- interior: the share of the length inside the outer outline (details vs silhouette);
- vertices: corners per 100 px of line when the lines are approximated by polygons within 1.5 px (wobble and
  detail: a smooth stroke needs few, a jagged edge many);
- short: the share of lines shorter than 5 % of the frame (specks and fragments);
- width: the average stroke width in pixels (sketch.lines.line_width_of).
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.morphology import skeletonize

from icanvas.sketch.lines import LINE_LEVEL, ink_of, line_width_of, outline_of

MEASURES = ("lines", "length", "interior", "vertices", "short", "width")
OUTLINE_BAND = 4.0     # px at 256: skeleton pixels this close to the silhouette's edge belong to the outline
POLYGON_TOLERANCE = 1.5


def line_stats(drawing: np.ndarray) -> dict[str, float] | None:
    """The measures above for one drawing; None for a blank one."""
    skeleton = skeletonize(ink_of(drawing) > LINE_LEVEL)
    total = int(skeleton.sum())
    if total == 0:
        return None
    side = max(drawing.shape)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(skeleton.astype(np.uint8), connectivity=8)
    sizes = stats[1:, cv2.CC_STAT_AREA]
    outline = outline_of(skeleton, OUTLINE_BAND * side / 256)
    contours, _ = cv2.findContours(skeleton.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    corners = sum(len(cv2.approxPolyDP(c, POLYGON_TOLERANCE, False)) for c in contours)
    return {"lines": float(count - 1), "length": total / side,
            "interior": float((skeleton & ~outline).sum() / total),
            "vertices": 100.0 * corners / (2 * total),   # contours of 1-px lines go round both sides
            "short": float((sizes < 0.05 * side).mean()), "width": float(line_width_of(drawing) or 0.0)}


def summarize(drawings: list[np.ndarray]) -> dict[str, float]:
    """The median of each measure over a set of drawings (blank ones left out), and how many were measured."""
    rows = [s for s in map(line_stats, drawings) if s is not None]
    summary = {k: round(float(np.median([r[k] for r in rows])), 3) if rows else float("nan") for k in MEASURES}
    return {**summary, "drawings": len(rows)}
