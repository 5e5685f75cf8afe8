"""Quick, Draw! doodles rendered the way users send drawings: any canvas size and line width, light lines on a
dark canvas, transparent canvases, and photos of paper (tinted, unevenly lit, noisy, JPEG)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from icanvas.eval.doodles import load_doodles, render  # noqa: F401  (tests import them from here too)


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
