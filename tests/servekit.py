"""What the serve tests share: a tiny installed generator, a drawing, and a real server in a subprocess."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image, ImageDraw

from icanvas.pix2pix.checkpoints import ModelInfo, install_model, save_generator
from icanvas.pix2pix.networks import GeneratorConfig, UnetGenerator, init_weights


def install_tiny_model(root: Path, theme: str = "demo", size: int = 64, ngf: int = 8, seed: int = 0) -> Path:
    """A randomly initialised small generator, installed as <root>/models/<theme>/ like compare --select does."""
    torch.manual_seed(seed)
    config = GeneratorConfig(size=size, ngf=ngf)
    net = UnetGenerator(config)
    init_weights(net, gain=0.1)  # pix2pix's 0.02 gives an almost flat grey picture before training
    checkpoint = save_generator(Path(root) / "runs" / f"{theme}.safetensors", net,
                                ModelInfo(theme=theme, generator=config, run="tiny", epoch=1,
                                          sketch_style={"line_width": 1.5, "margin": 0.08}))
    return install_model(root, checkpoint, metrics={"f": 0.5})


def drawing(side: int = 200, shift: int = 0) -> np.ndarray:
    """A child's face: black strokes on white paper, HxWx3 uint8."""
    img = Image.new("RGB", (side, side), "white")
    pen = ImageDraw.Draw(img)
    s = side / 200
    pen.ellipse([30 * s + shift, 30 * s, 170 * s, 170 * s], outline="black", width=max(2, int(5 * s)))
    pen.ellipse([70 * s, 75 * s, 85 * s, 90 * s], fill="black")
    pen.ellipse([115 * s, 75 * s, 130 * s, 90 * s], fill="black")
    pen.arc([65 * s, 90 * s, 135 * s, 140 * s], 20, 160, fill="black", width=max(2, int(5 * s)))
    return np.asarray(img)


def png_bytes(arr: np.ndarray | Image.Image, fmt: str = "PNG", **save) -> bytes:
    img = arr if isinstance(arr, Image.Image) else Image.fromarray(arr)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def decode_png(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    img.load()
    return img


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`icanvas serve` in a subprocess on 127.0.0.1 and a free port; stopped with Ctrl-C (SIGINT)."""

    def __init__(self, root: Path, log: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log                            # stderr: messages and the access log
        self.stdout = log.with_suffix(".out")     # stdout: results only (the --json summary)
        env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
        with open(log, "wb") as err, open(self.stdout, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "icanvas", "--root", str(root), "serve",
                                          "--port", str(self.port), *args], stdout=out, stderr=err, env=env)

    def wait_ready(self, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> "LiveServer":
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _png_header(width: int, height: int) -> bytes:
    """A valid PNG start claiming width x height, with a few bytes of pixel data: a decompression bomb's shape."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
            + chunk(b"IEND", b""))


def odd_uploads() -> dict[str, tuple[bytes, int]]:
    """What a phone might send, with the status the service must answer: broken files get their 4xx,
    unusual but valid pictures (16-bit, CMYK, transparent) get a picture."""
    face = drawing()
    gray16 = Image.fromarray(face[..., 0].astype(np.uint16) * 257)          # 16-bit grayscale PNG
    rgba = np.dstack([face, np.where(face[..., 0] < 128, 255, 0).astype(np.uint8)])  # lines on transparent paper
    return {
        "truncated png": (png_bytes(face)[:300], 415),
        "zero bytes": (b"", 415),
        "text named .png": (b"this is not a picture, it is a shopping list\n" * 20, 415),
        "header claims 100000x100000": (_png_header(100_000, 100_000), 413),
        "1x1 image": (png_bytes(np.zeros((1, 1, 3), np.uint8)), 422),
        "blank canvas": (png_bytes(np.full((200, 200, 3), 255, np.uint8)), 422),
        "16-bit png": (png_bytes(gray16), 200),
        "cmyk jpeg": (png_bytes(Image.fromarray(face).convert("CMYK"), "JPEG", quality=90), 200),
        "rgba png": (png_bytes(Image.fromarray(rgba, "RGBA")), 200),
    }


def _coloured_shapes(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A training pair whose colours no line can tell: flat ellipses of random colours on a random background,
    and their black outlines."""
    photo = np.empty((size, size, 3), np.uint8)
    photo[:] = rng.integers(0, 256, 3)
    lines = Image.new("L", (size, size), 255)
    picture = Image.fromarray(photo)
    for _ in range(rng.integers(1, 4)):
        cx, cy = rng.integers(12, size - 12, 2)
        ax, ay = rng.integers(6, 20, 2)
        box = [int(cx - ax), int(cy - ay), int(cx + ax), int(cy + ay)]
        ImageDraw.Draw(picture).ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        ImageDraw.Draw(lines).ellipse(box, outline=0)
    return np.asarray(lines), np.asarray(picture)


def train_hint_model(work: Path, size: int = 64, steps: int = 400) -> Path:
    """A small generator trained with colour hints on shapes whose colour only the hints carry (about 30 s on
    one core): it paints what the crayon says. Returns its checkpoint."""
    from icanvas.core.images import save_png
    from icanvas.pix2pix.trainer import TrainConfig, train

    rng = np.random.default_rng(0)
    for split, count in (("train", 48), ("val", 4)):
        (work / "pairs" / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            lines, photo = _coloured_shapes(rng, size)
            save_png(np.concatenate([np.repeat(lines[:, :, None], 3, axis=2), photo], axis=1),
                     work / "pairs" / split / f"{i:03d}.png")
    cfg = TrainConfig(data=str(work / "pairs"), run_dir=str(work / "run"), theme="demo", run="hints", size=size,
                      ngf=8, ndf=8, batch_size=4, epochs=1000, max_steps=steps, hints=True, val_limit=4,
                      save_every=1000)
    return train(cfg).checkpoint


def crayon_drawing(colour: tuple[int, int, int], side: int = 256) -> np.ndarray:
    """An oval outline in black pen with a patch of crayon colour inside, HxWx3 uint8."""
    img = Image.new("RGB", (side, side), "white")
    pen = ImageDraw.Draw(img)
    s = side / 256
    pen.ellipse([28 * s, 68 * s, 228 * s, 188 * s], outline="black", width=max(2, int(3 * s)))
    pen.rectangle([90 * s, 110 * s, 170 * s, 150 * s], fill=colour)
    return np.asarray(img)


def hue_degrees(rgb) -> float:
    """The hue of an RGB colour (0-255 values), in degrees."""
    r, g, b = (float(v) / 255 for v in rgb)
    high, low = max(r, g, b), min(r, g, b)
    if high == low:
        return 0.0
    if high == r:
        h = (g - b) / (high - low) % 6
    elif high == g:
        h = (b - r) / (high - low) + 2
    else:
        h = (r - g) / (high - low) + 4
    return 60.0 * h


def hue_gap(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


def fit_generator(x: torch.Tensor, y: torch.Tensor, size: int, steps: int = 120) -> UnetGenerator:
    """A small generator (ngf 8) fitted by L1 alone to sketches x and photos y (N x C x size x size in [-1, 1]),
    on one thread (tiny convolutions run fastest there): a model that has learned something, in seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        net = init_weights(UnetGenerator(GeneratorConfig(size=size, ngf=8)))
        opt = torch.optim.Adam(net.parameters(), 2e-3, betas=(0.5, 0.999))
        for _ in range(steps):
            idx = torch.randint(0, len(x), (16,))
            loss = (net(x[idx]) - y[idx]).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return net.eval()
