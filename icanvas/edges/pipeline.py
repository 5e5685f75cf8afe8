"""Photos to line drawings: HED in this process (batched on a GPU), post-processing in worker processes.

The photo decoder runs in threads ahead of the network, HED runs on batches of same-sized photos (in bf16 where
the runtime resolves to it: icanvas.core.runtime.resolve_runtime), and each fused map goes to a pool of worker
processes for the post-processing and the PNG write, so the network never waits for them. Under torchrun each
rank takes every WORLD_SIZE-th input, so no file is written twice.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from PIL import Image

from icanvas.core.errors import Failure, IcanvasError
from icanvas.core.images import find_images, load_rgb
from icanvas.core.progress import OnProgress, steps
from icanvas.core.runtime import World, resolve_runtime, torchrun_world
from icanvas.edges.hed import inference, rgb_to_tensor
from icanvas.edges.postprocess import finish_one, postprocess
from icanvas.edges.weights import load_hed
from icanvas.engines.runners import IMAGE_AXES, cached_graph, to_onnx


@dataclass(frozen=True)
class EdgeSettings:
    """How a photo becomes a drawing. The defaults are icanvas's, chosen by the F curve on edges2shoes
    (docs/edges.md); PRESETS["pix2pix-matlab"] holds the authors' values."""

    size: int = 256            # output drawings are size x size (photos are squashed, as pix2pix's edges2* data)
    border: int = 32           # reflect-pad the photo by this many px before HED, crop after
    threshold: float = 0.40    # keep NMS'd edges >= this (the authors: 25/255; these retrained weights run hotter)
    min_edge: int = 5          # drop 8-connected lines with fewer pixels (as the authors)
    nms: bool = True
    thin: bool = True
    raw: bool = False          # save the soft HED map (resized, dark = edge) instead of the drawing
    max_side: int = 1024       # photos longer than this are shrunk before HED (0 = never; bounds time and memory)
    merge_twins: int = 0       # merge lines closer than ~2x this many px (of the drawing) into one (0 = off)

    def post_options(self) -> dict:
        return dict(size=self.size, threshold=self.threshold, min_edge=self.min_edge,
                    nms=self.nms, thinning=self.thin, raw=self.raw, twins=self.merge_twins)


PRESETS = {
    "icanvas": EdgeSettings(),
    "pix2pix-matlab": EdgeSettings(border=128, threshold=25 / 255, max_side=0),
}



def prepare_photo(rgb: np.ndarray, settings: EdgeSettings) -> np.ndarray:
    """Shrink a photo over max_side (antialiased), then reflect-pad it by the border (as batch_hed.py)."""
    h, w = rgb.shape[:2]
    if settings.max_side and max(h, w) > settings.max_side:
        k = settings.max_side / max(h, w)
        size = (max(1, round(w * k)), max(1, round(h * k)))
        rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))
    b = settings.border
    if b > 0:
        mode = "reflect" if min(rgb.shape[:2]) > 1 else "edge"  # a 1-px side has nothing to reflect
        rgb = np.pad(rgb, ((b, b), (b, b), (0, 0)), mode=mode)
    return rgb


class EdgeDetector:
    """HED + post-processing for pictures in memory: detector(rgb) -> size x size uint8 drawing (0 = line).

    Used by `icanvas edges` and by compare (edges of generated pictures). device, precision (auto|fp32|bf16) and
    engine (auto|torch|onnxruntime): core.runtime.resolve_runtime for HED; `precision` and `engine` hold what
    auto resolved to. On onnxruntime the network's graph is cached under root."""

    def __init__(self, root: Path, settings: EdgeSettings = EdgeSettings(), device: str = "cpu",
                 *, precision: str = "auto", engine: str = "auto",
                 progress: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        runtime = resolve_runtime(device, precision, engine, network="hed")
        self.device, self.precision, self.engine = runtime.device, runtime.precision, runtime.engine
        self.net = load_hed(root, str(self.device), progress=progress)
        self.graph = None
        if self.engine == "onnxruntime":
            self.graph = cached_graph(root, "hed", self.net, lambda metadata: to_onnx(
                self.net, torch.zeros(1, 3, 64, 64), ["rgb"], ["edges"], {"rgb": IMAGE_AXES, "edges": IMAGE_AXES},
                metadata))

    def hed_maps(self, prepared: list[np.ndarray]) -> list[np.ndarray]:
        """Fused HED maps (float32, 1 = edge) of same-sized prepared photos, with the border cropped off."""
        b = self.settings.border
        with inference(self.precision, self.device):
            x = rgb_to_tensor(prepared).to(self.device, non_blocking=True)
            out = (self.graph(x) if self.graph is not None else self.net(x))[:, 0]
            h, w = out.shape[-2:]
            out = out[:, b:h - b, b:w - b].float().cpu().numpy()
        return list(out)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.batch([rgb])[0]

    def batch(self, images: list[np.ndarray], batch_size: int = 8) -> list[np.ndarray]:
        """Drawings for pictures of any sizes (same-sized ones share a network batch), in input order."""
        prepared = [prepare_photo(np.asarray(im, np.uint8), self.settings) for im in images]
        results: list[np.ndarray | None] = [None] * len(images)
        by_shape: dict[tuple, list[int]] = {}
        for i, p in enumerate(prepared):
            by_shape.setdefault(p.shape, []).append(i)
        for idx in by_shape.values():
            for start in range(0, len(idx), batch_size):
                chunk = idx[start:start + batch_size]
                for i, m in zip(chunk, self.hed_maps([prepared[i] for i in chunk])):
                    results[i] = postprocess(m, **self.settings.post_options())
        return results  # type: ignore[return-value]


# --- batch runs over files ---------------------------------------------------------------------------------------

@dataclass
class EdgesReport:
    done: int = 0
    skipped: int = 0                                           # outputs already there
    failed: list[Failure] = field(default_factory=list)


def _decoded(jobs: list[tuple[Path, Path]], settings: EdgeSettings, threads: int) -> Iterator[tuple]:
    """(src, dst, prepared photo or IcanvasError), in order, decoded by threads a few images ahead."""
    def load(job):
        src, dst = job
        try:
            return src, dst, prepare_photo(load_rgb(src), settings)
        except IcanvasError as exc:
            return src, dst, exc

    with ThreadPoolExecutor(threads) as pool:
        window: deque[Future] = deque()
        for job in jobs:
            window.append(pool.submit(load, job))
            if len(window) > 4 * threads:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def run_edges(jobs: list[tuple[Path, Path]], detector: EdgeDetector, *, batch_size: int = 1, workers: int = 1,
              on_done: Callable[[], None] = lambda: None) -> EdgesReport:
    """Make a drawing for every (photo, output) job. Bad photos are skipped and listed, never fatal.

    workers = 0 post-processes in this process (a plain loop); otherwise a pool of that many processes does it
    while the network goes on with the next batch."""
    report = EdgesReport()
    options = detector.settings.post_options()
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) if workers > 0 else None
    pending: deque[tuple[Future, Path]] = deque()

    def settle(block: bool) -> None:
        while pending and (block or pending[0][0].done()):
            fut, src = pending.popleft()
            try:
                fut.result()
                report.done += 1
            except IcanvasError as exc:
                report.failed.append(Failure.of(str(src), exc))
            except Exception as exc:  # a worker that died or a disk that is full: name it, go on
                report.failed.append(Failure(str(src), f"{type(exc).__name__}: {exc}"))
            on_done()

    def detect(batch: list[tuple[Path, Path, np.ndarray]]) -> None:
        try:
            maps = detector.hed_maps([p for _, _, p in batch])
        except (RuntimeError, MemoryError) as exc:  # e.g. out of GPU memory on a huge photo: fail these, go on
            for src, _, _ in batch:
                report.failed.append(Failure(str(src), f"HED failed ({type(exc).__name__}: {str(exc)[:200]})"))
                on_done()
            return
        for (src, dst, _), m in zip(batch, maps):
            if pool is None:
                try:
                    finish_one(m, str(dst), options)
                    report.done += 1
                except (IcanvasError, OSError) as exc:
                    report.failed.append(Failure.of(str(src), exc))
                on_done()
            else:
                pending.append((pool.submit(finish_one, m, str(dst), options), src))
        settle(block=False)
        while len(pending) > 4 * max(workers, batch_size):  # bound the maps waiting in memory
            pending[0][0].exception()  # wait for the oldest (its error, if any, is reported by settle)
            settle(block=False)

    try:
        buckets: dict[tuple, list] = {}
        for src, dst, photo in _decoded(jobs, detector.settings, threads=2):
            if isinstance(photo, IcanvasError):
                report.failed.append(Failure.of(str(src), photo))
                on_done()
                continue
            bucket = buckets.setdefault(photo.shape, [])
            bucket.append((src, dst, photo))
            if len(bucket) >= batch_size:
                detect(buckets.pop(photo.shape))
            elif sum(map(len, buckets.values())) > 2 * batch_size:  # many sizes: flush the fullest
                detect(buckets.pop(max(buckets, key=lambda k: len(buckets[k]))))
        for shape in list(buckets):
            detect(buckets.pop(shape))
        settle(block=True)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return report


@dataclass
class DrawingPlan:
    jobs: list[tuple[Path, Path]]        # (photo, drawing)
    clashes: list[Failure]               # photos refused because another photo has the same output
    outputs: list[Path]                  # the output folders, in input order


def plan_drawings(inputs: Iterable[Path], out: Path | None) -> DrawingPlan:
    """(photo, drawing) pairs for files and folders, and the inputs refused because their output would clash.

    A folder F writes F-edges/<relative path>.png beside it; a file writes <its folder>-edges/<stem>.png; with
    `out`, everything goes under out (folders keep their relative layout)."""
    jobs: dict[Path, Path] = {}
    clashes: list[Failure] = []
    outputs: dict[Path, None] = {}
    out = out.resolve() if out is not None else None
    for item in map(Path, inputs):
        if item.is_dir():
            base = out or item.resolve().with_name(item.resolve().name + "-edges")
            pairs = [(f, base / f.relative_to(item).with_suffix(".png")) for f in find_images([item])
                     if not f.resolve().is_relative_to(base)]
        else:
            parent = item.resolve().parent
            base = out or parent.with_name(parent.name + "-edges")
            pairs = [(f, base / f"{f.stem}.png") for f in find_images([item])]
        outputs[base] = None
        for src, dst in pairs:
            first = jobs.get(dst)
            if first is None:
                jobs[dst] = src
            elif first.resolve() != src.resolve():
                clashes.append(Failure(str(src), f"same output {dst} as {first}"))
    return DrawingPlan([(src, dst) for dst, src in jobs.items()], clashes, list(outputs))


def default_workers(device: torch.device) -> int:
    """GPUs outrun the post-processing: give it most cores. On a CPU, HED takes every core and the
    post-processing is about 2% of its time: one worker where there are cores to spare, else none."""
    cores = os.cpu_count() or 1
    if device.type == "cuda":
        return max(1, min(8, cores - 1))
    return 1 if cores > 2 else 0


def default_batch_size(device: torch.device) -> int:
    """Same-sized photos per HED batch: 8 on a GPU, 4 on a CPU (in fp32 0.9-1.5x the speed of batch 1 over several
    runs; in bf16 batches of 1, 4 and 8 measured alike: docs/edges.md#speed)."""
    return 8 if device.type == "cuda" else 4


@dataclass
class EdgesResult:
    report: EdgesReport
    outputs: list[Path]                  # the output folders, in input order
    device: torch.device
    precision: str                       # what HED ran in: fp32 or bf16
    engine: str                          # and on: torch or onnxruntime
    world: World
    seconds: float


def make_edges(inputs: Iterable[Path], out: Path | None, root: Path, settings: EdgeSettings = EdgeSettings(), *,
               device: str = "auto", precision: str = "auto", engine: str = "auto", batch_size: int | None = None,
               workers: int | None = None, force: bool = False, progress: Callable[[str], None] | None = None,
               on_progress: OnProgress = lambda done, total: None) -> EdgesResult:
    """The whole of `icanvas edges`: plan the outputs (see plan_drawings), take this torchrun rank's share, skip
    drawings that exist unless force, and run HED + post-processing on the rest. device, precision and engine:
    see EdgeDetector; batch_size defaults to default_batch_size, workers to default_workers."""
    plan = plan_drawings(inputs, out)
    world = torchrun_world()
    jobs = world.share(plan.jobs)
    todo = [(s, d) for s, d in jobs if force or not d.exists()]
    runtime = resolve_runtime(device, precision, engine, network="hed")
    dev = runtime.device
    start = time.perf_counter()
    report = EdgesReport()
    if todo:
        detector = EdgeDetector(root, settings, dev, precision=runtime.precision, engine=runtime.engine,
                                progress=progress)
        report = run_edges(todo, detector, batch_size=batch_size or default_batch_size(dev),
                           workers=default_workers(dev) if workers is None else workers,
                           on_done=steps(len(todo), on_progress))
    report.skipped = len(jobs) - len(todo)
    report.failed[:0] = plan.clashes
    return EdgesResult(report, plan.outputs, dev, runtime.precision, runtime.engine, world,
                       time.perf_counter() - start)
