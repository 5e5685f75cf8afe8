"""Which device a command runs on: `--device auto|cpu|cuda`, one GPU per torchrun process."""

from __future__ import annotations

import os

import torch

from icanvas.errors import BadInput


def resolve_device(device: str = "auto") -> torch.device:
    """auto: the GPU of this torchrun rank (LOCAL_RANK) if there is one, else the CPU."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BadInput(f"--device {device}: no CUDA device is available here (use --device cpu)")
        if device == "cuda":
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    elif device != "cpu":
        raise BadInput(f"--device {device}: expected auto, cpu or cuda")
    return torch.device(device)
