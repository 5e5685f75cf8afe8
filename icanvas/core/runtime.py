"""The process's world and devices: the one module that reads environment variables.

`ICANVAS_HOME` (the root), `ICANVAS_THEME` (generate's default theme), `ICANVAS_CPU_BF16` (0: treat a CPU
with native bf16 as one without), `ICANVAS_API_KEYS` (serve's key file), torchrun's `RANK`, `LOCAL_RANK` and
`WORLD_SIZE`, and Kaggle's credentials.
torch is imported only when a device is resolved.

The runtime policy, one for every network icanvas runs (the generator, HED, HED's features for realism):
`resolve_runtime(device, precision, engine)`; icanvas.engines.runners has what carries it out.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from icanvas.core.errors import BadInput

ENV_ROOT = "ICANVAS_HOME"
DEFAULT_ROOT = Path("~/.icanvas")
DEFAULT_THEME_ENV = "ICANVAS_THEME"       # the theme `generate` uses when several models are installed
KAGGLE_API_ENV = "ICANVAS_KAGGLE_API"     # lets tests (or a mirror) stand in for Kaggle's API
CPU_BF16_ENV = "ICANVAS_CPU_BF16"         # 0: a CPU with native bf16 runs as one without (tests, benchmarks)
API_KEYS_ENV = "ICANVAS_API_KEYS"         # serve's key file, for containers (as --api-keys)

log = logging.getLogger("icanvas")


def warn(message: str) -> None:
    """One warning line: to the log where logging is set up (serve, tests), else on stderr."""
    if log.hasHandlers():
        log.warning(f"warning: {message}")
    else:
        print(f"warning: {message}", file=sys.stderr, flush=True)


def env_root() -> Path:
    """$ICANVAS_HOME, else ~/.icanvas (not yet resolved)."""
    return Path(os.environ.get(ENV_ROOT) or DEFAULT_ROOT)


def default_theme() -> str | None:
    return os.environ.get(DEFAULT_THEME_ENV) or None


def api_keys_env() -> Path | None:
    value = os.environ.get(API_KEYS_ENV)
    return Path(value) if value else None


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
ENGINES = ("auto", "torch", "onnxruntime")


def cpu_flags() -> list[str]:
    """The CPU features the runtime policy looks at (avx2, avx512f, avx512_bf16, amx_bf16, avx512_vnni,
    avx_vnni) that this CPU has, from /proc/cpuinfo (Linux; empty elsewhere)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni") if f in flags]


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX), unless $ICANVAS_CPU_BF16 is 0."""
    if os.environ.get(CPU_BF16_ENV, "").strip() == "0":
        return False
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device) -> str:
    """`fp32` or `bf16` for `auto|fp32|bf16` on a torch.device: auto is bf16 on CUDA and on CPUs with native
    bfloat16 (where it is the faster path), fp32 elsewhere."""
    if precision not in PRECISIONS:
        raise BadInput(f"precision {precision}: expected {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16()) else "fp32"


@dataclass(frozen=True)
class Runtime:
    """How a network runs: engine (torch or onnxruntime), precision (fp32 or bf16) and a torch.device."""

    engine: str
    precision: str
    device: object

    def describe(self) -> dict[str, str]:
        return {"engine": self.engine, "precision": self.precision, "device": str(self.device)}


# Where ONNX Runtime beats torch fp32 by >= 1.3x on CPUs without native bf16 (docs/speed.md): the U-Net
# generator 1.35x at batch 1 on a 2-core AVX2 EPYC (benchmarks/generate.py; 1.74-1.88x in fp32 on the bf16
# machine); HED's VGG16, bound by its large convolutions, 1.05-1.12x, so it stays on torch fp32 unless asked for.
ONNX_PAYS = {"generator": True, "hed": False}


def onnxruntime_installed() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def resolve_runtime(device="auto", precision: str = "auto", engine: str = "auto",
                    network: str = "generator") -> Runtime:
    """The one runtime policy, for a network of ONNX_PAYS. auto: torch in bf16 where bf16 is native (CUDA,
    AVX-512 BF16, AMX); on other CPUs the fastest exact fp32 path: ONNX Runtime where it pays for this network
    (torch fp32 with one warning line where onnxruntime is not installed), else torch fp32. A precision or
    engine asked for by name is what runs, or a BadInput says why it cannot."""
    if engine not in ENGINES:
        raise BadInput(f"engine {engine}: expected {', '.join(ENGINES)}")
    if precision not in PRECISIONS:
        raise BadInput(f"precision {precision}: expected {', '.join(PRECISIONS)}")
    dev = resolve_device(device)
    if engine == "auto":
        engine = "torch"
        if dev.type == "cpu" and resolve_precision(precision, dev) == "fp32" and ONNX_PAYS[network]:
            if onnxruntime_installed():
                engine = "onnxruntime"
            else:
                warn("onnxruntime is not installed: running torch fp32 (pip install onnxruntime: faster here)")
    if engine == "onnxruntime":
        if dev.type != "cpu":
            raise BadInput(f"device {dev}: engine onnxruntime runs on the CPU here (use --device cpu, or --engine "
                           "torch)")
        if precision == "bf16":
            raise BadInput("precision bf16: engine onnxruntime runs fp32 only (use --engine torch)")
        return Runtime("onnxruntime", "fp32", dev)
    return Runtime("torch", resolve_precision(precision, dev), dev)
