"""Where things live under the icanvas root (see DESIGN.md's data flow)."""

from __future__ import annotations

from pathlib import Path

from icanvas.core.runtime import env_root


def resolve_root(root: str | Path | None = None) -> Path:
    """`--root`, else $ICANVAS_HOME, else ~/.icanvas."""
    return Path(env_root() if root is None else root).expanduser().resolve()


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
