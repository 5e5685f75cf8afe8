"""Quick, Draw! doodles rendered the way users send drawings: any canvas size and line width, light lines on a
dark canvas, transparent canvases, and photos of paper (tinted, unevenly lit, noisy, JPEG)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


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


def light_on_dark(strokes: list, canvas: int = 400, width: int = 5) -> np.ndarray:
    return np.asarray(render(strokes, canvas, width, line=235, paper=25).convert("RGB"))


def transparent_png(strokes: list, canvas: int = 300, width: int = 4) -> bytes:
    """An RGBA canvas export: dark lines, fully transparent paper."""
    buf = io.BytesIO()
    render(strokes, canvas, width, mode="RGBA").save(buf, format="PNG")
    return buf.getvalue()


def photo_of_paper(strokes: list, rng: np.random.Generator, canvas: int = 640, width: int = 4) -> np.ndarray:
    """A phone photo of a pencil drawing: grey lines on tinted paper, light falling off to one corner, noise,
    a little blur and JPEG compression."""
    lines = np.asarray(render(strokes, canvas, width, line=110, paper=255).filter(ImageFilter.GaussianBlur(1.2)),
                       np.float32) / 255.0
    yy, xx = np.mgrid[0:canvas, 0:canvas] / canvas
    light = 0.95 - 0.45 * (0.6 * xx + 0.4 * yy)                 # bright top-left, dim bottom-right
    tint = np.array([1.0, 0.93, 0.78], np.float32)              # cream paper
    rgb = lines[..., None] * light[..., None] * tint * 255.0
    rgb += rng.normal(0.0, 4.0, rgb.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=80)
    return np.asarray(Image.open(buf).convert("RGB"))


def blank_photo(rng: np.random.Generator, canvas: int = 480) -> np.ndarray:
    """A photo of an empty sheet: uneven light and noise, no drawing."""
    yy, xx = np.mgrid[0:canvas, 0:canvas] / canvas
    light = 0.9 - 0.4 * xx * yy
    rgb = light[..., None] * np.array([250, 240, 215], np.float32) + rng.normal(0.0, 4.0, (canvas, canvas, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)
