"""Realism: do the pictures look like the theme's photos? The kernel inception distance (KID) between pictures and
held-out photos, on features of the VGG16 inside HED (no other network, no download).

Features: the mean activation of each channel after VGG16 blocks 3, 4 and 5 (256 + 512 + 512 = 1,280 numbers),
with the photos first squashed to the pictures' size, so that resolution is not what tells them apart. Blocks 1-2 see pixels and single edges (any line drawing matches there);
blocks 3-5 respond to textures, parts and shading, which is where a shoe differs from a brown blob with lines on
it. Each block's means are divided by their root mean square over the photos, so the three blocks count alike
and x.y / d is about 1 between photos.

KID (Binkowski et al. 2018): the unbiased squared MMD with the kernel k(x, y) = (x.y / d + 1)^3; 0 for pictures
from the photos' distribution, unbiased on tens of images. Realism R = KID(lines) / (KID(lines) + KID(pictures)),
where the lines are the very sketches the pictures were made from: 1 for pictures as photo-like as the photos
(KID 0; a slightly negative unbiased estimate counts as 0), 0.5 for pictures no more photo-like than the bare
lines (the child's lines on a blank), towards 0 for worse. Bounded, so a bad checkpoint cannot swamp the other
scores it is averaged with. tests/test_realism.py checks the order on demo avatars and on shoes: the photos
themselves, then their HED edge drawings, then flat grey, flat colour and noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch

from icanvas.core.errors import BadInput
from icanvas.edges.hed import HED, rgb_to_tensor

FEATURE_BLOCKS = (3, 4, 5)
BLOCK_WIDTHS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}   # VGG16 channels per block
MIN_PHOTOS = 8


def kid(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased squared MMD of two feature sets (m x d, n x d; m, n >= 2) with the cubic polynomial kernel."""
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1.0) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2.0 * kxy.mean())


@torch.inference_mode()
def vgg_features(net: HED, images: Sequence[np.ndarray], batch_size: int = 16) -> np.ndarray:
    """N x 1,280 channel means after VGG16 blocks 3-5 (see the module docstring) of same-sized RGB images."""
    device = next(net.parameters()).device
    rows = []
    for start in range(0, len(images), batch_size):
        chunk = [np.ascontiguousarray(im) for im in images[start:start + batch_size]]
        blocks = list(net.vgg(rgb_to_tensor(chunk).to(device)))
        rows.append(torch.cat([blocks[b - 1].float().mean((2, 3)) for b in FEATURE_BLOCKS], 1).cpu().double())
    return torch.cat(rows).numpy()


@dataclass
class Realism:
    kid: float            # KID of the pictures to the photos (lower is more photo-like)
    lines_kid: float      # KID of the sketches they were made from, as pictures
    score: float | None   # R = lines_kid / (lines_kid + kid) in [0, 1], higher is more photo-like; None if lines_kid <= 0


class RealismScorer:
    """Scores sets of size x size pictures against one set of held-out photos of the theme."""

    def __init__(self, net: HED, photos: Sequence[np.ndarray], size: int, source: str = "") -> None:
        if len(photos) < MIN_PHOTOS:
            raise BadInput(f"{source or 'photos'}: realism needs at least {MIN_PHOTOS} photos, got {len(photos)}")
        self.net, self.source, self.photos, self.size = net, source, len(photos), size
        raw = vgg_features(net, [cv2.resize(np.ascontiguousarray(p), (size, size), interpolation=cv2.INTER_AREA)
                                 for p in photos])
        widths = [BLOCK_WIDTHS[b] for b in FEATURE_BLOCKS]
        self.scale = np.concatenate([np.full(w, np.sqrt((part ** 2).mean()) + 1e-12)
                                     for w, part in zip(widths, np.split(raw, np.cumsum(widths)[:-1], axis=1))])
        self.reference = raw / self.scale

    def kid(self, pictures: Sequence[np.ndarray]) -> float:
        """KID of the pictures (at least 2, size x size, RGB or grey uint8) to the photos."""
        rgb = [p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=2) for p in pictures]
        return kid(vgg_features(self.net, rgb) / self.scale, self.reference)

    def __call__(self, pictures: Sequence[np.ndarray], sketches: Sequence[np.ndarray]) -> Realism:
        """Realism of pictures made from `sketches` (the same number, at least 2)."""
        if len(pictures) < 2:
            raise BadInput("realism needs at least 2 pictures")
        distance, lines = self.kid(pictures), self.kid(sketches)
        score = lines / (lines + max(distance, 0.0)) if lines > 0 else None
        return Realism(round(distance, 4), round(lines, 4), None if score is None else round(score, 4))
