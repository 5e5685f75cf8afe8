"""The offline `demo` theme: colourful cartoon avatars drawn by code, in the spirit of Google's Cartoon Set.

Each avatar picks a face shape, skin tone, ears, hair style and colour, eyes and eye colour, eyebrows, nose,
mouth, and maybe glasses, cheeks, freckles, a beard, a hat, a bow or earrings. Every part has a dark outline
so that HED (and a child) sees clear lines. Picture i depends only on (seed, i): --limit 50 gives the first
50 of the default 500. Drawn at twice the size and downsampled for smooth edges.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from icanvas.core.images import save_png

SIZE = 256
S = 2 * SIZE           # drawing scale: 2x, then a LANCZOS downsample
INK = (34, 30, 38)     # outline colour
LINE = 9               # outline width at 2x (about 4-5 px in the final picture)

SKIN = [(255, 224, 196), (246, 205, 170), (234, 184, 146), (214, 158, 118), (178, 122, 86), (141, 92, 62),
        (104, 68, 46), (255, 214, 214)]
HAIR = [(40, 32, 30), (92, 58, 36), (150, 96, 52), (224, 178, 92), (246, 220, 140), (196, 80, 40),
        (170, 170, 180), (236, 96, 150), (90, 120, 230), (80, 190, 140), (150, 90, 210)]
EYES = [(70, 120, 200), (60, 150, 90), (110, 72, 40), (40, 40, 40), (150, 110, 200)]
BACKGROUND = [(255, 236, 179), (200, 236, 255), (214, 245, 214), (255, 214, 230), (232, 220, 255),
              (255, 226, 204), (210, 240, 240), (245, 245, 200)]
CLOTHES = [(230, 70, 80), (60, 130, 220), (250, 190, 40), (80, 180, 110), (160, 90, 200), (250, 130, 60),
           (40, 170, 190), (240, 240, 240)]
LIPS = (200, 60, 70)


def _shade(c: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, v * f))) for v in c)


class Avatar:
    """One avatar's random choices and the drawing of its parts, back to front."""

    def __init__(self, rng: np.random.Generator) -> None:
        pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
        self.rng = rng
        self.bg, self.skin, self.hair_colour = pick(BACKGROUND), pick(SKIN), pick(HAIR)
        self.eye_colour, self.clothes = pick(EYES), pick(CLOTHES)
        self.cx = S // 2 + int(rng.integers(-10, 11))
        self.fw, self.fh = int(rng.integers(136, 166)), int(rng.integers(150, 178))  # half width, half height
        self.cy = 272 + int(rng.integers(-8, 9))
        self.face = pick(["oval", "round", "square", "egg"])
        self.hair = pick(["bald", "short", "spiky", "long", "curly", "bun", "mohawk", "side", "pigtails", "bob"])
        self.eyes = pick(["round", "round", "happy", "dots", "big"])
        self.brows = pick(["arch", "flat", "thick", "none"])
        self.nose = pick(["button", "arc", "none"])
        self.mouth = pick(["smile", "open", "grin", "o", "smirk"])
        self.glasses = pick(["none", "none", "none", "round", "square", "sun"])
        self.hat = pick(["none"] * 5 + ["beanie", "cap"]) if self.hair not in ("mohawk", "bun") else "none"
        self.beard = pick(["none"] * 6 + ["moustache", "beard"])
        self.blush, self.freckles = rng.random() < 0.45, rng.random() < 0.2
        self.bow = rng.random() < 0.2 and self.hair in ("short", "long", "bob", "pigtails", "side", "curly")
        self.earrings = rng.random() < 0.2

    # -- helpers
    def _box(self, x0, y0, x1, y1):
        return [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]

    def draw(self) -> np.ndarray:
        img = Image.new("RGB", (S, S), self.bg)
        d = ImageDraw.Draw(img)
        self._body(d)
        self._hair_back(d)
        self._ears(d)
        self._head(d)
        self._cheeks(d)
        self._eyes(d)
        self._brows(d)
        self._nose(d)
        self._mouth(d)
        self._facial_hair(d)
        self._hair_front(d)
        self._glasses(d)
        self._hat(d)
        self._bow(d)
        return np.asarray(img.resize((SIZE, SIZE), Image.LANCZOS))

    # -- parts, back to front
    def _body(self, d):
        cx, bottom = self.cx, self.cy + self.fh
        d.rectangle([cx - 45, bottom - 30, cx + 45, bottom + 60], fill=self.skin, outline=INK, width=LINE)
        d.ellipse([cx - 220, bottom + 30, cx + 220, bottom + 330], fill=self.clothes, outline=INK, width=LINE)
        d.arc([cx - 55, bottom + 10, cx + 55, bottom + 80], 0, 180, fill=INK, width=LINE)  # collar

    def _hair_back(self, d):
        cx, cy, fw, fh = self.cx, self.cy, self.fw, self.fh
        if self.hair in ("long", "bob"):
            drop = 170 if self.hair == "long" else 40
            d.rounded_rectangle([cx - fw - 30, cy - fh - 30, cx + fw + 30, cy + fh * 0.4 + drop], radius=120,
                                fill=self.hair_colour, outline=INK, width=LINE)
        elif self.hair == "curly":
            for i in range(14):
                a = np.pi * (0.95 + 1.1 * i / 13)
                x, y = cx + (fw + 18) * np.cos(a), cy - 20 + (fh + 10) * np.sin(a)
                d.ellipse([x - 52, y - 52, x + 52, y + 52], fill=self.hair_colour, outline=INK, width=LINE)
        elif self.hair == "pigtails":
            for side in (-1, 1):
                x = cx + side * (fw + 45)
                d.ellipse([x - 55, cy - 40, x + 55, cy + 110], fill=self.hair_colour, outline=INK, width=LINE)
        elif self.hair == "bun":
            d.ellipse([cx - 70, cy - fh - 120, cx + 70, cy - fh + 20], fill=self.hair_colour, outline=INK,
                      width=LINE)

    def _ears(self, d):
        cx, cy, fw = self.cx, self.cy, self.fw
        for side in (-1, 1):
            x = cx + side * fw
            d.ellipse(self._box(x - 38, cy - 45, x + 38, cy + 40), fill=self.skin, outline=INK, width=LINE)
            d.arc(self._box(x - 18, cy - 22, x + 18, cy + 18), 90 + side * 90 - 60, 90 + side * 90 + 60,
                  fill=_shade(self.skin, 0.7), width=6)
            if self.earrings:
                d.ellipse([x - 12, cy + 38, x + 12, cy + 62], fill=(250, 210, 60), outline=INK, width=5)

    def _head(self, d):
        cx, cy, fw, fh = self.cx, self.cy, self.fw, self.fh
        box = [cx - fw, cy - fh, cx + fw, cy + fh]
        if self.face == "round":
            r = max(fw, fh)
            d.ellipse([cx - r, cy - fh, cx + r, cy - fh + 2 * r], fill=self.skin, outline=INK, width=LINE)
        elif self.face == "square":
            d.rounded_rectangle(box, radius=110, fill=self.skin, outline=INK, width=LINE)
        elif self.face == "egg":  # wide forehead, narrow chin
            t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
            squeeze = 1 - 0.22 * np.clip(np.sin(t), 0, None)
            pts = list(zip(cx + fw * np.cos(t) * squeeze, cy + fh * np.sin(t)))
            d.polygon(pts, fill=self.skin, outline=INK, width=LINE)
        else:
            d.ellipse(box, fill=self.skin, outline=INK, width=LINE)

    def _cheeks(self, d):
        cx, cy, fw = self.cx, self.cy, self.fw
        if self.blush:
            for side in (-1, 1):
                x = cx + side * fw * 0.6
                d.ellipse([x - 32, cy + 45, x + 32, cy + 75], fill=(248, 150, 160))
        if self.freckles:
            for side in (-1, 1):
                for dx, dy in ((-14, 0), (6, -10), (14, 12), (-4, 16)):
                    x, y = cx + side * fw * 0.55 + dx, cy + 40 + dy
                    d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=_shade(self.skin, 0.6))

    def _eye_centres(self):
        gap = self.fw * 0.42
        return [(self.cx - gap, self.cy - 5), (self.cx + gap, self.cy - 5)]

    def _eyes(self, d):
        for x, y in self._eye_centres():
            if self.eyes == "happy":
                d.arc([x - 32, y - 15, x + 32, y + 35], 200, 340, fill=INK, width=LINE + 2)
            elif self.eyes == "dots":
                d.ellipse([x - 15, y - 18, x + 15, y + 18], fill=INK)
                d.ellipse([x - 6, y - 11, x + 2, y - 3], fill=(255, 255, 255))
            else:
                rx, ry = (40, 48) if self.eyes == "big" else (32, 34)
                d.ellipse([x - rx, y - ry, x + rx, y + ry], fill=(255, 255, 255), outline=INK, width=LINE - 2)
                ir = ry * 0.62
                d.ellipse([x - ir, y - ir + 6, x + ir, y + ir + 6], fill=self.eye_colour)
                d.ellipse([x - ir * 0.5, y - ir * 0.5 + 6, x + ir * 0.5, y + ir * 0.5 + 6], fill=INK)
                d.ellipse([x - ir * 0.55, y - ir * 0.55, x - ir * 0.1, y - ir * 0.1], fill=(255, 255, 255))

    def _brows(self, d):
        colour = _shade(self.hair_colour, 0.55) if self.hair != "bald" else INK
        for side, (x, y) in zip((-1, 1), self._eye_centres()):
            y = y - 62
            if self.brows == "arch":
                d.arc([x - 40, y, x + 40, y + 40], 200, 340, fill=colour, width=LINE + 3)
            elif self.brows == "flat":
                d.line([x - 34, y + 14 + side * 4, x + 34, y + 14 - side * 4], fill=colour, width=LINE + 3)
            elif self.brows == "thick":
                d.rounded_rectangle([x - 38, y + 4, x + 38, y + 26], radius=10, fill=colour, outline=INK, width=4)

    def _nose(self, d):
        cx, y = self.cx, self.cy + 45
        if self.nose == "button":
            d.ellipse([cx - 16, y - 10, cx + 16, y + 14], fill=_shade(self.skin, 0.85), outline=INK, width=6)
        elif self.nose == "arc":
            d.arc([cx - 20, y - 20, cx + 20, y + 14], 20, 160, fill=INK, width=7)

    def _mouth(self, d):
        cx, y = self.cx, self.cy + 105
        w = self.fw * 0.42
        if self.mouth == "smile":
            d.arc([cx - w, y - 45, cx + w, y + 25], 20, 160, fill=INK, width=LINE + 1)
        elif self.mouth == "open":
            d.chord([cx - w, y - 40, cx + w, y + 40], 0, 180, fill=(120, 30, 40), outline=INK, width=LINE)
            d.chord([cx - w * 0.5, y + 8, cx + w * 0.5, y + 38], 180, 360, fill=(240, 110, 120))
        elif self.mouth == "grin":
            d.chord([cx - w, y - 35, cx + w, y + 35], 0, 180, fill=(255, 255, 255), outline=INK, width=LINE)
            d.line([cx - w + 10, y + 10, cx + w - 10, y + 10], fill=INK, width=4)
        elif self.mouth == "o":
            d.ellipse([cx - 20, y - 12, cx + 20, y + 26], fill=(120, 30, 40), outline=INK, width=LINE - 2)
        else:  # smirk: a lopsided half smile
            d.arc([cx - w * 0.7, y - 40, cx + w * 0.9, y + 12], 10, 120, fill=INK, width=LINE + 1)

    def _facial_hair(self, d):
        cx, cy, fw, fh = self.cx, self.cy, self.fw, self.fh
        colour = self.hair_colour
        if self.beard == "moustache":
            for side in (-1, 1):
                d.chord(self._box(cx, cy + 62, cx + side * 75, cy + 110), 180, 360, fill=colour,
                        outline=INK, width=6)
        elif self.beard == "beard":
            d.chord([cx - fw + 8, cy + 10, cx + fw - 8, cy + fh + 40], 0, 180, fill=colour, outline=INK,
                    width=LINE)
            w = fw * 0.38
            d.chord([cx - w, cy + 70, cx + w, cy + 140], 0, 180, fill=(120, 30, 40), outline=INK, width=6)

    def _hair_front(self, d):
        cx, cy, fw, fh = self.cx, self.cy, self.fw, self.fh
        c, top = self.hair_colour, cy - fh
        cap = [cx - fw - 12, top - 28, cx + fw + 12, cy + fh * 0.35]
        if self.hair in ("short", "long", "bob", "pigtails", "bun", "side"):
            d.chord(cap, 180, 360, fill=c, outline=INK, width=LINE)
            if self.hair == "side":  # a swoop of fringe over one side of the forehead
                s = 1 if self.rng.random() < 0.5 else -1
                pts = [(cx - s * fw * 0.9, top + 60), (cx + s * fw * 1.05, top + 20), (cx + s * fw * 1.0, cy - 10),
                       (cx + s * fw * 0.3, top + 110)]
                d.polygon(pts, fill=c, outline=INK, width=LINE)
            elif self.hair in ("long", "bob"):
                d.chord([cx - fw * 0.9, top - 10, cx + fw * 0.9, top + 120], 0, 180, fill=c)
                d.arc([cx - fw * 0.9, top - 10, cx + fw * 0.9, top + 120], 0, 180, fill=INK, width=LINE)
        elif self.hair == "spiky":
            n = 7
            xs = np.linspace(cx - fw - 10, cx + fw + 10, 2 * n + 1)
            pts = [(cx + fw + 14, cy - fh * 0.15)]
            for i, x in enumerate(xs[::-1]):
                lift = 95 if i % 2 else 10
                pts.append((x, top + 30 - lift * (1 - abs(x - cx) / (fw * 1.8))))
            pts.append((cx - fw - 14, cy - fh * 0.15))
            pts.append((cx, top + 70))
            d.polygon(pts, fill=c, outline=INK, width=LINE)
        elif self.hair == "curly":
            for i in range(7):
                x = cx - fw * 0.75 + i * fw * 0.25
                d.ellipse([x - 45, top - 30, x + 45, top + 60], fill=c, outline=INK, width=LINE)
        elif self.hair == "mohawk":
            d.polygon([(cx - 36, top + 20), (cx - 28, top - 70), (cx, top - 95), (cx + 28, top - 70),
                       (cx + 36, top + 20)], fill=c, outline=INK, width=LINE)

    def _glasses(self, d):
        if self.glasses == "none":
            return
        (lx, y), (rx, _) = self._eye_centres()
        r = 52
        frame = (50, 50, 60) if self.glasses != "round" else (160, 60, 40)
        for x in (lx, rx):
            box = [x - r, y - r + 4, x + r, y + r - 4]
            if self.glasses == "square":
                d.rounded_rectangle(box, radius=14, outline=frame, width=LINE)
            elif self.glasses == "round":
                d.ellipse(box, outline=frame, width=LINE)
            else:  # sunglasses
                d.rounded_rectangle(box, radius=26, fill=(30, 30, 45), outline=INK, width=LINE)
                d.line([x - r * 0.5, y - r * 0.3, x - r * 0.1, y - r * 0.6], fill=(120, 120, 150), width=7)
        d.line([lx + r, y - 6, rx - r, y - 6], fill=frame, width=LINE)
        d.line([lx - r, y - 10, self.cx - self.fw - 8, y - 20], fill=frame, width=LINE - 2)
        d.line([rx + r, y - 10, self.cx + self.fw + 8, y - 20], fill=frame, width=LINE - 2)

    def _hat(self, d):
        cx, top, fw = self.cx, self.cy - self.fh, self.fw
        colour = _shade(self.clothes, 0.9)
        if self.hat == "beanie":
            d.chord([cx - fw - 20, top - 70, cx + fw + 20, top + 170], 180, 360, fill=colour, outline=INK, width=LINE)
            d.rounded_rectangle([cx - fw - 26, top + 20, cx + fw + 26, top + 70], radius=20,
                                fill=_shade(colour, 0.8), outline=INK, width=LINE)
            d.ellipse([cx - 32, top - 110, cx + 32, top - 46], fill=(250, 250, 250), outline=INK, width=LINE)
        elif self.hat == "cap":  # a peaked cap: crown, then the peak over the forehead
            d.ellipse([cx - fw * 0.9, top + 38, cx + fw * 0.9, top + 92], fill=_shade(colour, 0.8),
                      outline=INK, width=LINE)
            d.chord([cx - fw - 10, top - 50, cx + fw + 10, top + 130], 180, 360, fill=colour, outline=INK, width=LINE)
            d.ellipse([cx - 14, top - 62, cx + 14, top - 34], fill=colour, outline=INK, width=LINE - 3)

    def _bow(self, d):
        if not self.bow or self.hat != "none":
            return
        x, y = self.cx + self.fw * 0.55, self.cy - self.fh + 10
        colour = (240, 80, 120)
        d.polygon([(x, y), (x - 55, y - 35), (x - 55, y + 35)], fill=colour, outline=INK, width=LINE - 2)
        d.polygon([(x, y), (x + 55, y - 35), (x + 55, y + 35)], fill=colour, outline=INK, width=LINE - 2)
        d.ellipse([x - 16, y - 16, x + 16, y + 16], fill=_shade(colour, 0.85), outline=INK, width=LINE - 3)


def make_avatar(seed: int, index: int) -> np.ndarray:
    """Avatar `index` of set `seed`: a 256x256x3 uint8 picture that depends only on (seed, index)."""
    return Avatar(np.random.default_rng([seed, index])).draw()


def demo_name(index: int) -> str:
    return f"demo_{index:05d}.png"


def make_demo(out_dir: Path, count: int, seed: int, progress: Callable[[int, int], None] | None = None, *,
              force: bool = False, workers: int | None = None) -> dict:
    """Write `count` avatars as out_dir/demo_NNNNN.png; existing files are kept unless `force`.

    Returns {"made", "existing", "out_dir"}; `progress(done, count)` after each picture.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def one(i: int) -> bool:
        path = out_dir / demo_name(i)
        if path.exists() and not force:
            return False
        save_png(make_avatar(seed, i), path)
        return True

    made = 0
    with ThreadPoolExecutor(workers or 2) as pool:  # PIL drawing and zlib release the GIL for part of the work
        for done, fresh in enumerate(pool.map(one, range(count)), 1):
            made += fresh
            if progress:
                progress(done, count)
    return {"made": made, "existing": count - made, "out_dir": str(out_dir)}
