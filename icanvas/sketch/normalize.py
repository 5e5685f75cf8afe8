"""Reading a hand drawing: `normalize_drawing` takes whatever an app or a person sends (any size, light pencil or
thick marker, light lines on a dark canvas, a photo of paper under uneven light, crayon colour) to what the
model was trained on: 1-pixel skeletons re-drawn at the training line width, framed with the training margins,
at the model size, and the crayon colour as a hint layer framed with them. `normalize_sketch` is its lines only,
every ink a line (for models without hints).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt
from skimage.filters import apply_hysteresis_threshold
from skimage.morphology import skeletonize

from icanvas.core.errors import BadInput
from icanvas.sketch.crayon import Crayon, crayon_layer, looks_coloured, read_crayon
from icanvas.sketch.hints import with_chosen
from icanvas.sketch.lines import DEFAULT_STYLE, LINE_LEVEL, SIDES, draw_lines

WORK_SIDE = 1024   # larger inputs are reduced to this side first: enough detail, bounded time


@dataclass(frozen=True)
class NormalizeOptions:
    """Each step of normalize_sketch can be switched off."""

    polarity: bool = True      # detect light lines on dark paper and invert
    binarize: bool = True      # even out the light, then separate lines from paper (hysteresis threshold)
    thin: bool = True          # thin strokes to 1 pixel, re-draw them at the training line width
    fit: bool = True           # crop to the drawing, fit it into the frame with the training margins
    min_contrast: float = 0.2  # weakest ink (0..1 darker than the paper) that counts as a line on clean paper
    hints: bool = True         # saturated strokes are colour hints, not lines (False: all ink is lines)

    @classmethod
    def off(cls) -> NormalizeOptions:
        """No normalisation step (colour is still read as hints: that is input, not normalisation)."""
        return cls(polarity=False, binarize=False, thin=False, fit=False)


@dataclass(frozen=True)
class Drawing:
    """A normalised drawing at the model size: its lines, the child's crayon colour, and the colours chosen for
    the parts the child left blank (sketch.colouring)."""

    lines: np.ndarray                 # size x size uint8, 255 paper, 0 line
    hints: np.ndarray | None = None   # size x size x 4 uint8 hint layer (sketch.hints); None: no colour
    chosen: np.ndarray | None = None  # hint layer of chosen colours; None: not chosen (yet), empty: none needed

    @property
    def coloured(self) -> bool:
        """Whether the drawing carries any colour: the child's crayon, or colours chosen for it."""
        return self.hints is not None or (self.chosen is not None and bool(self.chosen[:, :, 3].any()))

    def colour(self) -> np.ndarray | None:
        """The colour on the drawing: the child's crayon, and the chosen colours where it has none (what the fill
        spreads; a hint model reads the chosen ones in its fill alone, pix2pix.inputs.hint_layers)."""
        if self.hints is None:
            return self.chosen if self.coloured else None
        return with_chosen(self.hints, self.chosen)

    def preview(self) -> np.ndarray:
        """HxWx3 uint8: the colour on the paper (the child's and the chosen), the lines over it."""
        out = np.repeat(self.lines[:, :, None], 3, axis=2)
        colour = self.colour()
        if colour is not None:
            under = (colour[:, :, 3] > 127) & (self.lines >= 128)
            out[under] = colour[under, :3]
        return out


def _luminance(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    return cv2.cvtColor(np.ascontiguousarray(rgb[..., :3], dtype=np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _resize(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    interp = cv2.INTER_AREA if h * w < arr.shape[0] * arr.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(arr, (w, h), interpolation=interp)


def _small(gray: np.ndarray, side: int = 128) -> np.ndarray:
    scale = side / max(gray.shape)
    return _resize(gray, (max(8, round(gray.shape[0] * scale)), max(8, round(gray.shape[1] * scale))))


def _lines_are_light(gray: np.ndarray, coloured: np.ndarray | None = None) -> bool:
    """Paper is what most of any neighbourhood is (a local median); lines stand out from it. If more pixels
    stand out brighter than darker, the lines are light on dark paper. Colour (`coloured`, bool) neither votes
    nor counts as paper: it is filled in from around it first (the paper showing through a crayon scribble
    would otherwise look like light lines on a dark crayon)."""
    small = _small(gray).astype(np.uint8)
    if coloured is not None and coloured.any():
        under = cv2.dilate((_resize(coloured.astype(np.float32), small.shape) > 0).astype(np.uint8),
                           np.ones((3, 3), np.uint8))
        small = cv2.inpaint(small, under, 3, cv2.INPAINT_TELEA)
    paper = _resize(cv2.medianBlur(small, 15).astype(np.float32), gray.shape)
    diff = gray - paper
    if coloured is not None:
        diff = diff[~coloured]
    return int((diff > 40).sum()) > int((diff < -40).sum())


def _paper_light(gray: np.ndarray, colour: np.ndarray | None = None) -> np.ndarray:
    """The paper's brightness everywhere: a grey closing wider than strokes removes them; blurred, full size.
    Under `colour` (crayon areas, which may be wider than the closing) the paper is filled in from around them."""
    small = _small(gray)
    closed = cv2.dilate(small, np.ones((9, 9), np.uint8))        # max filter: dark strokes vanish
    closed = cv2.erode(closed, np.ones((9, 9), np.uint8))         # min filter: back to the paper's extent
    if colour is not None:
        under = cv2.dilate((_resize(colour.astype(np.float32), small.shape) > 0).astype(np.uint8),
                           np.ones((5, 5), np.uint8))
        closed = cv2.inpaint(closed, under, 5, cv2.INPAINT_TELEA)
    smooth = cv2.GaussianBlur(closed, (0, 0), 2.0)
    return np.maximum(_resize(smooth, gray.shape), gray)


def _binarize(ink: np.ndarray, min_contrast: float) -> np.ndarray:
    """Lines = strong ink (above the paper's noise and min_contrast) plus weaker ink connected to it."""
    med = float(np.median(ink))
    noise = 1.4826 * float(np.median(np.abs(ink - med)))
    high = max(min_contrast, med + 8.0 * noise)
    mask = apply_hysteresis_threshold(ink, high * 0.5, high)
    # specks: components under ~2 px^2 at 256 px scale are paper grain or dust, not drawing
    min_area = max(3, round(2 * (max(ink.shape) / 256) ** 2))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[labels]


class _Box(NamedTuple):
    """Where the drawing goes: its bounding box (row, col, height, width) in the working image, the side n of
    the frame in the same pixels, and the box's place (top, left) in the frame."""

    row: int
    col: int
    height: int
    width: int
    n: int
    top: int
    left: int


def _frame_box(mask: np.ndarray, margins: dict[str, float]) -> _Box:
    """Fit the bounding box of `mask`, aspect kept, into the frame less the margins (centred in that box)."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    h, w = int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
    m = {k: min(max(float(margins[k]), 0.0), 0.45) for k in SIDES}
    box_w, box_h = 1.0 - m["left"] - m["right"], 1.0 - m["top"] - m["bottom"]
    side = max(w / box_w, h / box_h)                       # frame side in crop pixels
    n = max(int(np.ceil(side)), h, w)
    top = min(n - h, max(0, round(m["top"] * side + (box_h * side - h) / 2)))
    left = min(n - w, max(0, round(m["left"] * side + (box_w * side - w) / 2)))
    return _Box(int(rows[0]), int(cols[0]), h, w, n, top, left)


def _frame(ink: np.ndarray, size: int, box: _Box) -> np.ndarray:
    """Crop to the drawing's box and place it in the frame; resize to size x size. The canvas is built at the
    crop's resolution so that thin lines survive the resize."""
    canvas = np.zeros((box.n, box.n), np.float32)
    canvas[box.top:box.top + box.height, box.left:box.left + box.width] = \
        ink[box.row:box.row + box.height, box.col:box.col + box.width]
    return _resize(canvas, (size, size))


def _frame_around(image: np.ndarray, size: int, box: _Box) -> np.ndarray:
    """The same frame as _frame over the whole image, not only the crop: colour beyond the lines' bounding box
    comes along as far as the frame reaches."""
    y0, x0 = box.row - box.top, box.col - box.left          # the frame's corner in the image
    canvas = np.zeros((box.n, box.n) + image.shape[2:], np.float32)
    ys = slice(max(0, y0), min(image.shape[0], y0 + box.n))
    xs = slice(max(0, x0), min(image.shape[1], x0 + box.n))
    canvas[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0] = image[ys, xs]
    return _resize(canvas, (size, size))


def _thin_strokes_scale(mask: np.ndarray, size: int) -> np.ndarray:
    """Reduce the mask until strokes are about 3 px wide (never below the model size): skeletons of thick
    marker strokes grow spurs at every corner, skeletons of thin strokes do not."""
    skeleton_len = max(1, int(skeletonize(mask).sum()))
    width = mask.sum() / skeleton_len
    scale = max(3.0 / width, size / max(mask.shape))
    if scale >= 1.0:
        return mask
    shape = (max(1, round(mask.shape[0] * scale)), max(1, round(mask.shape[1] * scale)))
    return _resize(mask.astype(np.float32), shape) > 0.5


def _centre_lines(mask: np.ndarray) -> np.ndarray:
    """1-pixel lines of a stroke mask: the skeleton of the strokes, but the outline of filled areas (a marker
    dot for an eye, a coloured-in nose), which is what the edge detector saw on the training photos."""
    dist = distance_transform_edt(mask)
    core = dist > 3.0      # strokes are about 3 px wide here (_thin_strokes_scale): deeper means filled
    if not core.any():
        return skeletonize(mask)
    filled = (distance_transform_edt(~core) <= 3.0) & mask
    outline = filled & ~cv2.erode(filled.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return skeletonize(mask & ~filled) | outline


def _hint_layer(colour: np.ndarray, cover: np.ndarray, colours: np.ndarray) -> np.ndarray | None:
    """Resized premultiplied colour and coverage back to a hint layer: covered where over half covered, each
    pixel the nearest of the strokes' colours (a resize blends neighbouring strokes; a hint has one colour)."""
    mask = cover >= 0.5
    if not mask.any():
        return None
    seen = colour[mask] / cover[mask][:, None] * 255.0
    nearest, best = np.zeros(len(seen), np.int64), np.full(len(seen), np.inf, np.float32)
    for k, c in enumerate(colours.astype(np.float32)):      # one colour at a time: memory stays one row
        d = ((seen - c) ** 2).sum(1)
        closer = d < best
        nearest[closer], best[closer] = k, d[closer]
    layer = np.zeros(cover.shape + (4,), np.uint8)
    layer[mask] = np.concatenate([colours[nearest], np.full((len(nearest), 1), 255, np.uint8)], 1)
    return layer


def normalize_drawing(rgb: np.ndarray, size: int, style: dict | None = None,
                      options: NormalizeOptions = NormalizeOptions(), crayons: np.ndarray | None = None) -> Drawing:
    """A drawing as sent (HxWx3 uint8 RGB, alpha already on white) to the model's input: lines at size x size
    (uint8, 255 paper, 0 line) as wide and framed like the theme's training sketches (`style`, see
    measure_style), and, with options.hints, its crayon colour as a hint layer framed with them (the same crop
    and scale; colour is never thinned and leaves no line). A drawing of colour alone frames its colour.
    `crayons`, a crayon layer sent apart from the lines (HxWx4 RGBA, the drawing's size: crayon.crayon_layer),
    is the colour instead: then every stroke of `rgb` is a line and any colour on the layer is a crayon.

    Raises BadInput when there is no drawing (an empty canvas, a blank photo of paper).
    """
    style = {**DEFAULT_STYLE, **(style or {})}
    rgb = np.asarray(rgb)
    gray = _luminance(rgb)
    given = crayon_layer(crayons, gray.shape) if crayons is not None and options.hints else None
    work = rgb if options.hints and rgb.ndim == 3 and given is None else None
    if max(gray.shape) > WORK_SIDE:
        scale = WORK_SIDE / max(gray.shape)
        shape = (max(1, round(gray.shape[0] * scale)), max(1, round(gray.shape[1] * scale)))
        gray = _resize(gray, shape)
        work = None if work is None else _resize(np.ascontiguousarray(work[..., :3], np.float32), shape)
        if given is not None:
            given = Crayon(cv2.resize(given.labels, shape[::-1], interpolation=cv2.INTER_NEAREST), given.colours,
                           np.zeros(shape, bool))
    light_lines = options.polarity and _lines_are_light(gray, None if work is None else looks_coloured(work))
    if light_lines:
        gray = 255.0 - gray
    crayon = given if given is not None else None if work is None else read_crayon(work[..., :3], light_lines)
    if crayon is not None and crayon.empty:
        crayon = None
    if options.binarize:
        paper = _paper_light(gray, None if crayon is None else crayon.erase)
        ink = np.clip((paper - gray) / np.maximum(paper, 32.0), 0.0, 1.0)
        if crayon is not None:
            ink[crayon.erase] = 0.0
        mask = _binarize(ink, options.min_contrast)
        ink = mask.astype(np.float32)
    else:
        ink = (255.0 - gray) / 255.0
        if crayon is not None:
            ink[crayon.erase] = 0.0
        mask = ink > 0.5
    empty = BadInput("empty sketch: no lines found (blank canvas or blank paper)")
    colour = cover = None
    if crayon is not None:
        colour, cover = crayon.layer()
    if options.thin and mask.any():
        mask = _thin_strokes_scale(mask, size)   # may erase a speck
        ink = _centre_lines(mask).astype(np.float32)
        if colour is not None and ink.shape != cover.shape:     # the lines' working size is the colour's too
            colour, cover = _resize(colour, ink.shape), _resize(cover, ink.shape)
    if not mask.any():
        if crayon is None:
            raise empty
        ink = np.zeros_like(ink)                 # colour alone
    if options.fit:
        margins = style.get("margins") or dict.fromkeys(SIDES, style["margin"])
        lined = ink > LINE_LEVEL  # the lines as they will be drawn (skeletons end half a pen width inside strokes)
        box = _frame_box(lined if lined.any() else cover >= 0.5, margins)
        ink = _frame(ink, size, box) if lined.any() else np.zeros((size, size), np.float32)
        if colour is not None:
            colour, cover = _frame_around(colour, size, box), _frame_around(cover, size, box)
    else:
        ink = _resize(ink, (size, size))
        if colour is not None:
            colour, cover = _resize(colour, (size, size)), _resize(cover, (size, size))
    hints = None if crayon is None else _hint_layer(colour, cover, crayon.colours)
    if options.thin:
        # any trace of a skeleton survives the resize; thin again at the model size, then re-draw
        return Drawing(draw_lines(skeletonize(ink > 0.02), float(style["line_width"])), hints)
    return Drawing((255.0 - np.clip(ink, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), hints)


def normalize_sketch(rgb: np.ndarray, size: int, style: dict | None = None,
                     options: NormalizeOptions = NormalizeOptions()) -> np.ndarray:
    """The lines of normalize_drawing with every ink a line (colour read as lines, as models without hints
    were trained): size x size uint8, 255 paper, 0 line.

    Raises BadInput when there is no drawing (an empty canvas, a blank photo of paper).
    """
    return normalize_drawing(rgb, size, style, replace(options, hints=False)).lines
