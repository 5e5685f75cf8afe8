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


def shared_missing() -> None:
    """What a data test does without the shared data: it skips, except under CI=true, where it fails, so that a CI
    run never passes with the data tests skipped."""
    message = "shared test data not found in $ICANVAS_SHARED, ../shared or /work/shared"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: the data tests must run)", pytrace=False)
    pytest.skip(f"{message} (set ICANVAS_SHARED)")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (test data that must not be copied into the project); set ICANVAS_SHARED to point elsewhere."""
    if SHARED is None:
        shared_missing()
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


@pytest.fixture
def one_thread():
    """Tiny models run fastest, and steadiest on a busy machine, on one thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TEST_CACHE = Path(os.environ.get("ICANVAS_TEST_CACHE", "~/.cache/icanvas-tests")).expanduser()


@pytest.fixture(scope="session")
def hint_model(tmp_path_factory) -> Path:
    """A small generator trained with colour hints (servekit.train_hint_model), once per session."""
    import torch
    from servekit import train_hint_model

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_hint_model(tmp_path_factory.mktemp("hint_model"))
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def hed_root() -> Path:
    """An icanvas root holding the real HED weights, fetched once per machine by `icanvas fetch hed` into
    $ICANVAS_TEST_CACHE (default ~/.cache/icanvas-tests); later sessions reuse it."""
    result = CliRunner().invoke(app, ["--root", str(TEST_CACHE), "fetch", "hed"], catch_exceptions=False)
    assert result.exit_code == 0, f"icanvas fetch hed failed: {result.stderr}"
    return TEST_CACHE


# ---------------------------------------------------------------- markers (registered in pyproject.toml)
#
# `pytest -q` runs everything; `pytest -m "not slow"` is the quick run (under a minute on 2 CPU cores).
# test_main_job.py, test_edges_quality.py, test_demo.py and test_edges_cli.py mark their own tests; every other
# file's marks are here, in one table: "file.py" marks every test in the file, "file.py::test_name" one test
# (all its parametrized cases). Times are calls on the 2-core development machine, which is shared.
MARKS: dict[str, tuple[str, ...]] = {
    "test_browser.py": ("browser", "slow"),                                     # a real Chromium, ~60 s
    "test_ddp.py": ("slow",),                                                   # two gloo processes, ~11 s
    "test_ddp.py::test_torchrun_cli_rank_zero_writes": ("e2e",),                # `torchrun -m icanvas train`, ~16 s
    "test_serve_live.py": ("e2e", "slow"),                                      # `icanvas serve` in a subprocess
    "test_train.py::test_overfits_four_pairs_and_checkpoint_reloads": ("slow",),  # trains to overfit, ~9 s
    "test_train.py::test_ctrl_c_saves_a_resumable_checkpoint": ("e2e", "slow"),   # SIGINT to `icanvas train`, ~6 s
    # the tests on compare's `run` fixture: it trains a generator for the module (~9 s), then each compares
    "test_compare.py::test_compare_ranks_report_and_select": ("slow",),
    "test_compare.py::test_pairs_add_photo_scores_to_the_ranking": ("slow",),
    "test_compare.py::test_compare_refuses_bad_arguments": ("slow",),
    "test_compare.py::test_compare_ranks_by_realism_against_a_photo_folder": ("slow",),
    # trains a small demo generator (~6 s), then compare's fidelity in fp32 and bf16 with the real HED
    "test_precision.py::test_bf16_keeps_pictures_close_and_sketch_fidelity_within_0_01": ("slow",),
    "test_faults.py": ("e2e", "slow"),                     # kill -9 during `edges`/`train`, 200 requests live: ~60 s
    "test_fetch.py::test_kill_9_during_a_download_then_the_same_command_completes_cleanly": ("e2e", "slow"),  # ~3 s
    "test_fuzz_archives.py": ("slow",),                                         # hypothesis campaigns, ~7 s
    "test_fuzz_images.py": ("slow",),                                           # hypothesis campaigns, ~8 s
    # realism (KID on HED's VGG16 features) of real photos, their lines and a model trained twice: 40 s to 5 min
    "test_realism.py::test_demo_photos_beat_their_lines_which_beat_degenerate_pictures": ("slow",),
    "test_realism.py::test_shoe_photos_beat_their_lines_which_beat_degenerate_pictures": ("slow",),
    "test_realism.py::test_a_model_after_one_epoch_is_less_real_than_trained_longer": ("slow",),
    # the session's hint model (conftest.hint_model) trains for ~30 s
    "test_hint_model.py::test_the_picture_takes_the_crayons_colour_and_ignores_it_with_no_hints": ("slow",),
    "test_hint_model.py::test_generate_writes_the_hint_layer_it_read": ("slow",),
    "test_hint_model.py::test_generate_with_no_hints_reads_the_crayon_as_a_line": ("slow",),
    "test_colouring.py::test_a_line_drawing_comes_back_in_colour_and_variations_are_colourings": ("slow",),
    "test_colouring.py::test_a_model_whose_colour_book_is_broken_is_named_and_still_runs_without": ("slow",),
    "test_colouring.py::test_an_export_carries_the_book_and_colours_on_onnxruntime": ("slow",),
}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
    """Apply MARKS by file name and test function name; a MARKS entry naming a test its file lacks is an error
    (a renamed test would silently lose its marks)."""
    checked = set()
    for item in items:
        file = item.path.name
        for key in (file, f"{file}::{getattr(item, 'originalname', item.name)}"):
            for name in MARKS.get(key, ()):
                item.add_marker(getattr(pytest.mark, name))
        module = getattr(item, "module", None)
        if module is not None and file not in checked:
            checked.add(file)
            for key in MARKS:
                test = key.partition("::")[2]
                if key.startswith(f"{file}::") and not hasattr(module, test):
                    raise pytest.UsageError(f"tests/conftest.py MARKS: {file} has no test {test}")
