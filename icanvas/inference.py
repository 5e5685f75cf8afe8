"""Run a generator on sketches: arrays in, pictures out. Shared by `generate`, `compare` and `serve`."""

from __future__ import annotations

from contextlib import contextmanager
import copy
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class ImageNorm(nn.Module):
    """A batch norm's scale and shift over each image's own statistics (instance norm with its affine)."""

    def __init__(self, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        self.eps = bn.eps
        self.weight = bn.weight
        self.bias = bn.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)


def per_image_statistics(net: nn.Module) -> nn.Module:
    """A copy of `net` in eval mode whose batch norms normalise every image by its own statistics.

    This is how pix2pix's authors test (batch norm on the statistics of a test batch of one), and it holds steady
    where the running statistics of a short GAN training do not (validation L1 swung 0.24..0.80 across epochs in
    eval mode, 0.27..0.28 this way). Per image, not per batch, so a picture never depends on its batch mates.
    """
    twin = copy.deepcopy(net)
    for module in list(twin.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, name, ImageNorm(child))
    return twin.eval()


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
    """Dropout active, batch norm still on its running statistics: a different picture per seed."""
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    for m in drops:
        m.train()
    try:
        yield
    finally:
        for m in drops:
            m.eval()


@torch.inference_mode()
def run_batch(model: nn.Module, sketches: Sequence[np.ndarray], *, variation: int | None = None) -> list[np.ndarray]:
    """Pictures for a batch of sketches (already normalised to the model size), in one forward pass.

    variation None gives the deterministic picture (eval mode); an integer seed switches dropout on and gives
    a different, reproducible picture for each seed.
    """
    device = next(model.parameters()).device
    input_nc = model.config.input_nc if hasattr(model, "config") else 3
    x = sketches_to_tensor(sketches, input_nc).to(device)
    if variation is None:
        return tensor_to_images(model(x))
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), _dropout_on(model):
        torch.manual_seed(variation)
        return tensor_to_images(model(x))
