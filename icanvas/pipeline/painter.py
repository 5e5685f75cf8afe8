"""The one inference object: `Painter` loads a generator, reads a drawing for it and paints.

`generate`, `compare` and `serve` reach a generator only through a Painter, so one place decides the device and
how the network runs (as diffusers' pipelines do):

    painter = Painter.from_pretrained("demo", root=root)      # a theme's installed model
    painter = Painter.from_pretrained(Path("runs/demo/r/checkpoints/epoch_0010.safetensors"))
    picture = painter(load_rgb("drawing.png"))                 # normalise + paint one drawing
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from icanvas.core.errors import NotFound
from icanvas.core.paths import model_dir, resolve_root
from icanvas.core.runtime import DEFAULT_THEME_ENV, default_theme, resolve_device
from icanvas.core.themes import THEMES
from icanvas.pix2pix.checkpoints import ModelInfo, installed_themes, load_generator
from icanvas.sketch.normalize import NormalizeOptions, normalize_sketch


def resolve_model(root: Path, theme: str | None = None, checkpoint: Path | None = None) -> Path:
    """The checkpoint file or installed model folder to use: the checkpoint, else the theme's installed model,
    else the only installed model, else $ICANVAS_THEME's; otherwise a NotFound that lists what is installed."""
    if checkpoint is not None:
        if not Path(checkpoint).exists():
            raise NotFound(f"{checkpoint}: no such checkpoint")
        return Path(checkpoint)
    installed = installed_themes(root)
    if theme is None:
        if len(installed) == 1:
            theme = installed[0]
        elif default_theme():
            theme = default_theme()
        else:
            listed = ", ".join(installed) if installed else "none"
            raise NotFound(f"which model? pass --theme or --checkpoint (installed themes in {root / 'models'}: "
                           f"{listed}; ${DEFAULT_THEME_ENV} sets a default)")
    if theme in installed:
        return model_dir(root, theme)
    if theme not in THEMES:
        raise NotFound(f"unknown theme '{theme}': choose one of {', '.join(THEMES)}")
    raise NotFound(f"no model installed for theme '{theme}' in {model_dir(root, theme)}: train or fetch one: "
                   f"'icanvas train --theme {theme}', then 'icanvas compare <run> --sketches DIR --select'")


def sketches_to_tensor(sketches: Sequence[np.ndarray], input_nc: int = 3) -> torch.Tensor:
    """HxW uint8 sketches (255 = paper, 0 = line), all the same size, to an Nx{input_nc}xHxW tensor in [-1, 1]."""
    batch = torch.from_numpy(np.stack([np.asarray(s, dtype=np.uint8) for s in sketches]))
    x = batch.float().div_(127.5).sub_(1.0).unsqueeze(1)
    return x.expand(-1, input_nc, -1, -1).contiguous()


def tensor_to_images(y: torch.Tensor) -> list[np.ndarray]:
    """Nx3xHxW in [-1, 1] to a list of HxWx3 uint8 RGB arrays."""
    arr = ((y.detach().float().clamp(-1, 1) + 1.0) * 127.5 + 0.5).to(torch.uint8)
    return list(arr.permute(0, 2, 3, 1).cpu().numpy())


@contextmanager
def _dropout_on(model: nn.Module) -> Iterator[None]:
    """Dropout active, batch norm still per image: a different picture per seed."""
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    for m in drops:
        m.train()
    try:
        yield
    finally:
        for m in drops:
            m.eval()


@dataclass
class Painter:
    """A generator ready for inference (see pix2pix.networks.per_image_statistics) with what it needs to read
    a drawing: its size and its training sketch style."""

    model: nn.Module
    info: ModelInfo
    source: Path

    @classmethod
    def from_pretrained(cls, source: str | Path | None = None, *, root: str | Path | None = None,
                        device: str | torch.device = "auto") -> "Painter":
        """Load a model. source: a checkpoint file or installed model folder (a Path, or a str naming an existing
        one), a theme name (its model installed under root), or None (the only installed model, else
        $ICANVAS_THEME's). root: default as everywhere (--root, $ICANVAS_HOME, ~/.icanvas)."""
        if isinstance(source, str) and not Path(source).exists():
            path = resolve_model(resolve_root(root), theme=source)
        elif source is None:
            path = resolve_model(resolve_root(root))
        else:
            path = resolve_model(resolve_root(root), checkpoint=Path(source))
        model, info = load_generator(path, resolve_device(device))
        return cls(model, info, path)

    @property
    def size(self) -> int:
        return self.info.generator.size

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def normalize(self, rgb: np.ndarray, options: NormalizeOptions = NormalizeOptions()) -> np.ndarray:
        """A drawing as sent (HxWx3 uint8) to this model's input (see sketch.normalize.normalize_sketch)."""
        return normalize_sketch(rgb, self.size, self.info.sketch_style, options)

    def paint(self, sketches: Sequence[np.ndarray], variation: int | None = None,
              batch_size: int = 8) -> list[np.ndarray]:
        """Pictures (HxWx3 uint8 at the model size) for normalised sketches, batch_size per forward pass.

        variation None gives the deterministic picture; an integer seed switches dropout on and gives a
        different, reproducible picture for each seed."""
        out: list[np.ndarray] = []
        for start in range(0, len(sketches), batch_size):
            out += self._forward(sketches[start:start + batch_size], variation)
        return out

    def __call__(self, rgb: np.ndarray, options: NormalizeOptions = NormalizeOptions(),
                 variation: int | None = None) -> np.ndarray:
        """One drawing in, one picture out."""
        return self.paint([self.normalize(rgb, options)], variation)[0]

    @torch.inference_mode()
    def _forward(self, sketches: Sequence[np.ndarray], variation: int | None) -> list[np.ndarray]:
        device = self.device
        x = sketches_to_tensor(sketches, self.info.generator.input_nc).to(device)
        if variation is None:
            return tensor_to_images(self.model(x))
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), _dropout_on(self.model):
            torch.manual_seed(variation)
            return tensor_to_images(self.model(x))
