"""Pairs: sketch and photo side by side (A|B, as pix2pix's combine_A_and_B.py) in stable train/val/test splits.

Geometry: a photo is SQUASHED to size x size (plain resize, aspect ignored, as in pix2pix's edges2* data), and its
edge map gets exactly the same resize, so A and B stay aligned pixel for pixel. No torch here: the training
Dataset that reads these files is icanvas.pix2pix.dataset.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from icanvas.core.errors import BadInput, Failure, IcanvasError, NotFound
from icanvas.core.images import find_images, load_gray, load_rgb, save_png, split_ab
from icanvas.core.progress import OnProgress, steps

SPLITS = ("train", "val", "test")


# ---------------------------------------------------------------- splits


def split_of(stem: str, *, val: float = 0.05, test: float = 0.0, seed: int = 0) -> str:
    """train, val or test from a hash of (seed, stem) alone: adding photos later never moves an existing one."""
    if val < 0 or test < 0 or val + test > 1:
        raise BadInput(f"val share {val} and test share {test} must be >= 0 and add up to at most 1")
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
    failed: list[Failure] = field(default_factory=list)      # unreadable, size mismatch
    unmatched: list[Failure] = field(default_factory=list)   # no photo, no edges, duplicate names

    @property
    def total_written(self) -> int:
        return sum(self.written.values())

    def to_dict(self) -> dict:
        return {"out": str(self.out_dir), "written": self.total_written, "per_split": dict(self.written),
                "skipped": self.skipped, "failed": len(self.failed), "unmatched": len(self.unmatched),
                "problems": [str(f) for f in self.failed + self.unmatched]}


@dataclass(frozen=True)
class PairJob:
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


def _stems(folder: Path) -> tuple[dict[str, Path], list[Failure]]:
    by_stem: dict[str, Path] = {}
    dupes = []
    for p in find_images([folder]):
        if p.stem in by_stem:
            dupes.append(Failure(str(p), f"duplicate name (also {by_stem[p.stem].name}), skipped"))
        else:
            by_stem[p.stem] = p
    return by_stem, dupes


def _make_pair(job: PairJob, size: int) -> np.ndarray:
    if job.paired is not None:
        sketch, photo = split_ab(load_rgb(job.paired), str(job.paired))
        return combine(squash(sketch, size), squash(photo, size))
    sketch, photo = load_gray(job.edges), load_rgb(job.photo)
    # The edges stage either kept the photo's size or squashed it to a square; anything else is not aligned.
    if sketch.shape[:2] != photo.shape[:2] and sketch.shape[0] != sketch.shape[1]:
        raise BadInput(f"{job.edges}: size mismatch, edges {sketch.shape[1]}x{sketch.shape[0]} "
                       f"vs photo {photo.shape[1]}x{photo.shape[0]}")
    return combine(squash(sketch, size), squash(photo, size))


def _run_jobs(jobs: list[PairJob], out: Path, report: PairReport, *, size: int, force: bool, workers: int,
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

    def work(job: PairJob) -> Failure | None:
        try:
            save_png(_make_pair(job, size), out / job.split / f"{job.stem}.png")
        except IcanvasError as exc:  # named by the file it is about
            files = [str(f) for f in (job.paired, job.edges, job.photo) if f is not None]
            return Failure.of(next((f for f in files if str(exc).startswith(f + ": ")), job.stem), exc)
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
                 seed: int = 0) -> tuple[list[PairJob], list[Failure]]:
    """Match edges and photos by file stem: the jobs to do, and every stem without a partner (or duplicated)."""
    for folder, what in ((edges, "edges"), (photos, "photos")):
        if not Path(folder).is_dir():
            raise NotFound(f"{folder}: no such {what} folder")
    edge_files, problems = _stems(Path(edges))
    photo_files, more = _stems(Path(photos))
    problems += more
    problems += [Failure(stem, "edges but no photo") for stem in sorted(edge_files.keys() - photo_files.keys())]
    problems += [Failure(stem, "photo but no edges") for stem in sorted(photo_files.keys() - edge_files.keys())]
    jobs = [PairJob(stem, split_of(stem, val=val, test=test, seed=seed), edge_files[stem], photo_files[stem], None)
            for stem in sorted(edge_files.keys() & photo_files.keys())]
    return jobs, problems


def plan_paired(folder: Path, *, val: float = 0.05, test: float = 0.0, seed: int = 0) -> tuple[list[PairJob], list[Failure]]:
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
            problems.append(Failure(str(p), f"duplicate name in {split} (also {seen[split, p.stem]}), skipped"))
            continue
        seen[split, p.stem] = p
        jobs.append(PairJob(p.stem, split, None, None, p))
    return jobs, problems


def write_pairs(jobs: list[PairJob], problems: list[Failure], out: Path, *, size: int = 256, force: bool = False,
                workers: int = 4, on_item: Callable[[str], None] | None = None) -> PairReport:
    """Write OUT/<split>/<stem>.png for every job; problems are counted and listed, never fatal."""
    if size < 8:
        raise BadInput(f"size {size} is too small (at least 8)")
    report = PairReport(Path(out), unmatched=list(problems))
    return _run_jobs(jobs, Path(out), report, size=size, force=force, workers=workers, on_item=on_item)


# ---------------------------------------------------------------- reading pairs for training


def make_pairs(out: Path, *, edges: Path | None = None, photos: Path | None = None, paired: Path | None = None,
               size: int = 256, val: float = 0.05, test: float = 0.0, seed: int = 0, force: bool = False,
               workers: int = 4, on_progress: OnProgress = lambda done, total: None) -> PairReport:
    """The whole of `icanvas pair`: edges beside photos matched by name (or already-paired A|B images), split and
    written under out; NotFound when there is nothing to pair."""
    if paired is not None:
        jobs, problems = plan_paired(paired, val=val, test=test, seed=seed)
    else:
        jobs, problems = plan_folders(edges, photos, val=val, test=test, seed=seed)
    if not jobs:
        source = paired if paired is not None else f"{edges} and {photos}"
        raise NotFound(f"{source}: nothing to pair (no images{'' if paired else ' with matching names'})")
    return write_pairs(jobs, problems, out, size=size, force=force, workers=workers,
                       on_item=steps(len(jobs), on_progress))


def pair_files(folder: Path) -> list[Path]:
    """The A|B images of one split folder, sorted (empty list if the folder does not exist)."""
    folder = Path(folder)
    return find_images([folder]) if folder.is_dir() else []


def read_pair(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One A|B file as (sketch HxW uint8, photo HxWx3 uint8)."""
    return split_ab(load_rgb(path), str(path))
