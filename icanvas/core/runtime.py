"""The process's world and devices: the one module that reads environment variables.

`ICANVAS_HOME` (the root), `ICANVAS_THEME` (generate's default theme), torchrun's `RANK`, `LOCAL_RANK` and
`WORLD_SIZE`, and Kaggle's credentials. torch is imported only by `resolve_device`, when it is called.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from icanvas.core.errors import BadInput

ENV_ROOT = "ICANVAS_HOME"
DEFAULT_ROOT = Path("~/.icanvas")
DEFAULT_THEME_ENV = "ICANVAS_THEME"       # the theme `generate` uses when several models are installed
KAGGLE_API_ENV = "ICANVAS_KAGGLE_API"     # lets tests (or a mirror) stand in for Kaggle's API


def env_root() -> Path:
    """$ICANVAS_HOME, else ~/.icanvas (not yet resolved)."""
    return Path(os.environ.get(ENV_ROOT) or DEFAULT_ROOT)


def default_theme() -> str | None:
    return os.environ.get(DEFAULT_THEME_ENV) or None


@dataclass(frozen=True)
class World:
    """This process's place among torchrun's processes; a world of one outside torchrun."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        """Only the main process (global rank 0) writes files and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def share(self, items: list) -> list:
        """This rank's share of a list: every size-th item, from rank."""
        return items[self.rank::self.size]


def torchrun_world() -> World:
    """RANK, LOCAL_RANK and WORLD_SIZE as torchrun sets them."""
    return World(rank=int(os.environ.get("RANK", "0")), local_rank=int(os.environ.get("LOCAL_RANK", "0")),
                 size=int(os.environ.get("WORLD_SIZE", "1")))


def kaggle_env() -> tuple[str | None, str | None, Path]:
    """KAGGLE_USERNAME, KAGGLE_KEY and the folder of kaggle.json ($KAGGLE_CONFIG_DIR, else ~/.kaggle)."""
    folder = Path(os.environ.get("KAGGLE_CONFIG_DIR") or "~/.kaggle").expanduser()
    return os.environ.get("KAGGLE_USERNAME"), os.environ.get("KAGGLE_KEY"), folder


def kaggle_api(default: str) -> str:
    return os.environ.get(KAGGLE_API_ENV, default)


def resolve_device(device: str = "auto"):
    """A torch.device for `auto|cpu|cuda|cuda:N`; auto: the GPU of this torchrun rank (LOCAL_RANK) if there is
    one, else the CPU."""
    import torch

    if isinstance(device, torch.device):
        return device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise BadInput(f"device {device}: no CUDA GPU on this machine (use cpu)")
        if device == "cuda":
            device = f"cuda:{torchrun_world().local_rank}"
    elif device != "cpu":
        raise BadInput(f"device {device}: expected auto, cpu or cuda")
    return torch.device(device)


PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), read from /proc/cpuinfo (Linux)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device) -> str:
    """`fp32` or `bf16` for `auto|fp32|bf16` on a torch.device: auto is bf16 on CUDA and on CPUs with native
    bfloat16 (where it is the faster path), fp32 elsewhere."""
    if precision not in PRECISIONS:
        raise BadInput(f"precision {precision}: expected {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16()) else "fp32"
