"""Quick, Draw! doodles (stroke lists in its "simplified" ndjson format) as drawings: the nearest public stand-in
for what children draw, for scoring models on hand drawings (compare's sketches, benchmarks/sketch_gap.py)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw


def load_doodles(quickdraw: Path, category: str, count: int) -> list[list]:
    """The first `count` stroke lists of a category in a folder of Quick, Draw! <category>.ndjson files: each
    stroke is [[x0, x1, ...], [y0, y1, ...]] in 0..255."""
    lines = (Path(quickdraw) / f"{category}.ndjson").read_text().splitlines()
    return [json.loads(line)["drawing"] for line in lines[:count]]


def render(strokes: list, canvas: int = 512, width: int = 6, *, place: tuple[float, float, float] = (0.1, 0.1, 0.8),
           line: int = 0, paper: int = 255, mode: str = "L") -> Image.Image:
    """Draw strokes on a square canvas. place = (left, top, scale) as fractions of the canvas: where the
    doodle's 256-unit box goes and how big it is."""
    img = Image.new(mode, (canvas, canvas), paper if mode == "L" else (255, 255, 255, 0))
    draw = ImageDraw.Draw(img)
    left, top, scale = (p * canvas for p in place)
    for xs, ys in strokes:
        pts = [(left + x / 255 * scale, top + y / 255 * scale) for x, y in zip(xs, ys)]
        if len(pts) == 1:
            pts = pts * 2
        draw.line(pts, fill=line if mode == "L" else (20, 20, 20, 255), width=width, joint="curve")
    return img
