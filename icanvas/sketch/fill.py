"""A crayon's colour spread over the region of the drawing it lies in, as a paint bucket would.

A child colours part of the shirt and means the shirt. The regions are the paper between the lines; every paper
pixel of a region that holds hints takes the colour of its nearest hint pixel in that region (so two colours in one
region, or a region that leaks through a gap in the lines, split between their strokes); regions without a hint,
and the lines themselves, stay empty. The generator reads this fill beside the hints themselves
(pix2pix.inputs), so it need not learn on a CPU budget how far a colour reaches.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from icanvas.sketch.lines import LINE_LEVEL, ink_of

GAP = 0.05   # gaps in the lines up to this share of the side are closed (6 px at 128 px)


def fill_hints(lines: np.ndarray, hints: np.ndarray) -> np.ndarray:
    """The fill (HxWx4 uint8 hint layer: RGB + mask) of a hint layer over the regions of `lines` (HxW uint8,
    255 paper, 0 line), at the same size."""
    mask = hints[:, :, 3] > 127
    out = np.zeros_like(hints)
    if not mask.any():
        return out
    # The lines closed first (a morphological closing bridges their gaps, then gives them back their width), so
    # that a colour does not leak through the gaps of edge maps and quick drawings.
    radius = max(1, round(lines.shape[0] * GAP / 2))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    ink = (ink_of(lines) > LINE_LEVEL).astype(np.uint8)        # the faint lines of small edge maps too
    paper = 1 - cv2.morphologyEx(ink, cv2.MORPH_CLOSE, disc)
    _, regions = cv2.connectedComponents(paper, connectivity=4)
    hinted = np.unique(regions[mask & (paper > 0)])
    for region in hinted[hinted > 0]:                      # label 0: the lines
        inside = regions == region
        ys, xs = np.nonzero(inside)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        box, seeds = inside[y0:y1, x0:x1], mask[y0:y1, x0:x1] & inside[y0:y1, x0:x1]
        target = out[y0:y1, x0:x1]
        seed_colours = hints[y0:y1, x0:x1, :3][seeds]
        if (seed_colours == seed_colours[0]).all():       # one colour: the whole region
            target[box, :3] = seed_colours[0]
        else:                                             # the nearest hint pixel of the region
            _, (iy, ix) = ndimage.distance_transform_edt(~seeds, return_indices=True)
            target[box, :3] = hints[y0:y1, x0:x1, :3][iy, ix][box]
        target[box, 3] = 255
    return out
