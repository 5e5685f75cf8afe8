"""The one place that decodes and encodes images: limits, EXIF rotation, alpha, modes; the A|B split."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image, ImageOps

from icanvas.core.errors import BadInput, NotFound, TooLarge, UnsupportedImage
from icanvas.core.io import write_bytes_atomic

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# What a drawing or a photo comes as. Nothing else is even parsed: Pillow would open EPS through Ghostscript.
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
DEFAULT_MAX_PIXELS = 25_000_000  # about 5000 x 5000; beyond that an image is a bomb or a mistake


def _decode(source: Path | bytes, name: str, max_pixels: int, convert=None) -> np.ndarray:
    """Open, check the size, decode and convert (to RGB unless `convert` says otherwise); every failure is an
    IcanvasError naming `name`."""
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise UnsupportedImage(f"{name}: empty file (0 bytes)")
        fp = io.BytesIO(source)
    else:
        if not source.is_file():
            raise NotFound(f"{name}: no such file")
        if source.stat().st_size == 0:
            raise UnsupportedImage(f"{name}: empty file (0 bytes)")
        fp = source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp, formats=FORMATS) as img:
                w, h = img.size
                if w * h > max_pixels:
                    raise TooLarge(f"{name}: {w}x{h} pixels is over the limit of {max_pixels:,} pixels")
                img.load()
                return (convert or to_rgb)(img)
    except (TooLarge, UnsupportedImage):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge(f"{name}: image is too large to decode safely ({exc})") from None
    except Exception as exc:  # PIL raises many types for bad data: UnidentifiedImageError, OSError, SyntaxError...
        reason = "not an image (PNG, JPEG, WebP, BMP or GIF)" if "cannot identify" in str(exc) \
            else f"cannot decode ({type(exc).__name__}: {exc})"
        raise UnsupportedImage(f"{name}: {reason}") from None


def _to_8bit(img: Image.Image) -> Image.Image:
    """16- and 32-bit single-channel modes to 8-bit by range, not by clipping."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return img


def _upright(img: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says. A broken EXIF block says nothing: the pixels are kept
    as stored rather than the picture refused (Pillow raises SyntaxError and others on corrupt EXIF)."""
    try:
        return ImageOps.exif_transpose(img) or img
    except Exception:
        return img


def to_rgb(img: Image.Image) -> np.ndarray:
    """Any PIL image to HxWx3 uint8 RGB: EXIF orientation applied, transparency composited on white."""
    img = _upright(img)
    img = _to_8bit(img)
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode in ("RGB", "L") and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def load_rgb(source: Path | str | bytes, *, name: str | None = None,
             max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a file or bytes to HxWx3 uint8 RGB, or raise an IcanvasError naming `name` and the reason."""
    if isinstance(source, str):
        source = Path(source)
    label = name or (str(source) if isinstance(source, Path) else "upload")
    return _decode(source, label, max_pixels)


def load_rgba(source: Path | str | bytes, *, name: str | None = None,
              max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a layer to HxWx4 uint8 RGBA (EXIF orientation applied). An image without transparency counts its
    near-white pixels as transparent (a layer drawn on white paper)."""
    if isinstance(source, str):
        source = Path(source)
    label = name or (str(source) if isinstance(source, Path) else "upload")
    return _decode(source, label, max_pixels, _to_rgba)


def _to_rgba(img: Image.Image) -> np.ndarray:
    img = _to_8bit(_upright(img))
    has_alpha = img.mode in ("RGBA", "LA", "PA", "P") and (img.mode != "P" or "transparency" in img.info)
    rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8).copy()
    if not has_alpha and "transparency" not in img.info:
        rgba[..., 3] = np.where((rgba[..., :3] < 235).any(axis=2), 255, 0)
    return rgba


def load_gray(source: Path | str | bytes, *, name: str | None = None,
              max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode to HxW uint8 luminance (alpha composited on white first)."""
    return to_gray(load_rgb(source, name=name, max_pixels=max_pixels))


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB to HxW uint8 luminance (ITU-R 601-2, as PIL's "L"): the one grey conversion."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).convert("L"), dtype=np.uint8).copy()


def split_ab(ab: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """An A|B picture (pix2pix's layout: sketch left, photo right, each square) to (sketch HxW uint8 luminance,
    photo HxWx3 uint8)."""
    h, w = ab.shape[:2]
    if w != 2 * h:
        raise BadInput(f"{name}: {w}x{h} is not an A|B pair (width must be twice the height)")
    return to_gray(ab[:, :h]), np.ascontiguousarray(ab[:, h:])


def encode_png(arr: np.ndarray, compress_level: int = 6) -> bytes:
    """PNG bytes of an HxW, HxWx3 or HxWx4 uint8 array (zlib level 0-9: 1 is fast, 6 Pillow's default)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def save_png(arr: np.ndarray, path: Path) -> None:
    """Write an HxW, HxWx3 or HxWx4 (RGBA) uint8 array as PNG, atomically."""
    write_bytes_atomic(Path(path), encode_png(arr))


def find_images(inputs: Iterable[Path | str]) -> list[Path]:
    """Files as given, folders searched recursively for image extensions; sorted, no duplicates."""
    found: dict[Path, None] = {}
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS and not f.name.startswith("."):
                    found[f] = None
        elif p.is_file():
            found[p] = None
        else:
            raise NotFound(f"{p}: no such file or folder")
    return list(found)
