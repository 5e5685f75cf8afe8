"""A crayon's colour spread over the part of the drawing it lies in, as a paint bucket would, but smarter.

A child colours part of the shirt and means the shirt. The parts are the paper between the lines: gaps in the
lines are bridged first (a closing; the frame counts as a line, so a shirt drawn down to the frame is closed by
it), then the paper is split into parts at its necks (a watershed of the distance to the lines, from the crayon
marks). Every paper pixel takes the colour of the mark whose part it lies in, so two colours in one region meet
where the region narrows rather than halfway between their strokes. A part enclosed by lines that no crayon
touched (a face left white under yellow hair, joined to the hair by a gap) stays empty, as do the lines and
everything no mark reaches. The generator reads this fill beside the marks themselves (pix2pix.inputs), so it
need not learn on a CPU budget how far a colour reaches.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

from icanvas.sketch.lines import LINE_LEVEL, ink_of

GAP = 0.05           # gaps in the lines up to this share of the side are closed (6 px at 128 px)
NECK = 2 / 128       # the paper narrowing by this share of the side (in half-width) separates two parts


def paper_of(lines: np.ndarray) -> np.ndarray:
    """The paper between the lines (HxW uint8, 1 = paper) after their gaps, and those to the frame, are closed."""
    radius = max(1, round(lines.shape[0] * GAP / 2))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    ink = (ink_of(lines) > LINE_LEVEL).astype(np.uint8)        # the faint lines of small edge maps too
    framed = cv2.copyMakeBorder(ink, radius, radius, radius, radius, cv2.BORDER_CONSTANT, value=1)
    closed = cv2.morphologyEx(framed, cv2.MORPH_CLOSE, disc)[radius:-radius, radius:-radius]
    return 1 - closed


def _unmarked_rooms(distance: np.ndarray, paper: np.ndarray, marks: np.ndarray) -> np.ndarray:
    """The centres of the parts of the paper that no mark touches and that do not reach the frame (HxW bool)."""
    centres, count = ndimage.label(h_maxima(distance, max(1.0, NECK * paper.shape[0])))
    parts = watershed(-distance, centres, mask=paper > 0)
    frame = np.zeros(paper.shape, bool)
    frame[[0, -1], :] = frame[:, [0, -1]] = True
    taken = np.union1d(parts[frame], parts[marks > 0])
    return np.isin(centres, np.setdiff1d(np.arange(1, count + 1), taken)) & (marks == 0)


def fill_hints(lines: np.ndarray, hints: np.ndarray) -> np.ndarray:
    """The fill (HxWx4 uint8 hint layer: RGB + mask) of a hint layer over the parts of `lines` (HxW uint8,
    255 paper, 0 line), at the same size."""
    mask = hints[:, :, 3] > 127
    out = np.zeros_like(hints)
    if not mask.any():
        return out
    paper = paper_of(lines)
    distance = cv2.distanceTransform(paper, cv2.DIST_L2, 5)
    colours, index = np.unique(hints[mask][:, :3], axis=0, return_inverse=True)
    marks = np.zeros(paper.shape, np.int32)
    marks[mask] = index.ravel() + 1
    marks[paper == 0] = 0
    empty = len(colours) + 1
    marks[_unmarked_rooms(distance, paper, marks)] = empty
    labels = watershed(-distance, marks, mask=paper > 0)
    coloured = (labels > 0) & (labels < empty)
    out[coloured, :3] = colours[labels[coloured] - 1]
    out[coloured, 3] = 255
    return out
