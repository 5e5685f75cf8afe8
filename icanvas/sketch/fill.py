"""A crayon's colour spread over the part of the drawing it lies in, as a paint bucket would, but smarter.

A child colours part of the shirt and means the shirt. The parts are the paper between the lines: gaps in the
lines are bridged first, as a person would close them: small gaps by a closing (the frame counts as a line, so a
shirt drawn down to the frame is closed by it), and a line that stops short of another line or of the frame is
carried on to it where that lies ahead of it and within reach (the shoulders of a face that end above the page's
edge, the open outline of a doodled shoe, HED's broken outlines of a photo); then the paper is split into parts
at its necks (a watershed of the distance to the lines, from the crayon marks); a small closed loop that the
closing would fill (an eye, a lens) stays a part of its own. Every paper pixel takes the colour of the mark whose
part it lies in, so two colours in one region meet where the region narrows rather than halfway between their
strokes. A part enclosed by lines that no crayon touched (a face left white under yellow hair, joined to the hair
by a gap) stays empty, as do the lines and everything no mark reaches. The generator reads this fill beside the
marks themselves (pix2pix.inputs), so it need not learn on a CPU budget how far a colour reaches.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize
from skimage.segmentation import watershed

from icanvas.sketch.lines import LINE_LEVEL, ink_of

GAP = 0.05           # gaps in the lines up to this share of the side are closed (6 px at 128 px)
REACH = 0.15         # a line end is carried on to the line or frame ahead of it up to this share of the side,
LENGTH_REACH = 0.5   # and up to this share of the line's own length (a smile's ends do not reach for the eyes)
AHEAD = 0.4          # ... lying within acos(AHEAD) (66 degrees) of the line's direction at its end
ROOM = 1.5 / 128     # a closed loop this deep (in half-width) is a part even where the closing fills it
NECK = 2 / 128       # the paper narrowing by this share of the side (in half-width) separates two parts


def _line_ends(skeleton: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The end pixels of a 1-px skeleton (K x 2, y x) and each one's direction (unit, pointing out of the line)."""
    sk = skeleton.astype(np.uint8)
    neighbours = cv2.filter2D(sk, -1, np.ones((3, 3), np.float32), borderType=cv2.BORDER_CONSTANT) - sk
    ends = np.argwhere((sk > 0) & (neighbours == 1))
    if len(ends) == 0:
        return ends, np.zeros((0, 2))
    points = np.argwhere(sk > 0)
    directions = np.zeros((len(ends), 2))
    for i, e in enumerate(ends):   # from the line's pixels near the end, towards the end
        near = points[np.abs(points - e).max(1) <= 4]
        d = e - near.mean(0)
        directions[i] = d / max(np.linalg.norm(d), 1e-6)
    return ends, directions


def _carry_on(ink: np.ndarray) -> np.ndarray:
    """The ink with each line end joined to the nearest other line or the frame ahead of it, within REACH."""
    h, w = ink.shape
    skeleton = skeletonize(ink > 0)
    ends, directions = _line_ends(skeleton)
    if len(ends) == 0 or len(ends) > 200:   # no ends, or a scribble: nothing to carry on
        return ink
    labels, count = ndimage.label(skeleton, np.ones((3, 3)))
    lengths = np.bincount(labels.ravel(), minlength=count + 1)
    points = np.argwhere(skeleton)
    out = ink.copy()
    for e, d in zip(ends, directions):
        reach = min(REACH * max(h, w), LENGTH_REACH * lengths[labels[tuple(e)]])
        offset = points - e
        distance = np.hypot(offset[:, 0], offset[:, 1])
        ahead = (offset @ d) > AHEAD * distance
        target, best = None, reach + 1
        candidates = np.flatnonzero(ahead & (distance > 1.5) & (distance <= reach))
        for i in candidates[np.argsort(distance[candidates])][:5]:   # another line, or far along this one
            if labels[tuple(points[i])] != labels[tuple(e)] or _far_along(skeleton, e, points[i]):
                target, best = points[i], distance[i]
                break
        for frame in _frame_points(e, d, h, w):
            gap = np.hypot(*(frame - e))
            if gap < best and gap <= reach:
                target, best = frame, gap
        if target is not None:
            cv2.line(out, (int(e[1]), int(e[0])), (int(target[1]), int(target[0])), 1, 1)
    return out


def _far_along(skeleton: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether b, on the same line as a, is reached from a only by leaving the box around the two (a gap across
    an open C), rather than along a bend between them."""
    (y0, x0), (y1, x1) = np.minimum(a, b), np.maximum(a, b) + 1
    labels, _ = ndimage.label(skeleton[y0:y1, x0:x1], np.ones((3, 3)))
    return labels[a[0] - y0, a[1] - x0] != labels[b[0] - y0, b[1] - x0]


def _frame_points(e: np.ndarray, d: np.ndarray, h: int, w: int) -> list[np.ndarray]:
    """Where the line from end e in direction d meets the frame (at most one point, as a list)."""
    hits = []
    for axis, limit in ((0, 0), (0, h - 1), (1, 0), (1, w - 1)):
        if abs(d[axis]) > 1e-6:
            t = (limit - e[axis]) / d[axis]
            if t > 0:
                hits.append(t)
    if not hits:
        return []
    t = min(hits)
    return [np.clip(np.round(e + t * d), 0, [h - 1, w - 1]).astype(int)]


def paper_of(lines: np.ndarray) -> np.ndarray:
    """The paper between the lines (HxW uint8, 1 = paper) after their gaps, and those to the frame, are closed."""
    radius = max(1, round(lines.shape[0] * GAP / 2))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    ink = _carry_on((ink_of(lines) > LINE_LEVEL).astype(np.uint8))   # the faint lines of small edge maps too
    framed = cv2.copyMakeBorder(ink, radius, radius, radius, radius, cv2.BORDER_CONSTANT, value=1)
    closed = cv2.morphologyEx(framed, cv2.MORPH_CLOSE, disc)[radius:-radius, radius:-radius]
    return np.maximum(1 - closed, _rooms(ink))


def _rooms(ink: np.ndarray) -> np.ndarray:
    """The small closed loops of the ink (eyes, a pair of glasses: HxW uint8, 1 = inside) that the closing fills,
    those at least ROOM deep: they are parts of their own, coloured on their own."""
    holes = (ndimage.binary_fill_holes(ink) & (ink == 0)).astype(np.uint8)
    labels, count = ndimage.label(holes)
    if count == 0:
        return holes
    deep = cv2.distanceTransform(holes, cv2.DIST_L2, 5) >= ROOM * ink.shape[0]
    keep = np.zeros(count + 1, bool)
    keep[np.unique(labels[deep])] = True
    return keep[labels].astype(np.uint8)


def h_maxima(image: np.ndarray, h: float) -> np.ndarray:
    """The maxima of `image` (float) at least h high, as skimage.morphology.h_maxima (the same pixels) but
    with the reconstruction by dilation done by cv2 (2.4x faster on drawings at 128 px)."""
    if h > np.ptp(image):
        return np.zeros(image.shape, np.uint8)
    image = image.astype(np.float32)
    marker = image - h - 2 * np.finfo(np.float32).resolution * np.abs(image)
    kernel = np.ones((3, 3), np.uint8)
    while True:
        grown = np.minimum(cv2.dilate(marker, kernel), image)
        if np.array_equal(grown, marker):
            break
        marker = grown
    return ((image - marker) >= h).astype(np.uint8)


@dataclass(frozen=True)
class Parts:
    """The parts of a drawing: its paper (paper_of), the distance to the lines, the centre of each part
    (labelled 1..count) and the paper split into parts at its necks (labels, 0 = line). Read-only arrays."""

    paper: np.ndarray
    distance: np.ndarray
    centres: np.ndarray
    labels: np.ndarray
    count: int


@lru_cache(maxsize=64)
def _parts(data: bytes, shape: tuple[int, int]) -> Parts:
    paper = paper_of(np.frombuffer(data, np.uint8).reshape(shape))
    distance = cv2.distanceTransform(paper, cv2.DIST_L2, 5)
    peaks = h_maxima(distance, max(1.0, NECK * paper.shape[0]))
    pieces, piece_count = ndimage.label(paper)   # a piece too shallow for a peak (a small eye) is one part
    shallow = np.setdiff1d(np.arange(1, piece_count + 1), pieces[peaks > 0])
    if len(shallow):
        peaks[tuple(np.array(ndimage.maximum_position(distance, pieces, shallow)).T)] = 1
    centres, count = ndimage.label(peaks)
    labels = watershed(-distance, centres, mask=paper > 0).astype(np.int32)
    for a in (paper, distance, centres, labels):
        a.setflags(write=False)
    return Parts(paper, distance, centres, labels, count)


def parts_of(lines: np.ndarray) -> Parts:
    """The parts of a drawing (HxW uint8, 255 paper) that a fill colours one by one. Remembered for the last
    drawings seen: colouring a drawing, filling its crayon and its variations share one computation."""
    lines = np.ascontiguousarray(lines, np.uint8)
    return _parts(lines.tobytes(), lines.shape)


def _unmarked_rooms(parts: Parts, marks: np.ndarray) -> np.ndarray:
    """The centres of the parts of the paper that no mark touches and that do not reach the frame (HxW bool)."""
    frame = np.zeros(parts.labels.shape, bool)
    frame[[0, -1], :] = frame[:, [0, -1]] = True
    taken = np.union1d(parts.labels[frame], parts.labels[marks > 0])
    return np.isin(parts.centres, np.setdiff1d(np.arange(1, parts.count + 1), taken)) & (marks == 0)


def fill_hints(lines: np.ndarray, hints: np.ndarray) -> np.ndarray:
    """The fill (HxWx4 uint8 hint layer: RGB + mask) of a hint layer over the parts of `lines` (HxW uint8,
    255 paper, 0 line), at the same size."""
    mask = hints[:, :, 3] > 127
    out = np.zeros_like(hints)
    if not mask.any():
        return out
    parts = parts_of(lines)
    colours, index = np.unique(hints[mask][:, :3], axis=0, return_inverse=True)
    marks = np.zeros(parts.paper.shape, np.int32)
    marks[mask] = index.ravel() + 1
    marks[parts.paper == 0] = 0
    empty = len(colours) + 1
    marks[_unmarked_rooms(parts, marks)] = empty
    labels = watershed(-parts.distance, marks, mask=parts.paper > 0)
    coloured = (labels > 0) & (labels < empty)
    out[coloured, :3] = colours[labels[coloured] - 1]
    out[coloured, 3] = 255
    return out
