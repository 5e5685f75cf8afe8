"""Pairs: sketch and photo side by side (A|B, as pix2pix's combine_A_and_B.py), stable splits, the training Dataset.

Geometry: a photo is SQUASHED to size x size (plain resize, aspect ignored, as in pix2pix's edges2* data), and its
edge map gets exactly the same resize, so A and B stay aligned pixel for pixel. The training Dataset applies one
random resize-to-1.117x + crop + flip to A and B together, from a generator seeded by (seed, epoch, index): the
data a step sees never depends on worker count or on whether the run was resumed.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, DistributedSampler, Sampler

from icanvas.errors import BadInput, IcanvasError, NotFound
from icanvas.images import find_images, load_gray, load_rgb, save_png

SPLITS = ("train", "val", "test")
LOAD_SCALE = 1.117  # pix2pix: load_size 286 for crop_size 256


# ---------------------------------------------------------------- splits


def split_of(stem: str, *, val: float = 0.05, test: float = 0.0, seed: int = 0) -> str:
    """train, val or test from a hash of (seed, stem) alone: adding photos later never moves an existing one."""
    if val < 0 or test < 0 or val + test > 1:
        raise BadInput(f"--val {val} and --test {test} must be >= 0 and add up to at most 1")
    digest = hashlib.sha256(f"{seed}:{stem}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test:
        return "test"
    if u < test + val:
        return "val"
    return "train"


# ---------------------------------------------------------------- writing pairs


@dataclass
class PairReport:
    """What `pair` did: counts per split, what it skipped, and every problem with its reason."""

    out_dir: Path
    written: dict[str, int] = field(default_factory=lambda: {s: 0 for s in SPLITS})
    skipped: int = 0                                     # already paired (re-run without --force)
    failed: list[str] = field(default_factory=list)      # "name: reason" (unreadable, size mismatch)
    unmatched: list[str] = field(default_factory=list)   # "stem: no photo" / "stem: no edges"

    @property
    def total_written(self) -> int:
        return sum(self.written.values())

    def to_dict(self) -> dict:
        return {"out": str(self.out_dir), "written": self.total_written, "per_split": dict(self.written),
                "skipped": self.skipped, "failed": len(self.failed), "unmatched": len(self.unmatched),
                "problems": self.failed + self.unmatched}


@dataclass(frozen=True)
class _Job:
    stem: str
    split: str
    edges: Path | None     # separate edges + photo ...
    photo: Path | None
    paired: Path | None    # ... or one A|B image that passes through


def squash(img: np.ndarray, size: int) -> np.ndarray:
    """Resize to size x size ignoring aspect (bicubic, as pix2pix; antialiased when shrinking)."""
    if img.shape[0] == size and img.shape[1] == size:
        return img
    return np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BICUBIC))


def combine(sketch: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """A|B: the grayscale sketch as three equal channels on the left, the RGB photo on the right."""
    return np.concatenate([np.repeat(sketch[:, :, None], 3, axis=2), photo], axis=1)


def _stems(folder: Path) -> tuple[dict[str, Path], list[str]]:
    by_stem: dict[str, Path] = {}
    dupes = []
    for p in find_images([folder]):
        if p.stem in by_stem:
            dupes.append(f"{p}: duplicate name (also {by_stem[p.stem].name}), skipped")
        else:
            by_stem[p.stem] = p
    return by_stem, dupes


def _make_pair(job: _Job, size: int) -> np.ndarray:
    if job.paired is not None:
        ab = load_rgb(job.paired)
        h, w = ab.shape[:2]
        if w != 2 * h:
            raise BadInput(f"{job.paired}: {w}x{h} is not an A|B pair (width must be twice the height)")
        sketch = np.asarray(Image.fromarray(ab[:, : w // 2]).convert("L"))
        return combine(squash(sketch, size), squash(ab[:, w // 2:], size))
    sketch, photo = load_gray(job.edges), load_rgb(job.photo)
    # The edges stage either kept the photo's size or squashed it to a square; anything else is not aligned.
    if sketch.shape[:2] != photo.shape[:2] and sketch.shape[0] != sketch.shape[1]:
        raise BadInput(f"{job.edges}: size mismatch, edges {sketch.shape[1]}x{sketch.shape[0]} "
                       f"vs photo {photo.shape[1]}x{photo.shape[0]}")
    return combine(squash(sketch, size), squash(photo, size))


def _run_jobs(jobs: list[_Job], out: Path, report: PairReport, *, size: int, force: bool, workers: int,
              on_item: Callable[[str], None] | None) -> PairReport:
    todo = []
    for job in jobs:
        target = out / job.split / f"{job.stem}.png"
        if target.exists() and not force:
            report.skipped += 1
            if on_item:
                on_item(job.stem)
        else:
            todo.append(job)

    def work(job: _Job) -> str | None:
        try:
            save_png(_make_pair(job, size), out / job.split / f"{job.stem}.png")
        except IcanvasError as exc:
            return str(exc)
        if job.paired is None:  # hash splits: a stem lives in one split only (e.g. after --val changed)
            for other in SPLITS:
                if other != job.split:
                    (out / other / f"{job.stem}.png").unlink(missing_ok=True)
        return None

    with ThreadPoolExecutor(max(1, workers)) as pool:  # PIL decodes and encodes outside the GIL
        for job, problem in zip(todo, pool.map(work, todo)):
            if problem is None:
                report.written[job.split] += 1
            else:
                report.failed.append(problem)
            if on_item:
                on_item(job.stem)
    return report


def plan_folders(edges: Path, photos: Path, *, val: float = 0.05, test: float = 0.0,
                 seed: int = 0) -> tuple[list[_Job], list[str]]:
    """Match edges and photos by file stem: the jobs to do, and every stem without a partner (or duplicated)."""
    for folder, what in ((edges, "edges"), (photos, "photos")):
        if not Path(folder).is_dir():
            raise NotFound(f"{folder}: no such {what} folder")
    edge_files, problems = _stems(Path(edges))
    photo_files, more = _stems(Path(photos))
    problems += more
    problems += [f"{stem}: edges but no photo" for stem in sorted(edge_files.keys() - photo_files.keys())]
    problems += [f"{stem}: photo but no edges" for stem in sorted(photo_files.keys() - edge_files.keys())]
    jobs = [_Job(stem, split_of(stem, val=val, test=test, seed=seed), edge_files[stem], photo_files[stem], None)
            for stem in sorted(edge_files.keys() & photo_files.keys())]
    return jobs, problems


def plan_paired(folder: Path, *, val: float = 0.05, test: float = 0.0, seed: int = 0) -> tuple[list[_Job], list[str]]:
    """Already-paired A|B images (pix2pix edges2shoes, edges2handbags): an image under a train/val/test folder
    keeps that split, others get the hash split."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotFound(f"{folder}: no such folder of A|B pairs")
    jobs, problems, seen = [], [], {}
    for p in find_images([folder]):
        parts = p.relative_to(folder).parts[:-1]
        split = next((s for s in reversed(parts) if s in SPLITS), None)
        split = split or split_of(p.stem, val=val, test=test, seed=seed)
        if (split, p.stem) in seen:
            problems.append(f"{p}: duplicate name in {split} (also {seen[split, p.stem]}), skipped")
            continue
        seen[split, p.stem] = p
        jobs.append(_Job(p.stem, split, None, None, p))
    return jobs, problems


def write_pairs(jobs: list[_Job], problems: list[str], out: Path, *, size: int = 256, force: bool = False,
                workers: int = 4, on_item: Callable[[str], None] | None = None) -> PairReport:
    """Write OUT/<split>/<stem>.png for every job; problems are counted and listed, never fatal."""
    if size < 8:
        raise BadInput(f"--size {size} is too small (at least 8)")
    report = PairReport(Path(out), unmatched=list(problems))
    return _run_jobs(jobs, Path(out), report, size=size, force=force, workers=workers, on_item=on_item)


# ---------------------------------------------------------------- reading pairs for training


def pair_files(folder: Path) -> list[Path]:
    """The A|B images of one split folder, sorted (empty list if the folder does not exist)."""
    folder = Path(folder)
    return find_images([folder]) if folder.is_dir() else []


def read_pair(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One A|B file as (sketch HxW uint8, photo HxWx3 uint8)."""
    ab = load_rgb(path)
    h, w = ab.shape[:2]
    if w != 2 * h:
        raise BadInput(f"{path}: {w}x{h} is not an A|B pair (width must be twice the height)")
    half = w // 2
    # The sketch half is gray; a weighted sum keeps JPEG-coloured edges (pix2pix data) faithful too.
    sketch = cv2.cvtColor(np.ascontiguousarray(ab[:, :half]), cv2.COLOR_RGB2GRAY)
    return sketch, np.ascontiguousarray(ab[:, half:])


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size and img.shape[1] == size:
        return img
    shrinking = img.shape[0] > size
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


class PairDataset(Dataset):
    """A|B pairs as size x size x 4 uint8 tensors (channel 0 = sketch, 1..3 = photo): a quarter of the bytes
    of float tensors; scaling to [-1, 1] happens once per batch, on the training device (to_model_input).

    Keys are (epoch, index): the sketch augmentation and the random resize/crop/flip come from a generator seeded
    by (seed, epoch, index). With random=False (validation) images are just resized to size.
    """

    def __init__(self, files: Iterable[Path], size: int, *, random: bool = True, seed: int = 0,
                 sketch_augment: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None) -> None:
        self.files = list(files)
        self.size = size
        self.load_size = int(round(LOAD_SCALE * size))
        self.random = random
        self.seed = seed
        self.sketch_augment = sketch_augment

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
            return torch.from_numpy(np.ascontiguousarray(_resize(abcd, self.size)))
        big = _resize(abcd, self.load_size)
        rng = np.random.default_rng([self.seed, epoch, index, 0])
        y, x = rng.integers(0, self.load_size - self.size + 1, size=2)
        crop = big[y:y + self.size, x:x + self.size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
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


def to_model_input(batch: torch.Tensor, device: torch.device, input_nc: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """An NxHxWx4 uint8 batch to (sketch Nx{input_nc}xHxW, photo Nx3xHxW) in [-1, 1] on `device`."""
    x = batch.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    fmt = memory_format(device)
    sketch = x[:, :1].expand(-1, input_nc, -1, -1).contiguous(memory_format=fmt)
    photo = x[:, 1:].contiguous(memory_format=fmt)
    return sketch, photo
