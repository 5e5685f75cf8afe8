"""Draw the hand-drawn-style face sketches in examples/sketches/ (run once; the PNGs are committed).

A simulated hand: every stroke is a shape (ellipse, arc, line) whose points wander by smooth low-frequency
noise, closed shapes overshoot or fall short of their start, and the pen presses unevenly (the width varies
along the stroke). Faces are framed like the demo theme's avatars (head, ears, eyes, nose, mouth, neck,
shoulders), but drawn as a child or a parent would on a tablet or on paper: any canvas size and pen, some
off-centre, one a pencil photo, one light on a dark canvas.

    python examples/draw_sketches.py            # writes examples/sketches/face_*.png
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent / "sketches"


def _wobble(n: int, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Smooth noise along a stroke: a few random low-frequency sines, about `amount` in size."""
    t = np.linspace(0.0, 1.0, n)
    waves = [rng.normal(0, amount) * np.sin(2 * np.pi * (k * t + rng.random())) for k in (1, 2, 3)]
    return np.sum(waves, axis=0) + rng.normal(0, amount * 0.15, n)


def ellipse(cx, cy, rx, ry, rng, start=0.0, sweep=360.0, wobble=0.04, n=80):
    """Points of an ellipse arc (degrees, 0 = right, clockwise in image coordinates), drawn by a hand."""
    overshoot = rng.uniform(-12, 18) if sweep >= 360 else 0.0
    a = np.radians(start + rng.uniform(-6, 6) + np.linspace(0, sweep + overshoot, n))
    r = 1.0 + _wobble(n, rng, wobble)
    return np.stack([cx + rx * r * np.cos(a), cy + ry * r * np.sin(a)], 1)


def line(x0, y0, x1, y1, rng, wobble=0.003, n=20):
    t = np.linspace(0, 1, n)[:, None]
    pts = (1 - t) * np.array([x0, y0]) + t * np.array([x1, y1])
    normal = np.array([y0 - y1, x1 - x0]) / (np.hypot(x1 - x0, y1 - y0) + 1e-9)
    return pts + _wobble(n, rng, wobble)[:, None] * normal


def face(rng: np.random.Generator, variant: dict) -> list[np.ndarray]:
    """The strokes of one face in unit coordinates (0..1 across the drawing)."""
    hx, hy, rx, ry = 0.5, 0.42, rng.uniform(0.21, 0.26), rng.uniform(0.25, 0.3)
    ex, ey = rng.uniform(0.08, 0.11), hy - rng.uniform(0.02, 0.06)
    strokes = [ellipse(hx, hy, rx, ry, rng)]
    if not variant.get("no_left_ear"):
        strokes.append(ellipse(hx - rx, hy, 0.05, 0.07, rng, 100, 160))
    strokes.append(ellipse(hx + rx, hy, 0.05, 0.07, rng, -80, 160))
    for side in (-1, 1):
        er = rng.uniform(0.03, 0.05)
        strokes.append(ellipse(hx + side * ex, ey, er, er * rng.uniform(0.9, 1.2), rng, wobble=0.06, n=30))
        strokes.append(ellipse(hx + side * ex, ey + 0.005, er * 0.3, er * 0.3, rng, wobble=0.1, n=12))
        if variant.get("brows"):
            strokes.append(ellipse(hx + side * ex, ey + 0.01, er * 1.4, er * 1.6, rng, 220, 100, n=15))
        if variant.get("glasses"):
            strokes.append(ellipse(hx + side * ex, ey, er * 1.9, er * 1.7, rng, wobble=0.03, n=40))
    strokes.append(ellipse(hx, hy + 0.06, 0.02, 0.015, rng, 0, 180, n=10))                     # nose
    smile = rng.uniform(0.06, 0.1)
    strokes.append(ellipse(hx, hy + 0.1, smile, smile * 0.6, rng, 20, 140, wobble=0.05, n=30))  # mouth
    if variant.get("hair"):
        xs = np.linspace(hx - rx * 0.8, hx + rx * 0.8, 9)
        ys = hy - ry * np.sqrt(1 - ((xs - hx) / rx) ** 2) + np.tile([0.0, -0.07], 5)[:9]
        strokes.append(np.stack([xs, ys], 1) + rng.normal(0, 0.006, (9, 2)))
    neck_top = hy + ry * 0.93
    for side in (-1, 1):
        strokes.append(line(hx + side * 0.06, neck_top, hx + side * 0.065, 0.82, rng))
    strokes.append(ellipse(hx, 1.04, 0.4, 0.22, rng, 195, 150, wobble=0.02, n=50))             # shoulders
    return strokes


def render(strokes, canvas: int, width: float, place: tuple[float, float, float], rng, *,
           ink=(25, 25, 30), paper=(255, 255, 255)) -> Image.Image:
    """Draw strokes with uneven pressure: each segment's width follows a slow random curve."""
    img = Image.new("RGB", (canvas, canvas), paper)
    draw = ImageDraw.Draw(img)
    left, top, scale = (p * canvas for p in place)
    for pts in strokes:
        xy = pts * scale + [left, top]
        press = width * np.clip(1.0 + _wobble(len(xy), rng, 0.25), 0.45, 1.6)
        for (x0, y0), (x1, y1), w in zip(xy[:-1], xy[1:], press):
            draw.line([(x0, y0), (x1, y1)], fill=ink, width=max(1, int(round(w))))
            r = w / 2
            draw.ellipse([x1 - r, y1 - r, x1 + r, y1 + r], fill=ink)
    return img


def pencil_photo(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A phone photo of paper: blur, cream tint, light falling off to a corner, noise, JPEG."""
    arr = np.asarray(img.filter(ImageFilter.GaussianBlur(1.0)), np.float32) / 255.0
    h, w = arr.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    light = 0.97 - 0.35 * (0.5 * xx + 0.5 * yy)
    rgb = arr * light[..., None] * np.array([1.0, 0.95, 0.84]) * 255 + rng.normal(0, 3, arr.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=85)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


# name, canvas px, pen px, (left, top, scale) of the unit square, parts, finish
SKETCHES = [
    ("face_1", 512, 6, (0.05, 0.05, 0.9), {}, None),
    ("face_2", 800, 18, (0.3, 0.02, 0.6), {"hair": True}, None),                    # thick marker, off-centre
    ("face_3", 360, 3, (0.12, 0.1, 0.8), {"glasses": True, "brows": True}, None),    # thin pen
    ("face_4", 640, 7, (0.08, 0.12, 0.7), {"brows": True}, "pencil"),                # photo of a pencil drawing
    ("face_5", 420, 8, (0.0, 0.25, 0.55), {"no_left_ear": True}, None),              # small, in a corner
    ("face_6", 500, 9, (0.1, 0.08, 0.85), {"hair": True, "glasses": True}, "dark"),  # light lines, dark canvas
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for i, (name, canvas, pen, place, parts, finish) in enumerate(SKETCHES):
        rng = np.random.default_rng(100 + i)
        strokes = face(rng, parts)
        if finish == "dark":
            img = render(strokes, canvas, pen, place, rng, ink=(240, 240, 235), paper=(30, 34, 48))
        else:
            img = render(strokes, canvas, pen, place, rng, ink=(90, 90, 100) if finish == "pencil" else (25, 25, 30))
        if finish == "pencil":
            img = pencil_photo(img, rng)
        img.save(OUT / f"{name}.png", optimize=True)
        print(OUT / f"{name}.png")


if __name__ == "__main__":
    main()
