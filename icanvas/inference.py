"""Run a generator on sketches: arrays in, pictures out. Shared by `generate`, `compare` and `serve`."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn


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
