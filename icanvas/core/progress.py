"""How library loops report progress: on_progress(done, total), which the CLI shows as a bar."""

from __future__ import annotations

from typing import Callable

OnProgress = Callable[[int, int], None]


def steps(total: int, on_progress: OnProgress) -> Callable[..., None]:
    """Report (0, total) now and return a step() to call once per finished item (its arguments are ignored)."""
    done = 0

    def step(*_) -> None:
        nonlocal done
        done += 1
        on_progress(done, total)

    on_progress(0, total)
    return step
