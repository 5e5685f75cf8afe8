"""Make docs/hints_strip.png: both sides of colour hints. Top rows: demo avatars and the crayon hints
simulated from them with 1, 5 and 20 strokes (what training and the benchmark give the model; over the photo in
faded grey). Bottom row: coloured example drawings (examples/sketches/colour/) and what normalisation
reads from them: lines, and colour hints over them.

    python examples/hints_strip.py
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from icanvas.core.images import load_rgb, save_png
from icanvas.data.demo import make_avatar
from icanvas.sketch.hints import simulate_hints
from icanvas.sketch.normalize import normalize_drawing

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "hints_strip.png"
TILE = 160
STYLE = {"line_width": 1.5, "margins": {"top": 0.12, "bottom": 0.0, "left": 0.1, "right": 0.1}}


def over(photo: np.ndarray, hints: np.ndarray) -> np.ndarray:
    """Hints painted over the photo in faded grey."""
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)[..., None].astype(np.float32) * 0.35 + 150
    return np.where(hints[..., 3:] > 0, hints[..., :3], grey).astype(np.uint8)


def tile(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, 2)
    return cv2.resize(image, (TILE, TILE), interpolation=cv2.INTER_AREA)


def main() -> None:
    rows = []
    for i in (3, 5, 11):
        photo = make_avatar(0, i)
        row = [photo] + [over(photo, simulate_hints(photo, np.random.default_rng([i, k]), strokes=k))
                         for k in (1, 5, 20)]
        rows.append(row)
    drawings = []
    for name in ("face_1", "face_3"):
        drawing = load_rgb(ROOT / "examples" / "sketches" / "colour" / f"{name}.png")
        read = normalize_drawing(drawing, 256, STYLE)
        under = np.where(read.hints[..., 3:] > 0, read.hints[..., :3], 255).astype(np.float32)
        drawings += [drawing, (under * read.lines[..., None] / 255.0).astype(np.uint8)]   # lines over colour
    rows.append(drawings)
    gap = np.full((TILE, 6, 3), 255, np.uint8)
    lines = []
    for row in rows:
        cells = []
        for image in row:
            cells += [tile(image), gap]
        lines += [np.concatenate(cells[:-1], axis=1), np.full((6, len(row) * (TILE + 6) - 6, 3), 255, np.uint8)]
    save_png(np.concatenate(lines[:-1], axis=0), OUT)
    print(OUT)


if __name__ == "__main__":
    main()
