"""Draw the hand-drawn-style face sketches in examples/sketches/ (run once; the PNGs are committed).

A simulated hand: every stroke is a shape (ellipse, arc, line) whose points wander by smooth low-frequency
noise, closed shapes overshoot or fall short of their start, and the pen presses unevenly (the width varies
along the stroke). Faces are framed like the demo theme's avatars (head, ears, eyes, nose, mouth, neck,
shoulders), but drawn as a child or a parent would on a tablet or on paper: any canvas size and pen, some
off-centre, one a pencil photo, one light on a dark canvas.

The coloured set (examples/sketches/colour/) adds a child's crayon in the drawing page's crayon box: broad
wobbly back-and-forth strokes inside the hair, the face, the shirt and a patch of sky, now and then over the
line, gaps left here and there, laid over the lines as wax is (multiplied: the lines stay dark).

    python examples/draw_sketches.py            # writes examples/sketches/face_*.png and colour/face_*.png
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


def face(rng: np.random.Generator, variant: dict) -> tuple[list[np.ndarray], tuple[float, ...]]:
    """The strokes of one face and its head ellipse (centre x, y, radii x, y), in unit coordinates (0..1 across
    the drawing)."""
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
    return strokes, (hx, hy, rx, ry)


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


# the drawing page's crayon box (icanvas/server/static)
CRAYONS = {"red": "#e53935", "orange": "#fb8c00", "yellow": "#fdd835", "green": "#43a047", "blue": "#1e88e5",
           "light blue": "#4fc3f7", "purple": "#8e24aa", "pink": "#ec407a", "brown": "#a0522d", "skin": "#f5b183"}


def _hex(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def regions(head: tuple[float, ...], size: int, place: tuple[float, float, float]) -> dict[str, Image.Image]:
    """Where a child colours (masks at the canvas size): hair (the top of the head), face, shirt, a patch of
    sky in a top corner."""
    hx, hy, rx, ry = head
    left, top, scale = (p * size for p in place)
    at = lambda x, y: (left + x * scale, top + y * scale)
    masks = {k: Image.new("L", (size, size), 0) for k in ("hair", "face", "shirt", "sky")}
    ImageDraw.Draw(masks["face"]).ellipse([*at(hx - rx, hy - ry), *at(hx + rx, hy + ry)], fill=255)
    masks["hair"].paste(masks["face"])
    ImageDraw.Draw(masks["hair"]).rectangle([0, at(0, hy - 0.55 * ry)[1], size, size], fill=0)
    ImageDraw.Draw(masks["face"]).rectangle([0, 0, size, at(0, hy - 0.55 * ry)[1]], fill=0)
    ImageDraw.Draw(masks["shirt"]).ellipse([*at(hx - 0.4, 1.04 - 0.22), *at(hx + 0.4, 1.04 + 0.22)], fill=255)
    ImageDraw.Draw(masks["sky"]).ellipse([*at(-0.04, -0.04), *at(0.24, 0.2)], fill=255)
    return masks


def crayon(size: int, mask: Image.Image, width: float, rng: np.random.Generator, angle: float) -> Image.Image:
    """A child colouring a region: wobbly back-and-forth passes a crayon wide across the region's box, kept to
    the region give or take a few pixels (over the line in one region, short of it in another), with gaps where
    the passes part and the paper's grain. Returns the coverage (L, 0..255)."""
    box = mask.getbbox()
    if box is None:
        return Image.new("L", (size, size), 0)
    x0, y0, x1, y1 = box
    cx, cy, reach = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * 0.75
    strokes = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(strokes)
    c, s = np.cos(angle), np.sin(angle)
    pts = []
    for i, v in enumerate(np.arange(-reach, reach, width * rng.uniform(0.75, 1.0))):
        u = (1 if i % 2 else -1) * reach * rng.uniform(0.8, 1.0)
        pts.append((cx + u * c - v * s + rng.normal(0, width / 4), cy + u * s + v * c + rng.normal(0, width / 4)))
    draw.line(pts, fill=255, width=max(2, int(width)), joint="curve")
    wobble = max(1, int(width / 3)) | 1
    inside = mask.filter(ImageFilter.MaxFilter(wobble)) if rng.random() < 0.5 else \
        mask.filter(ImageFilter.MinFilter(wobble))
    grain = Image.fromarray((rng.random((size, size)) > 0.12).astype(np.uint8) * 255)   # the paper's tooth
    return Image.fromarray(np.minimum.reduce([np.asarray(strokes), np.asarray(inside), np.asarray(grain)]))


def colour_in(img: Image.Image, head: tuple[float, ...], place: tuple[float, float, float],
              colours: dict[str, str], width: float, rng: np.random.Generator, dark: bool) -> Image.Image:
    """Lay crayon over a drawing as wax lies over ink: multiplied on paper, so the lines stay dark (on a dark
    canvas, lightened, so the light lines stay light)."""
    masks = regions(head, img.size[0], place)
    out = np.asarray(img, np.float32)
    for part, name in colours.items():
        cover = np.asarray(crayon(img.size[0], masks[part], width, rng, rng.uniform(-0.6, 0.6)),
                           np.float32)[..., None] / 255.0
        colour = np.array(_hex(CRAYONS[name]), np.float32)
        out = np.maximum(out, out * (1 - cover) + colour * cover) if dark else out * (1 - cover + cover * colour / 255)
    return Image.fromarray(np.clip(out + 0.5, 0, 255).astype(np.uint8))


# name, canvas px, pen px, (left, top, scale) of the unit square, parts, finish
SKETCHES = [
    ("face_1", 512, 6, (0.05, 0.05, 0.9), {}, None),
    ("face_2", 800, 18, (0.3, 0.02, 0.6), {"hair": True}, None),                    # thick marker, off-centre
    ("face_3", 360, 3, (0.12, 0.1, 0.8), {"glasses": True, "brows": True}, None),    # thin pen
    ("face_4", 640, 7, (0.08, 0.12, 0.7), {"brows": True}, "pencil"),                # photo of a pencil drawing
    ("face_5", 420, 8, (0.0, 0.25, 0.55), {"no_left_ear": True}, None),              # small, in a corner
    ("face_6", 500, 9, (0.1, 0.08, 0.85), {"hair": True, "glasses": True}, "dark"),  # light lines, dark canvas
]


# name, canvas px, pen px, crayon px, (left, top, scale), parts, what is coloured how, finish
COLOURED = [
    ("face_1", 512, 6, 16, (0.05, 0.05, 0.9), {"hair": True},
     {"sky": "blue", "face": "skin", "hair": "yellow", "shirt": "red"}, None),
    ("face_2", 640, 9, 22, (0.1, 0.06, 0.85), {"brows": True},
     {"sky": "light blue", "face": "skin", "hair": "brown", "shirt": "green"}, None),
    ("face_3", 640, 7, 20, (0.08, 0.1, 0.8), {"hair": True},
     {"face": "skin", "hair": "orange", "shirt": "purple"}, "pencil"),               # a photo of paper
    ("face_4", 500, 9, 16, (0.1, 0.08, 0.85), {"hair": True, "glasses": True},
     {"hair": "yellow", "shirt": "blue", "sky": "pink"}, "dark"),                    # a dark canvas
]


def draw_face(rng: np.random.Generator, canvas: int, pen: float, place: tuple[float, float, float], parts: dict,
              finish: str | None, colours: dict[str, str] | None = None, crayon_px: float = 0.0) -> Image.Image:
    strokes, head = face(rng, parts)
    if finish == "dark":
        img = render(strokes, canvas, pen, place, rng, ink=(240, 240, 235), paper=(30, 34, 48))
    else:
        img = render(strokes, canvas, pen, place, rng, ink=(90, 90, 100) if finish == "pencil" else (25, 25, 30))
    if colours:
        img = colour_in(img, head, place, colours, crayon_px, rng, dark=finish == "dark")
    if finish == "pencil":
        img = pencil_photo(img, rng)
    return img


def main() -> None:
    (OUT / "colour").mkdir(parents=True, exist_ok=True)
    for i, (name, canvas, pen, place, parts, finish) in enumerate(SKETCHES):
        draw_face(np.random.default_rng(100 + i), canvas, pen, place, parts, finish).save(OUT / f"{name}.png",
                                                                                          optimize=True)
        print(OUT / f"{name}.png")
    for i, (name, canvas, pen, crayon_px, place, parts, colours, finish) in enumerate(COLOURED):
        img = draw_face(np.random.default_rng(200 + i), canvas, pen, place, parts, finish, colours, crayon_px)
        img.save(OUT / "colour" / f"{name}.png", optimize=True)
        print(OUT / "colour" / f"{name}.png")


if __name__ == "__main__":
    main()
