"""Atomic writes: a file appears under its final name complete, or not at all."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_path(path: Path, *, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto `path` only if the block finishes.

    durable: also flush the file and the rename to the disk (fsync), so that a power cut leaves the old file or
    the new one, never an empty one. For what is costly to lose (checkpoints, the resume state)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # One temporary name per file, not per process: a run killed mid-write leaves it behind, and the next run
    # that writes the file writes over it and renames it away.
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
        if durable:
            _fsync(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: Path, data: Any) -> None:
    """Indented JSON with a final newline; values JSON does not know (paths, dates) as strings."""
    write_bytes_atomic(path, (json.dumps(data, indent=2, default=str) + "\n").encode())
