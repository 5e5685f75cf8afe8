"""What a generator reads: the sketch, and beside it, for a model trained with colour hints, the hint layers.

A plain model reads the sketch as `input_nc` equal channels (3, as pix2pix feeds its edge maps). A hint model
reads the sketch, then for each hint layer its colour (RGB in [-1, 1], 0 where the layer is empty) and its mask
(1 where it has colour, else 0). The layers: the crayon marks themselves, and with `hint_fill` also their fill
over the drawing's regions (sketch.fill), which tells the network how far each colour reaches, together with the
colours icanvas chose for the parts left blank (sketch.colouring), which lie in the fill alone. A hint model given
no hints reads empty layers, as it did for the share of training samples drawn without colour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from icanvas.sketch.fill import fill_hints
from icanvas.sketch.hints import with_chosen

if TYPE_CHECKING:
    from icanvas.pix2pix.networks import GeneratorConfig

HINT_CHANNELS = 4          # a hint layer: colour (RGB) and mask


def hint_input_nc(hint_fill: bool) -> int:
    return 1 + HINT_CHANNELS * (2 if hint_fill else 1)


def hint_layers(lines: np.ndarray, hints: np.ndarray, hint_fill: bool,
                chosen: np.ndarray | None = None) -> np.ndarray:
    """The hint layers a model reads, HxWx(4|8) uint8, from the lines (HxW, 255 paper), the child's crayon marks
    (HxWx4 hint layer, sketch.hints) and the colours chosen for the parts the child left blank (a hint layer,
    sketch.colouring; None: none) at the model size. A model with hint_fill reads chosen colours in the fill
    alone: its marks are only what a child put there, which the picture keeps (train --lambda-mark), while a
    chosen colour is a suggestion for its part that the picture may shade (pix2pix.dataset trains it so)."""
    colour = with_chosen(hints, chosen)
    return np.concatenate([hints, fill_hints(lines, colour)], axis=2) if hint_fill else colour


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
