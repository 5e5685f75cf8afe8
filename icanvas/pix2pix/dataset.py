"""The training data: A|B pairs as tensors, with pix2pix's random resize + crop + flip, and the epoch sampler.

The Dataset applies one random resize-to-1.117x + crop + flip to A and B together, from a generator seeded by
(seed, epoch, index): the data a step sees never depends on worker count or on whether the run was resumed.
Colour hints, for a model that reads them, are simulated from the photo after its crop and flip (so they lie
exactly where the photo has that colour), from their own stream of the same seed. With chosen_colours, a model
with the fill is also shown, on CHOSEN_SHARE of the samples, colours chosen for the drawing's parts as icanvas
chooses them for a line drawing, here from the sample's own photo (sketch.colouring.photo_colouring), in the fill
alone: it learns to paint a photo under a chosen colour (its features and shading; the doodles' realism,
docs/colouring.md) and to keep a child's crayon exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from icanvas.core.errors import BadInput, IcanvasError
from icanvas.data.pairing import read_pair
from icanvas.pix2pix.inputs import encode_input, hint_layers
from icanvas.pix2pix.networks import GeneratorConfig
from icanvas.sketch.colouring import photo_colouring
from icanvas.sketch.hints import CHOSEN_SHARE, NO_HINT_SHARE

LOAD_SCALE = 1.117  # pix2pix: load_size 286 for crop_size 256


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size and img.shape[1] == size:
        return img
    shrinking = img.shape[0] > size
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def _pad(abcd: np.ndarray, side: int) -> np.ndarray:
    """A zoomed-out pair centred on side x side: paper around the sketch and the photo's background colour (the
    median of its border) around the photo, as blank paper around a drawing is background (mirroring or spreading
    the border, tried first, taught the model stripes or a band at the frame's edge; docs/colouring.md)."""
    a = (side - abcd.shape[0]) // 2
    b = side - abcd.shape[0] - a
    border = np.concatenate([abcd[0], abcd[-1], abcd[:, 0], abcd[:, -1]])
    paper = [255, *(int(v) for v in np.median(border[:, 1:], axis=0))]
    return cv2.copyMakeBorder(np.ascontiguousarray(abcd), a, b, a, b, cv2.BORDER_CONSTANT, value=paper)


class PairDataset(Dataset):
    """A|B pairs as size x size x 4 uint8 tensors (channel 0 = sketch, 1..3 = photo; with hints, then the hint
    layers: pix2pix.inputs.hint_layers): a quarter of the bytes of float tensors; scaling to [-1, 1] happens once
    per batch, on the training device (to_model_input).

    With zoom above 1, the random resize is up to zoom times larger or smaller (a smaller pair padded, _pad): the
    drawing's parts lie at other places and sizes than in the framing all the theme's photos share, so the model
    paints from the lines, not from where a feature usually is (docs/colouring.md).

    Keys are (epoch, index): the sketch augmentation, the random resize/crop/flip and the hints come from
    generators seeded by (seed, epoch, index). With random=False (validation) images are just resized to size,
    and hints (if any) come from a generator seeded by (seed, index) alone: the same every epoch.
    """

    def __init__(self, files: Iterable[Path], size: int, *, random: bool = True, seed: int = 0,
                 sketch_augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                 hints: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                 hint_fill: bool = False, chosen_colours: bool = False, zoom: float = 1.0) -> None:
        self.files = list(files)
        self.size = size
        self.load_size = int(round(LOAD_SCALE * size))
        self.random = random
        self.seed = seed
        self.sketch_augment = sketch_augment
        self.hints = hints
        self.hint_fill = hint_fill
        self.chosen_colours = chosen_colours and hint_fill
        self.zoom = zoom

    def __len__(self) -> int:
        return len(self.files)

    def _read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The pair at index; a file that went bad since the run checked it is replaced by the next good one,
        so one broken file never stops a training run."""
        for k in range(len(self.files)):
            try:
                return read_pair(self.files[(index + k) % len(self.files)])
            except IcanvasError:
                continue
        raise BadInput(f"{self.files[index].parent}: no readable A|B pairs")

    def __getitem__(self, key: int | tuple[int, int]) -> torch.Tensor:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        sketch, photo = self._read(index)
        if self.sketch_augment is not None:  # its own stream: switching it off leaves the crops as they were
            sketch = self.sketch_augment(sketch, np.random.default_rng([self.seed, epoch, index, 1]))
        abcd = np.concatenate([sketch[:, :, None], photo], axis=2)  # one resize for A and B together
        if not self.random:
            crop = _resize(abcd, self.size)
            hint_rng = np.random.default_rng([self.seed, index, 3])
        else:
            rng = np.random.default_rng([self.seed, epoch, index, 0])
            side = self.load_size
            if self.zoom > 1.0:
                side = int(round(side * np.exp(rng.uniform(-np.log(self.zoom), np.log(self.zoom)))))
            big = _resize(abcd, side)
            if side < self.load_size:
                big, side = _pad(big, self.load_size), self.load_size
            y, x = rng.integers(0, side - self.size + 1, size=2)
            crop = big[y:y + self.size, x:x + self.size]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            hint_rng = np.random.default_rng([self.seed, epoch, index, 2])
        if self.hints is not None:
            crop = np.ascontiguousarray(crop)
            marks = self.hints(crop[:, :, 1:], hint_rng)
            chosen = None
            if self.chosen_colours and not marks[:, :, 3].any() and hint_rng.random() < CHOSEN_SHARE / NO_HINT_SHARE:
                chosen = photo_colouring(crop[:, :, 0], crop[:, :, 1:])
            crop = np.concatenate([crop, hint_layers(crop[:, :, 0], marks, self.hint_fill, chosen)], axis=2)
        return torch.from_numpy(np.ascontiguousarray(crop))


class EpochSampler(Sampler):
    """One epoch of (epoch, index) keys: shuffled and sharded across processes by DistributedSampler
    (seed + epoch), starting after `start` samples of this rank's share (to resume mid-epoch)."""

    def __init__(self, n: int, *, epoch: int, seed: int = 0, rank: int = 0, world: int = 1, start: int = 0) -> None:
        self.epoch = epoch
        self.start = start
        self.inner = DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed)
        self.inner.set_epoch(epoch)

    def __len__(self) -> int:
        return max(0, len(self.inner) - self.start)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = list(self.inner)[self.start:]
        return iter([(self.epoch, i) for i in indices])


def memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last on GPUs (tensor cores). On the CPU the default layout: measured faster for pix2pix there,
    as oneDNN's channels-last transposed convolutions copy their weight gradients every step."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def to_model_input(batch: torch.Tensor, device: torch.device,
                   config: GeneratorConfig = GeneratorConfig()) -> tuple[torch.Tensor, torch.Tensor]:
    """An NxHxWx(4+hint layers) uint8 batch to (the generator's input, the photo Nx3xHxW in [-1, 1])."""
    x = batch.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
    fmt = memory_format(device)
    hints = x[:, 4:] if x.shape[1] > 4 else None
    sketch = encode_input(x[:, :1] * 2 - 1, hints, config).contiguous(memory_format=fmt)
    photo = (x[:, 1:4] * 2 - 1).contiguous(memory_format=fmt)
    return sketch, photo
