"""Colour fidelity: does a picture take the colours the child's crayon asked for? (numpy and scikit-image)

Two scores in CIEDE2000 (about 1 is a just noticeable difference, 10 a clearly different shade, 30 and more
another colour), both None for a drawing without hints:

- hint_colour_error: under the crayon, is the picture the crayon's colour (mean over the hint mask)?
- region_colour_error: is the crayon's colour spread over the region it lies in (the photo's region: a flood
  fill of the photo from the stroke at a small tolerance), not only where the crayon touched (median over
  strokes)? This needs the photo, so it scores held-out pairs with hints simulated from their photos.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from icanvas.core.errors import BadInput
from icanvas.sketch.hints import check_hints

REGION_TOLERANCE = 10.0   # CIE76 distance in Lab: a region is where the photo stays this close to the stroke


def _rgb(image: np.ndarray, name: str, shape: tuple[int, int]) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] < 3 or image.dtype != np.uint8:
        raise BadInput(f"{name}: expected HxWx3 uint8 RGB, got {image.shape} {image.dtype}")
    if image.shape[:2] != tuple(shape):
        raise BadInput(f"{name}: is {image.shape[1]}x{image.shape[0]}, the hints {shape[1]}x{shape[0]}")
    return image[..., :3]


def _lab(rgb: np.ndarray) -> np.ndarray:
    return rgb2lab(np.asarray(rgb, np.float64) / 255.0)


def hint_colour_error(picture: np.ndarray, hints: np.ndarray | None) -> float | None:
    """Mean CIEDE2000 between the hint colour and the picture under the hint mask (picture HxWx3 uint8, hints a
    hint layer of the same size); None without hints."""
    if hints is None:
        return None
    hints = check_hints(hints)
    mask = hints[..., 3] > 0
    if not mask.any():
        return None
    picture = _rgb(picture, "picture", hints.shape[:2])
    return float(np.mean(deltaE_ciede2000(_lab(hints[..., :3][mask]), _lab(picture[mask]))))


def strokes_of(hints: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The strokes of a hint layer: (colour uint8 x3, mask HxW bool) for each connected area of one colour."""
    hints = check_hints(hints)
    mask = hints[..., 3] > 0
    found = []
    for colour in np.unique(hints[mask][:, :3], axis=0):
        same = (mask & np.all(hints[..., :3] == colour, axis=-1)).astype(np.uint8)
        count, labels = cv2.connectedComponents(same, connectivity=8)
        found += [(colour, labels == i) for i in range(1, count)]
    return found


def region_colour_error(picture: np.ndarray, photo: np.ndarray, hints: np.ndarray | None,
                        tolerance: float = REGION_TOLERANCE) -> float | None:
    """Median over hint strokes of the CIEDE2000 between the stroke's colour and the picture's median colour
    over the photo region the stroke lies in: the photo's pixels connected to the stroke through pixels within
    `tolerance` (CIE76 in Lab) of the photo's median colour under the stroke. None without hints."""
    if hints is None:
        return None
    strokes = strokes_of(hints)
    if not strokes:
        return None
    picture = _lab(_rgb(picture, "picture", hints.shape[:2]))
    photo = _lab(_rgb(photo, "photo", hints.shape[:2]))
    errors = []
    for colour, stroke in strokes:
        near = np.linalg.norm(photo - np.median(photo[stroke], axis=0), axis=-1) <= tolerance
        _, parts = cv2.connectedComponents((near | stroke).astype(np.uint8), connectivity=4)
        region = np.isin(parts, np.unique(parts[stroke]))
        seen = np.median(picture[region], axis=0)
        errors.append(float(deltaE_ciede2000(_lab(colour[None]), seen[None])[0]))
    return float(np.median(errors))
