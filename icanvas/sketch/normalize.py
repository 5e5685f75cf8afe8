"""Reading a hand drawing: `normalize_sketch` takes whatever an app or a person sends (any size, light pencil or
thick marker, light lines on a dark canvas, a photo of paper under uneven light) to what the model was trained
on: 1-pixel skeletons re-drawn at the training line width, framed with the training margins, at the model size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt
from skimage.filters import apply_hysteresis_threshold
from skimage.morphology import skeletonize

from icanvas.core.errors import BadInput
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

    @classmethod
    def off(cls) -> "NormalizeOptions":
        return cls(polarity=False, binarize=False, thin=False, fit=False)


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


def _lines_are_light(gray: np.ndarray) -> bool:
    """Paper is what most of any neighbourhood is (a local median); lines stand out from it. If more pixels
    stand out brighter than darker, the lines are light on dark paper."""
    paper = _resize(cv2.medianBlur(_small(gray).astype(np.uint8), 15).astype(np.float32), gray.shape)
    diff = gray - paper
    return int((diff > 40).sum()) > int((diff < -40).sum())


def _paper_light(gray: np.ndarray) -> np.ndarray:
    """The paper's brightness everywhere: a grey closing wider than strokes removes them; blurred, full size."""
    small = _small(gray)
    closed = cv2.dilate(small, np.ones((9, 9), np.uint8))        # max filter: dark strokes vanish
    closed = cv2.erode(closed, np.ones((9, 9), np.uint8))         # min filter: back to the paper's extent
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


def _frame(ink: np.ndarray, size: int, margins: dict[str, float]) -> np.ndarray:
    """Crop to the drawing and fit it, aspect kept, into the frame less the margins (centred in that box);
    resize to size x size. The canvas is built at the crop's resolution so that thin lines survive the resize."""
    mask = ink > LINE_LEVEL   # the lines as they will be drawn (skeletons end half a pen width inside strokes)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    m = {k: min(max(float(margins[k]), 0.0), 0.45) for k in SIDES}
    box_w, box_h = 1.0 - m["left"] - m["right"], 1.0 - m["top"] - m["bottom"]
    side = max(w / box_w, h / box_h)                       # frame side in crop pixels
    n = max(int(np.ceil(side)), h, w)
    top = min(n - h, max(0, int(round(m["top"] * side + (box_h * side - h) / 2))))
    left = min(n - w, max(0, int(round(m["left"] * side + (box_w * side - w) / 2))))
    canvas = np.zeros((n, n), np.float32)
    canvas[top:top + h, left:left + w] = crop
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


def normalize_sketch(rgb: np.ndarray, size: int, style: dict | None = None,
                     options: NormalizeOptions = NormalizeOptions()) -> np.ndarray:
    """A drawing as sent (HxWx3 uint8 RGB, alpha already on white) to the model's input: size x size uint8,
    255 paper, 0 line, lines as wide and framed like the theme's training sketches (`style`, see measure_style).

    Raises BadInput when there is no drawing (an empty canvas, a blank photo of paper).
    """
    style = {**DEFAULT_STYLE, **(style or {})}
    gray = _luminance(rgb)
    if max(gray.shape) > WORK_SIDE:
        scale = WORK_SIDE / max(gray.shape)
        gray = _resize(gray, (max(1, round(gray.shape[0] * scale)), max(1, round(gray.shape[1] * scale))))
    if options.polarity and _lines_are_light(gray):
        gray = 255.0 - gray
    if options.binarize:
        paper = _paper_light(gray)
        ink = np.clip((paper - gray) / np.maximum(paper, 32.0), 0.0, 1.0)
        mask = _binarize(ink, options.min_contrast)
        ink = mask.astype(np.float32)
    else:
        ink = (255.0 - gray) / 255.0
        mask = ink > 0.5
    empty = BadInput("empty sketch: no lines found (blank canvas or blank paper)")
    if not mask.any():
        raise empty
    if options.thin:
        mask = _thin_strokes_scale(mask, size)
        if not mask.any():   # a speck that the reduction erased
            raise empty
        ink = _centre_lines(mask).astype(np.float32)
    if options.fit:
        margins = style.get("margins") or dict.fromkeys(SIDES, style["margin"])
        ink = _frame(ink, size, margins)
    else:
        ink = _resize(ink, (size, size))
    if options.thin:
        # any trace of a skeleton survives the resize; thin again at the model size, then re-draw
        return draw_lines(skeletonize(ink > 0.02), float(style["line_width"]))
    return (255.0 - np.clip(ink, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
