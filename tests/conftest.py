"""Shared fixtures: the workplace's shared test data, a scratch icanvas root, and the CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from icanvas.cli.app import app

REPO = Path(__file__).resolve().parents[1]


def _find_shared() -> Path | None:
    candidates = [os.environ.get("ICANVAS_SHARED"), REPO.parent / "shared", "/work/shared"]
    for c in candidates:
        if c and (Path(c) / "data").is_dir():
            return Path(c)
    return None


SHARED = _find_shared()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (test data that must not be copied into the project); set ICANVAS_SHARED to point elsewhere."""
    if SHARED is None:
        pytest.skip("shared test data not found (set ICANVAS_SHARED)")
    return SHARED


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty icanvas root for one test."""
    r = tmp_path / "root"
    r.mkdir()
    return r


@pytest.fixture
def cli():
    """Run the CLI in-process: cli(args...) -> click Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str, input: bytes | str | None = None):
        return runner.invoke(app, [str(a) for a in args], input=input, catch_exceptions=False)

    return invoke


TEST_CACHE = Path(os.environ.get("ICANVAS_TEST_CACHE", "~/.cache/icanvas-tests")).expanduser()


@pytest.fixture(scope="session")
def hed_root() -> Path:
    """An icanvas root holding the real HED weights, fetched once per machine by `icanvas fetch hed` into
    $ICANVAS_TEST_CACHE (default ~/.cache/icanvas-tests); later sessions reuse it."""
    result = CliRunner().invoke(app, ["--root", str(TEST_CACHE), "fetch", "hed"], catch_exceptions=False)
    assert result.exit_code == 0, f"icanvas fetch hed failed: {result.stderr}"
    return TEST_CACHE
