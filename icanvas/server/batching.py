"""Dynamic batching: one queue and one worker per theme.

Requests that arrive together run as one forward pass. Each request brings its generator input, made in its
own thread (Painter.encode: decoding, reading, colouring and the fill happen there, not here). The worker takes
the first waiting request, then gathers more until it has `max_batch` of them or `max_wait_ms` has passed, and
runs the network on the batch in a thread so the event loop keeps accepting requests. A failing batch fails its
own requests only.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np
import torch

from icanvas.inference.painter import Painter


class QueueFull(Exception):
    """The theme's queue is at its limit: the client should retry shortly."""


class InferenceFailed(Exception):
    """The forward pass raised; the message says why."""


@dataclass
class Picture:
    image: np.ndarray       # HxWx3 uint8
    batch_size: int         # how many requests shared the forward pass
    inference_ms: float     # how long that forward pass took
    queue_ms: float         # how long the request waited for it


@dataclass
class _Request:
    input: torch.Tensor     # 1xCxHxW, from Painter.encode
    variation: int | None
    future: asyncio.Future
    queued: float = 0.0     # time.perf_counter() at submit


class ThemeBatcher:
    def __init__(self, painter: Painter, *, max_batch: int, max_wait_ms: float, max_queue: int) -> None:
        self.painter = painter
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.queue: asyncio.Queue[_Request] = asyncio.Queue(maxsize=max_queue)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._work())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def submit(self, x: torch.Tensor, variation: int | None = None) -> Picture:
        """Queue one generator input (Painter.encode of one drawing) and wait for its picture; QueueFull at once
        if the queue is full."""
        job = _Request(x, variation, asyncio.get_running_loop().create_future(), time.perf_counter())
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            raise QueueFull(f"{self.queue.maxsize} requests already waiting") from None
        return await job.future

    async def _gather(self) -> list[_Request]:
        batch = [await self.queue.get()]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                batch.append(self.queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), left))
            except TimeoutError:
                break
        return [job for job in batch if not job.future.done()]  # drop requests whose client went away

    async def _work(self) -> None:
        while True:
            batch = await self._gather()
            # a variation switches dropout on, whose noise depends on the batch: run those alone so a seed
            # always gives the same picture (a painter that colours drawings chose its colours before, in
            # Painter.encode: its variations batch like the rest)
            alone = [job.variation is not None and self.painter.book is None for job in batch]
            plain = [job for job, a in zip(batch, alone) if not a]
            groups = ([plain] if plain else []) + [[job] for job, a in zip(batch, alone) if a]
            for group in groups:
                await self._run(group)

    async def _run(self, group: list[_Request]) -> None:
        start = time.perf_counter()
        try:
            images = await asyncio.to_thread(self.painter.run, torch.cat([job.input for job in group]),
                                             group[0].variation)
        except Exception as exc:  # the worker must survive anything the model does
            for job in group:
                if not job.future.done():
                    job.future.set_exception(InferenceFailed(f"{type(exc).__name__}: {exc}"))
            return
        ms = (time.perf_counter() - start) * 1000.0
        for job, image in zip(group, images):
            if not job.future.done():
                job.future.set_result(Picture(image, len(group), ms, (start - job.queued) * 1000.0))
