"""Where things live under the icanvas root (see docs/architecture.md for the data flow).

Theme and run names become folder names, and they come from users and from files (a checkpoint's metadata):
every path here checks its names with `check_name`, so no name can lead outside the root.
"""

from __future__ import annotations

import re
from pathlib import Path

from icanvas.core.errors import BadInput
from icanvas.core.runtime import env_root

# One path component: starts with a letter or digit (so never '.', '..' or hidden), no separators.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(kind: str, name: str) -> str:
    """`name` if it is a safe theme or run name, else BadInput naming it."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise BadInput(f"{kind} name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter "
                       "or digit")
    return name


def resolve_root(root: str | Path | None = None) -> Path:
    """`--root`, else $ICANVAS_HOME, else ~/.icanvas."""
    return Path(env_root() if root is None else root).expanduser().resolve()


def theme_dir(root: Path, theme: str) -> Path:
    return root / "data" / check_name("theme", theme)


def photos_dir(root: Path, theme: str) -> Path:
    return theme_dir(root, theme) / "photos"


def edges_dir(root: Path, theme: str) -> Path:
    return theme_dir(root, theme) / "edges"


def pairs_dir(root: Path, theme: str) -> Path:
    return theme_dir(root, theme) / "pairs"


def runs_dir(root: Path, theme: str) -> Path:
    return root / "runs" / check_name("theme", theme)


def run_dir(root: Path, theme: str, run: str) -> Path:
    return runs_dir(root, theme) / check_name("run", run)


def model_dir(root: Path, theme: str) -> Path:
    return root / "models" / check_name("theme", theme)


def weights_dir(root: Path) -> Path:
    return root / "weights"
