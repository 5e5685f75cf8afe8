"""What a generator reads: the sketch, and beside it, for a model trained with colour hints, the hint layers.

A plain model reads the sketch as `input_nc` equal channels (3, as pix2pix feeds its edge maps). A hint model
reads the sketch, then for each hint layer its colour (RGB in [-1, 1], 0 where the layer is empty) and its mask
(1 where it has colour, else 0). The layers: the crayon marks themselves, and with `hint_fill` also their fill
over the drawing's regions (sketch.fill), which tells the network how far each colour reaches. A hint model given
no hints reads empty layers, as it did for the share of training samples drawn without colour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from icanvas.sketch.fill import fill_hints

if TYPE_CHECKING:
    from icanvas.pix2pix.networks import GeneratorConfig

HINT_CHANNELS = 4          # a hint layer: colour (RGB) and mask


def hint_input_nc(hint_fill: bool) -> int:
    return 1 + HINT_CHANNELS * (2 if hint_fill else 1)


def hint_layers(lines: np.ndarray, hints: np.ndarray, hint_fill: bool) -> np.ndarray:
    """The hint layers a model reads, HxWx(4|8) uint8, from the lines (HxW, 255 paper) and the crayon marks
    (HxWx4 hint layer, sketch.hints) at the model size."""
    return np.concatenate([hints, fill_hints(lines, hints)], axis=2) if hint_fill else hints


def encode_input(sketch: torch.Tensor, layers: torch.Tensor | None, config: GeneratorConfig) -> torch.Tensor:
    """The generator's input from a sketch (Nx1xHxW in [-1, 1]) and its hint layers (Nx(4|8)xHxW in [0, 1], from
    hint_layers; None = no colour). A plain model ignores hints."""
    if not config.hints:
        return sketch.expand(-1, config.input_nc, -1, -1)
    if layers is None:
        return torch.cat([sketch, sketch.new_zeros(sketch.shape[0], config.input_nc - 1, *sketch.shape[2:])], 1)
    parts = [sketch]
    for k in range(0, layers.shape[1], HINT_CHANNELS):
        mask = (layers[:, k + 3:k + 4] > 0.5).to(sketch.dtype)
        parts += [(layers[:, k:k + 3] * 2 - 1) * mask, mask]
    return torch.cat(parts, 1)


def mark_loss(picture: torch.Tensor, model_input: torch.Tensor) -> torch.Tensor:
    """Mean L1 between a hint model's pictures (Nx3xHxW in [-1, 1]) and the crayon's colour under its marks (the
    first hint layer of encode_input's output), over the marked pixels; 0 where no sample has a mark."""
    colour, mask = model_input[:, 1:4], model_input[:, 4:5]
    return (picture - colour).abs().mul(mask).sum() / (3 * mask.sum()).clamp(min=1.0)
