"""Reading crayon colour from a drawing: which strokes are colour hints, their colours, and what the line
reader must ignore so that a crayon patch leaves no outline.

Colours are judged against the paper: the paper's colour is fitted as a smooth surface (uneven light and a
colour cast divide out, as a white balance), then each pixel has a depth and a purity (hints.depth_and_purity).
Saturated pixels form strokes; a stroke whose colour is a crayon colour (hints.crayon_colour) is a hint, any
other (a dark blue ballpoint) stays a line. On a dark canvas the same holds with the canvas inverted.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.color import rgb2lab

from icanvas.core.errors import BadInput
from icanvas.sketch.hints import MIN_DEPTH, MIN_PURITY, crayon_colour, depth_and_purity

BOUNDARY = 0.12     # a change of crayon: the ink's direction (normalised absorbance) jumps this much
ERASE_RADIUS = 2    # px: the anti-aliased rim of a crayon patch, erased from the lines too
COLOUR_SIDE = 512   # colour is read at most this size
LOOKS_SATURATED = 0.45   # cream paper is 0.22, a dark blue-grey canvas (30, 34, 48) 0.38, crayons 0.47 and up
SAME_COLOUR = 8.0   # CIE76: strokes closer than this in colour are one crayon
PAPER_BAND = 1.0    # levels (of 255) below the paper's surface that still count as paper, at the least


@dataclass(frozen=True)
class Crayon:
    """The colour of a drawing at its working size: stroke labels (0 = none), their colours, and what to erase
    from the lines (the strokes and their rims, but never a line's own pixels)."""

    labels: np.ndarray    # HxW int32, 0 none, i = colours[i - 1]
    colours: np.ndarray   # Kx3 uint8
    erase: np.ndarray     # HxW bool

    @property
    def empty(self) -> bool:
        return len(self.colours) == 0

    def layer(self) -> tuple[np.ndarray, np.ndarray]:
        """(colour premultiplied by coverage HxWx3 float32 0..1, coverage HxW float32): the form that resizes and
        frames like the lines do."""
        alpha = (self.labels > 0).astype(np.float32)
        table = np.concatenate([np.zeros((1, 3), np.float32), self.colours.astype(np.float32) / 255.0])
        return table[self.labels], alpha


def _paper_colour(rgb: np.ndarray) -> np.ndarray:
    """The paper's colour everywhere (HxWx3 float32): per channel, a smooth surface fitted by least squares to
    the pixels not darker than it (beyond the paper's noise). Ink and crayon are darker than paper in some
    channel, so the fit settles on the paper even where the drawing covers most of the page; uneven light and
    a colour cast fall out with it. A level first, then a slope, then curvature: each starts from what the
    simpler surface took for paper, so a surface bent to follow a large patch is never where it starts."""
    h, w = rgb.shape[:2]
    scale = 64 / max(h, w)
    sh, sw = max(2, round(h * scale)), max(2, round(w * scale))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float64)
    # the paper's noise, from differences between neighbours (strokes are too few of them to matter)
    noise = 1.4826 * np.median(np.abs(np.diff(small, axis=1)), axis=(0, 1)) / np.sqrt(2.0)
    small = small.reshape(-1, 3)
    yy, xx = np.mgrid[0:sh, 0:sw]
    x, y = (xx.ravel() / max(sw - 1, 1)) * 2 - 1, (yy.ravel() / max(sh - 1, 1)) * 2 - 1
    basis = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], 1)
    fit = np.empty_like(small)
    for c in range(3):
        band = max(3.0 * noise[c], PAPER_BAND)
        paper = np.ones(len(small), bool)
        for terms in (1, 3, 6):
            for _ in range(10):
                on = basis[paper, :terms]
                coef = np.linalg.solve(on.T @ on + 1e-9 * np.eye(terms), on.T @ small[paper, c])
                fit[:, c] = basis[:, :terms] @ coef
                settled = paper
                paper = small[:, c] >= fit[:, c] - band
                if paper.sum() < 6 or np.array_equal(paper, settled):
                    paper = settled
                    break
    fit = fit.reshape(sh, sw, 3).astype(np.float32)
    return np.maximum(cv2.resize(fit, (w, h), interpolation=cv2.INTER_LINEAR), 8.0)


def looks_coloured(rgb: np.ndarray) -> np.ndarray:
    """Pixels that are plainly a colour whatever the paper (before the paper is known): saturated (HSV
    saturation >= LOOKS_SATURATED) and not dark. Cream paper, grey and dark canvases are not; crayons are."""
    r, g, b = (np.asarray(rgb[..., i], np.float32) for i in range(3))
    hi = np.maximum(np.maximum(r, g), b)
    return (hi - np.minimum(np.minimum(r, g), b) >= LOOKS_SATURATED * hi) & (hi >= 64)


def _same_colour(colours: np.ndarray) -> list[list[int]]:
    """Groups of nearly the same colour (CIE76 under SAME_COLOUR; the first of a group is its centre): one
    crayon is one colour, whatever the noise, the pressure or the light on its parts."""
    lab = rgb2lab(np.clip(colours, 0, 255)[None] / 255.0)[0]
    groups: list[list[int]] = []
    for k in range(len(colours)):
        for group in groups:
            if np.linalg.norm(lab[k] - lab[group[0]]) < SAME_COLOUR:
                group.append(k)
                break
        else:
            groups.append([k])
    return groups


def read_crayon(rgb: np.ndarray, light_lines: bool) -> Crayon:
    """The colour hints of a drawing (HxWx3, any numeric type 0..255); `light_lines` for a dark canvas.
    Colour is read at COLOUR_SIDE at most (hints end at the model size) and its maps scaled back to the input's."""
    rgb = np.asarray(rgb, np.float32)
    h, w = rgb.shape[:2]
    scale = COLOUR_SIDE / max(h, w)
    if scale >= 1.0:
        return _read(rgb, light_lines)
    small = _read(cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
                             interpolation=cv2.INTER_AREA), light_lines)
    labels = cv2.resize(small.labels, (w, h), interpolation=cv2.INTER_NEAREST)
    erase = cv2.resize(small.erase.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    return Crayon(labels, small.colours, erase)


def _read(rgb: np.ndarray, light_lines: bool) -> Crayon:
    h, w = rgb.shape[:2]
    none = Crayon(np.zeros((h, w), np.int32), np.zeros((0, 3), np.uint8), np.zeros((h, w), bool))
    if min(h, w) < 8:                                        # too small to tell paper from crayon
        return none
    ink_side = 255.0 - rgb if light_lines else rgb          # paper light, ink darker, in every case
    relative = np.clip(ink_side / _paper_colour(ink_side), 0.0, 1.0)
    depth, purity = depth_and_purity(relative)
    # the paper's noise, from differences between neighbours (the paper may be the smaller part of the page)
    noise = 1.4826 * float(np.median(np.abs(np.diff(depth[::2], axis=1)))) / np.sqrt(2.0)
    min_depth = max(MIN_DEPTH, 8.0 * noise)
    inked = depth >= min_depth
    saturated = inked & (purity >= MIN_PURITY)
    min_area = max(9, round((0.012 * max(h, w)) ** 2))      # smaller is a speck, not a stroke
    if np.count_nonzero(saturated) < min_area:
        return none
    count, parts, cores = _strokes(relative, depth, saturated, min_depth, min_area)
    # a stroke's colour: balanced against the paper (on a dark canvas, as painted)
    colour_of = (rgb if light_lines else relative * 255.0).reshape(-1, 3)
    kind, colours = _crayons(count, cores, colour_of)
    if not colours:
        return none
    labels = np.maximum(kind[parts], 0)
    line_like = (inked & ~saturated) | (kind[parts] < 0)
    # the rims and crayon boundaries left out of the strokes join the stroke next to them
    rest = saturated & (labels == 0) & ~line_like
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(3):
        grown = cv2.dilate(labels.astype(np.float32), kernel).astype(np.int32)
        labels = np.where(rest & (labels == 0), grown, labels)
    near = cv2.dilate((labels > 0).astype(np.uint8), np.ones((2 * ERASE_RADIUS + 1,) * 2, np.uint8)) > 0
    return Crayon(labels, np.array(colours, np.uint8), near & ~line_like)


def _strokes(relative: np.ndarray, depth: np.ndarray, saturated: np.ndarray, min_depth: float, min_area: int
             ) -> tuple[int, np.ndarray, list[tuple[int, np.ndarray]]]:
    """The strokes of saturated ink: (label count, label image, [(label, its most covered pixels as flat
    indices)] for strokes of min_area and more, largest first). Strokes part where the crayon changes: the
    direction of the ink (what it absorbs, whatever the pressure) jumps; among well-covered pixels only, as a
    rim is too pale to tell."""
    direction = (1.0 - relative) / np.maximum(depth, 1e-6)[..., None]
    kernel = np.ones((3, 3), np.uint8)
    inside = saturated[..., None]
    spread = (cv2.dilate(np.where(inside, direction, np.float32(-1.0)), kernel)
              - cv2.erode(np.where(inside, direction, np.float32(2.0)), kernel)) > BOUNDARY
    jump = spread[..., 0] | spread[..., 1] | spread[..., 2]
    deep = saturated & (depth >= 1.5 * min_depth)
    count, parts, stats, _ = cv2.connectedComponentsWithStats((deep & ~jump).astype(np.uint8), connectivity=4)
    big = [i for i in np.argsort(-stats[:, cv2.CC_STAT_AREA], kind="stable")
           if i != 0 and stats[i, cv2.CC_STAT_AREA] >= min_area]
    flat = parts.ravel()
    inked = np.flatnonzero(flat) if big else np.zeros(0, np.int64)
    order = inked[np.argsort(flat[inked], kind="stable")]        # pixels grouped by stroke
    bounds = np.searchsorted(flat[order], np.arange(count + 1))
    cores = []
    for i in big:
        where = order[bounds[i]:bounds[i + 1]]
        d = depth.ravel()[where]
        cores.append((int(i), where[d >= np.quantile(d, 0.75)]))   # the rim is crayon mixed with paper
    return count, parts, cores


def _crayons(count: int, cores: list[tuple[int, np.ndarray]], colour_of: np.ndarray
             ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Which crayon each stroke is: (per label: colour number 1.., -1 a pen line, 0 none; the colours).
    Strokes of nearly one colour are one crayon, coloured by the median over all their cores; a colour that is
    not a crayon's (saturated but dark) is a pen line."""
    kind = np.zeros(count, np.int32)
    colours: list[np.ndarray] = []
    if not cores:
        return kind, colours
    firsts = np.array([np.median(colour_of[core], axis=0) for _, core in cores])
    for group in _same_colour(firsts):
        colour = np.median(colour_of[np.concatenate([cores[k][1] for k in group])], axis=0).round().astype(np.uint8)
        is_crayon = bool(crayon_colour(colour))
        if is_crayon:
            colours.append(colour)
        for k in group:
            kind[cores[k][0]] = len(colours) if is_crayon else -1
    return kind, colours


def crayon_layer(rgba: np.ndarray, shape: tuple[int, int]) -> Crayon:
    """A crayon layer sent apart from the lines (HxWx4 uint8: colour where alpha is over half, as the drawing
    page's crayon canvas), at the lines' height and width `shape`. Every colour counts, black, brown and navy
    included: nothing on this layer is a line. Colours within SAME_COLOUR are one crayon."""
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise BadInput(f"crayons: expected an image with transparency (RGBA), got shape {rgba.shape}")
    if rgba.shape[:2] != tuple(shape):
        raise BadInput(f"crayons: {rgba.shape[1]}x{rgba.shape[0]} pixels, the sketch {shape[1]}x{shape[0]}: "
                       "they must be the same size")
    mask = rgba[..., 3] > 127
    h, w = shape
    if not mask.any():
        return Crayon(np.zeros((h, w), np.int32), np.zeros((0, 3), np.uint8), np.zeros((h, w), bool))
    quantised, index = np.unique(rgba[..., :3][mask] // 4, axis=0, return_inverse=True)
    index = index.ravel()
    colours, labels_of = [], np.zeros(len(quantised), np.int32)
    for group in _same_colour(quantised.astype(np.float32) * 4 + 2):
        members = np.isin(index, group)
        colours.append(np.median(rgba[..., :3][mask][members], axis=0).round().astype(np.uint8))
        labels_of[group] = len(colours)
    labels = np.zeros((h, w), np.int32)
    labels[mask] = labels_of[index]
    return Crayon(labels, np.array(colours, np.uint8), np.zeros((h, w), bool))
