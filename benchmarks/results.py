"""Benchmark results as JSON files: the figures, with the commit, the machine and the date they come from.

Every benchmark ends with one call:

    from results import write_result             # benchmarks run as scripts: benchmarks/ is on sys.path
    path = write_result("edges", {"hed_ms": 330.2, ...})
    # -> benchmarks/results/edges-20250301-142501.json

The file holds {"benchmark", "date", "commit", "dirty", "command", "machine", "figures"}: `commit` is
`git rev-parse --short HEAD` (null outside a git checkout), `dirty` whether tracked files had changes,
`command` the benchmark's argv, `machine` the platform, CPU model, its flags
(avx2, avx512_bf16, amx...; whether bf16 was forced off: $ICANVAS_CPU_BF16=0), core count, load average, torch version and
GPU (if any). The docs cite these files for their figures. One file per run, named by benchmark and UTC time,
so runs never overwrite each other.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine() -> dict:
    """Where the figures were measured."""
    from icanvas.core.runtime import CPU_BF16_ENV, cpu_flags, cpu_has_bf16

    info: dict = {"platform": platform.platform(), "python": platform.python_version(), "cpu": _cpu_model(),
                  "cores": os.cpu_count(), "cpu_flags": cpu_flags(), "bf16_native": cpu_has_bf16(),
                  "bf16_forced_off": os.environ.get(CPU_BF16_ENV, "").strip() == "0", "torch": None, "gpu": None}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        info["load_average"] = None
    try:
        import torch
    except ImportError:
        return info
    info["torch"] = torch.__version__
    info["torch_threads"] = torch.get_num_threads()
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _plain(value):
    """numpy scalars and arrays, paths and the like, as JSON can hold them."""
    for attr in ("tolist", "item"):
        if hasattr(value, attr):
            return getattr(value, attr)()
    return str(value)


def _command() -> list[str]:
    """argv, with the script as a path from the repository root (benchmarks/edges.py) where it lies inside it."""
    script = Path(sys.argv[0]).resolve()
    shown = str(script.relative_to(REPO)) if script.is_relative_to(REPO) else sys.argv[0]
    return [shown, *sys.argv[1:]]


def write_result(name: str, figures: dict) -> Path:
    """Write `figures` (anything JSON can hold; numpy numbers and paths are converted) with the commit, the
    machine and the date to benchmarks/results/<name>-<UTC date and time>.json; return its path."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ValueError(f"benchmark name {name!r}: use letters, digits, '-', '_' and '.'")
    now = datetime.now(timezone.utc)
    commit = _git("rev-parse", "--short", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    record = {"benchmark": name, "date": now.isoformat(timespec="seconds"), "commit": commit,
              "dirty": None if status is None else bool(status), "command": _command(),
              "machine": machine(), "figures": figures}
    text = json.dumps(record, indent=2, default=_plain) + "\n"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}-{now:%Y%m%d-%H%M%S}.json"
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    tmp.replace(path)
    return path
