"""Where things live under the icanvas root (see DESIGN.md's data flow)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_ROOT = Path("~/.icanvas")
ENV_ROOT = "ICANVAS_HOME"


def resolve_root(root: str | Path | None = None) -> Path:
    """`--root`, else $ICANVAS_HOME, else ~/.icanvas."""
    if root is None:
        root = os.environ.get(ENV_ROOT) or DEFAULT_ROOT
    return Path(root).expanduser().resolve()


def theme_dir(root: Path, theme: str) -> Path:
    return root / "data" / theme


def photos_dir(root: Path, theme: str) -> Path:
    return theme_dir(root, theme) / "photos"


def edges_dir(root: Path, theme: str) -> Path:
    return theme_dir(root, theme) / "edges"


def pairs_dir(root: Path, theme: str) -> Path:
    return theme_dir(root, theme) / "pairs"


def runs_dir(root: Path, theme: str) -> Path:
    return root / "runs" / theme


def model_dir(root: Path, theme: str) -> Path:
    return root / "models" / theme


def weights_dir(root: Path) -> Path:
    return root / "weights"
