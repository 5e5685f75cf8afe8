"""`icanvas compare`: sketch fidelity with the real HED edge pipeline, the degenerate-picture guard, pair
scores, the report (grid, HTML, metrics) and --select. The checkpoints are real: an untrained generator and one
trained for a few seconds on a small synthetic theme (coloured discs with outlines)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from servekit import fit_generator

from icanvas.core.images import load_rgb, save_png
from icanvas.eval.compare import photo_scores, picture_problem
from icanvas.inference.painter import sketches_to_tensor
from icanvas.pix2pix.checkpoints import ModelInfo, read_info, save_generator
from icanvas.pix2pix.networks import GeneratorConfig, UnetGenerator, init_weights
from icanvas.sketch.lines import measure_style

SIZE = 64


def scene(rng: np.random.Generator, size: int = SIZE, line: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A sketch of one or two circles and its 'photo': the discs filled with colour on a pale background."""
    photo = np.empty((size, size, 3), np.uint8)
    photo[:] = rng.integers(150, 255, 3)
    sketch = np.full((size, size), 255, np.uint8)
    k = size / SIZE
    for _ in range(int(rng.integers(1, 3))):
        c = tuple(int(v * k) for v in rng.integers(16, 48, 2))
        r = int(rng.integers(7, 14) * k)
        cv2.circle(photo, c, r, tuple(int(v) for v in rng.integers(0, 200, 3)), -1)
        cv2.circle(photo, c, r, (20, 20, 20), max(1, int(k)))
        cv2.circle(sketch, c, r, 0, line)
    return sketch, photo


@pytest.fixture(scope="module")
def generators():
    """(untrained, trained, style): pix2pix's init as is, and the same net after 120 L1 steps on scenes."""
    rng = np.random.default_rng(0)
    data = [scene(rng) for _ in range(64)]
    x = sketches_to_tensor([s for s, _ in data])
    y = torch.from_numpy(np.stack([p for _, p in data])).permute(0, 3, 1, 2).float() / 127.5 - 1
    torch.manual_seed(0)
    untrained = init_weights(UnetGenerator(GeneratorConfig(size=SIZE, ngf=8)))
    net = fit_generator(x, y, SIZE)
    return untrained.eval(), net, measure_style([s for s, _ in data])


@pytest.fixture
def run(root, generators, hed_root):
    """runs/demo/r1 with epoch 1 untrained and epoch 2 trained; the root shares the test HED weights."""
    (root / "weights").symlink_to(hed_root / "weights", target_is_directory=True)
    untrained, trained, style = generators
    folder = root / "runs" / "demo" / "r1"
    for epoch, net in [(1, untrained), (2, trained)]:
        save_generator(folder / "checkpoints" / f"epoch_{epoch:04d}.safetensors", net,
                       ModelInfo(theme="demo", generator=net.config, run="r1", epoch=epoch, sketch_style=style))
    return folder


@pytest.fixture
def sketches(tmp_path):
    """Hand-drawn-style inputs: bigger canvases, thicker pens; plus a blank canvas and a broken file."""
    d = tmp_path / "sketches"
    d.mkdir()
    for i in range(3):
        sketch, _ = scene(np.random.default_rng(100 + i), size=200, line=5)
        save_png(sketch, d / f"s{i}.png")
    save_png(np.full((120, 120), 255, np.uint8), d / "blank.png")
    (d / "broken.png").write_bytes(b"nope")
    return d


def test_compare_ranks_report_and_select(cli, root, run, sketches, tmp_path):
    report = tmp_path / "report"
    r = cli("--root", root, "compare", run, "--sketches", sketches, "-o", report, "--select", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["winner"] == "r1/epoch_0002" and summary["sketches"] == 3
    assert sorted(s["input"].split("/")[-1] for s in summary["skipped"]) == ["blank.png", "broken.png"]

    metrics = json.loads((report / "metrics.json").read_text())
    best, worst = metrics["checkpoints"]
    assert "rule" in metrics and metrics["winner"] == best["label"] == "r1/epoch_0002"
    assert best["fidelity"] > 0.3 and best["degenerate"] == 0                 # its edges follow the sketches
    assert worst["degenerate"] == 3 and worst["fidelity"] == 0.0            # untrained: near-uniform pictures
    assert {s["problem"] for s in worst["sketches"]} == {"uniform"}

    grid = load_rgb(report / "grid.png")
    assert grid.shape == (28 + 3 * (128 + 4) + 4, 3 * (128 + 4) + 4, 3)      # 3 sketches x (input + 2 checkpoints)
    page = (report / "index.html").read_text()
    assert "r1/epoch_0001" in page and "r1/epoch_0002" in page and "Ranking rule" in page
    assert page.count("data:image/png;base64,") == 3 * 3 and "http" not in page   # self-contained, offline

    installed = root / "models" / "demo"
    info = read_info(installed)
    assert info.epoch == 2 and info.metrics["score"] == best["score"] and info.sketch_style == run_style(run)
    # the installed model is what `generate` uses with no --theme
    g = cli("--root", root, "generate", sketches / "s0.png", "-o", tmp_path / "pic.png")
    assert g.exit_code == 0, g.stderr
    assert load_rgb(tmp_path / "pic.png").shape == (SIZE, SIZE, 3)


def run_style(run) -> dict:
    return read_info(run / "checkpoints" / "epoch_0002.safetensors").sketch_style


def test_pairs_add_photo_scores_to_the_ranking(cli, root, run, sketches, tmp_path):
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for i in range(4):
        sketch, photo = scene(np.random.default_rng(200 + i), size=128)
        save_png(np.concatenate([np.repeat(sketch[..., None], 3, 2), photo], axis=1), pairs / f"p{i}.png")
    save_png(np.zeros((64, 64, 3), np.uint8), pairs / "not_a_pair.png")   # skipped, not fatal
    r = cli("--root", root, "--quiet", "compare", run / "checkpoints" / "epoch_0002.safetensors",
            run / "checkpoints" / "epoch_0001.safetensors", "--sketches", sketches, "--pairs", pairs,
            "-o", tmp_path / "rep")
    assert r.exit_code == 0, r.stderr
    assert "r1/epoch_0002" in r.stdout and "SSIM" in r.stdout      # the rich table: a result, so on stdout
    metrics = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert metrics["pairs"] == 4
    best, worst = metrics["checkpoints"]
    assert best["epoch"] == 2
    for res in (best, worst):
        assert res["score"] == pytest.approx((res["fidelity"] + res["pairs"]["ssim"]) / 2, abs=1e-3)
    assert best["pairs"]["l1"] < worst["pairs"]["l1"] and best["pairs"]["psnr"] > worst["pairs"]["psnr"]
    assert not (root / "models").exists()                                    # no --select, nothing installed


def test_compare_refuses_bad_arguments(cli, root, run, sketches, tmp_path):
    r = cli("--root", root, "compare", tmp_path / "nowhere", "--sketches", sketches)
    assert r.exit_code == 2 and "no such run or checkpoint" in r.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    save_png(np.full((50, 50), 255, np.uint8), empty / "blank.png")
    r = cli("--root", root, "compare", run, "--sketches", empty)
    assert r.exit_code == 2 and "no usable sketches" in r.stderr
    # an untrained model is never installed, however it ranks; the report still shows why
    r = cli("--root", root, "compare", run / "checkpoints" / "epoch_0001.safetensors", "--sketches", sketches,
            "-o", tmp_path / "rep", "--select")
    assert r.exit_code == 2 and "nothing installed" in r.stderr and "uniform" in r.stderr
    assert not (root / "models").exists()
    # the report says why: every sketch's picture is flagged uniform, in the page and in metrics.json
    page = (tmp_path / "rep" / "index.html").read_text()
    assert page.count("(uniform)") == 3 and "<td>3/3</td>" in page and "Installed:" not in page
    only = json.loads((tmp_path / "rep" / "metrics.json").read_text())["checkpoints"][0]
    assert only["degenerate"] == 3 and [s["problem"] for s in only["sketches"]] == ["uniform"] * 3


def test_degenerate_picture_guard():
    sketch, photo = scene(np.random.default_rng(5))
    assert picture_problem(photo, sketch) is None
    assert picture_problem(np.full((SIZE, SIZE, 3), 128, np.uint8), sketch) == "uniform"
    mush = np.clip(128 + np.random.default_rng(0).normal(0, 15, (SIZE, SIZE, 1)), 0, 255).astype(np.uint8)
    assert picture_problem(np.repeat(mush, 3, 2), sketch) == "grey"
    assert picture_problem(np.repeat(sketch[..., None], 3, 2), sketch) == "copy of the input"


def test_photo_scores_of_identical_and_different_pictures():
    _, photo = scene(np.random.default_rng(6))
    same = photo_scores(photo, photo)
    assert same["l1"] == 0 and same["ssim"] == pytest.approx(1.0) and same["psnr"] == 99.0
    other = photo_scores(np.asarray(Image.fromarray(photo).rotate(90)), photo)
    assert 0 < other["l1"] < 1 and other["ssim"] < 0.9 and other["psnr"] < 30


def test_compare_ranks_by_realism_against_a_photo_folder(cli, root, run, sketches, tmp_path):
    """--photos and --rank-by realism end to end: the real realism scorer (HED's VGG16) on 12 photos of the theme."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(12):
        save_png(scene(np.random.default_rng(300 + i), size=128)[1], photos / f"photo{i:02d}.png")
    report = tmp_path / "real"
    r = cli("--root", root, "compare", run, "--sketches", sketches, "--photos", photos, "--rank-by", "realism",
            "-o", report, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["winner"] == "r1/epoch_0002"
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["rank_by"] == "realism" and metrics["winner"] == "r1/epoch_0002"
    assert metrics["photos"] == {"source": str(photos), "count": 12} and "realism R alone" in metrics["rule"]
    best, worst = metrics["checkpoints"]
    for res in (best, worst):                                    # the score is realism, and nothing else
        assert 0 <= res["realism"] <= 1 and res["score"] == pytest.approx(res["realism"], abs=1e-3)
    # the trained model's discs look more like the photos than the untrained model's flat grey
    assert best["realism"] > worst["realism"] and best["kid"] < worst["kid"], (best, worst)
    assert "Realism against 12 photos" in (report / "index.html").read_text()
