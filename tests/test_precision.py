"""Precision and engine: `auto` picks bf16 where the CPU computes it natively and ONNX Runtime fp32 elsewhere,
what was picked is reported (--json, /readyz), and bf16 keeps the quality: a small demo model trained here gives pictures close to fp32's and
the same sketch fidelity in compare."""

from __future__ import annotations

import copy
import json

import cv2
import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from servekit import drawing, fit_generator, install_tiny_model

from icanvas.core import runtime
from icanvas.core.images import save_png
from icanvas.data.demo import make_avatar
from icanvas.edges.pipeline import EdgeDetector, EdgeSettings
from icanvas.eval.compare import compare_checkpoints
from icanvas.engines.runners import SmallMapConv, with_small_maps
from icanvas.inference.painter import Painter, sketches_to_tensor
from icanvas.pix2pix.checkpoints import ModelInfo, save_generator
from icanvas.pix2pix.networks import GeneratorConfig, UnetGenerator, init_weights, per_image_statistics
from icanvas.server.app import create_app
from icanvas.server.limits import ServerSettings
from icanvas.sketch.lines import measure_style

SIZE = 64


def test_auto_is_bf16_where_the_cpu_computes_it_and_onnxruntime_fp32_elsewhere(root, monkeypatch):
    install_tiny_model(root, "demo", size=SIZE)
    monkeypatch.setenv(runtime.CPU_BF16_ENV, "0")          # any CPU, as one without native bf16
    painter = Painter.from_pretrained("demo", root=root)
    assert (painter.engine, painter.precision) == ("onnxruntime", "fp32")
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    painter = Painter.from_pretrained("demo", root=root)
    assert (painter.engine, painter.precision) == ("torch", "bf16")
    assert {p.dtype for p in painter.model.parameters()} == {torch.bfloat16}
    exact = Painter.from_pretrained("demo", root=root, precision="fp32")   # the fastest exact path
    assert (exact.engine, exact.precision) == ("onnxruntime", "fp32")
    eager = Painter.from_pretrained("demo", root=root, precision="fp32", engine="torch")
    assert (eager.engine, {p.dtype for p in eager.model.parameters()}) == ("torch", {torch.float32})


def test_generate_and_serve_report_what_they_picked(cli, root, tmp_path):
    install_tiny_model(root, "demo", size=SIZE)
    face = tmp_path / "face.png"
    save_png(drawing(), face)
    auto = runtime.resolve_runtime("cpu")
    for asked, picked in (("auto", (auto.precision, auto.engine)), ("fp32", ("fp32", "onnxruntime")),
                          ("bf16", ("bf16", "torch"))):
        r = cli("--root", root, "generate", face, "-o", tmp_path / f"{asked}.png", "--precision", asked, "--json")
        assert r.exit_code == 0, r.stderr
        summary = json.loads(r.stdout)
        assert (summary["precision"], summary["engine"], summary["device"]) == (*picked, "cpu")
    r = cli("--root", root, "generate", face, "-o", tmp_path / "x.png", "--precision", "fp16")
    assert r.exit_code == 2 and "expected auto, fp32, bf16" in r.stderr

    with TestClient(create_app(root, settings=ServerSettings(precision="fp32", engine="torch"))) as client:
        assert client.get("/readyz").json()["runtime"] == {"demo": {"engine": "torch", "precision": "fp32",
                                                                    "device": "cpu", "colouring": "off"}}
    with TestClient(create_app(root)) as client:
        assert client.get("/readyz").json()["runtime"]["demo"]["engine"] == auto.engine


def test_small_map_products_are_the_convolutions(one_thread):
    """SmallMapConv (bf16's path on the CPU) computes what the convolutions compute, above and below its
    switch-over size."""
    torch.manual_seed(0)
    net = per_image_statistics(init_weights(UnetGenerator(GeneratorConfig(size=SIZE, ngf=8)), gain=0.3))
    fast = with_small_maps(copy.deepcopy(net))
    assert sum(isinstance(m, SmallMapConv) for m in fast.modules()) == 2 * 6        # every conv and deconv
    with torch.inference_mode():
        for batch in (1, 9):          # batch 9 runs more of the levels as convolutions
            x = torch.rand(batch, 3, SIZE, SIZE) * 2 - 1
            assert (fast(x) - net(x)).abs().max().item() < 1e-5


# ---- quality: a small demo model, trained here ---------------------------------------------------------------

def _lines(photo: np.ndarray) -> np.ndarray:
    """The avatar's dark outlines as a line drawing (255 paper, 0 line)."""
    return np.where(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY) < 70, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory):
    """A checkpoint of a demo-theme generator (unet_64, ngf 8) trained with L1 for 120 steps on avatars' lines,
    and held-out avatars' lines drawn at 256 px as a child's drawings."""
    photos = [cv2.resize(make_avatar(0, i), (SIZE, SIZE), interpolation=cv2.INTER_AREA) for i in range(48)]
    sketches = [_lines(p) for p in photos]
    x = sketches_to_tensor(sketches)
    y = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2).float() / 127.5 - 1
    net = fit_generator(x, y, SIZE)
    path = save_generator(tmp_path_factory.mktemp("demo") / "epoch_0001.safetensors", net,
                          ModelInfo(theme="demo", generator=net.config, run="r", epoch=1,
                                    sketch_style=measure_style(sketches)))
    held_out = [(f"avatar{i}", np.repeat(_lines(make_avatar(0, i))[..., None], 3, axis=2)) for i in range(48, 56)]
    return path, held_out


def test_bf16_keeps_pictures_close_and_sketch_fidelity_within_0_01(demo_model, hed_root, one_thread):
    path, drawings = demo_model
    fp32 = Painter.from_pretrained(path, precision="fp32", engine="torch")
    bf16 = Painter.from_pretrained(path, precision="bf16")
    normalized = [fp32.normalize(rgb) for _, rgb in drawings]
    diff = np.abs(np.stack(bf16.paint(normalized)).astype(int) - np.stack(fp32.paint(normalized)).astype(int))
    # measured: mean 0.17, max 2 levels of 255 (unet_256 ngf 64 in benchmarks/generate.py: mean 0.22, max 2); on a
    # CPU without native bf16, mean 0.20, max 1. Close, but not the same: bf16 did run
    assert 0 < diff.mean() < 0.5 and diff.max() <= 4, (diff.mean(), diff.max())

    detector = EdgeDetector(hed_root, EdgeSettings(size=SIZE))
    scores = {p: compare_checkpoints([path], drawings, lambda size: detector.batch, precision=p).results[0]
              for p in ("fp32", "bf16")}
    assert scores["fp32"].fidelity > 0.3 and scores["fp32"].degenerate == 0      # the model follows the lines
    assert abs(scores["bf16"].fidelity - scores["fp32"].fidelity) <= 0.01, scores     # measured: 0.002
    assert scores["bf16"].runtime["precision"] == "bf16" and scores["fp32"].runtime["precision"] == "fp32"


def test_variations_in_bf16_are_reproducible(root):
    install_tiny_model(root, "demo", size=SIZE)
    painter = Painter.from_pretrained("demo", root=root, precision="bf16")
    sketch = [painter.normalize(drawing())]
    one, again, other = (painter.paint(sketch, variation=s)[0] for s in (1, 1, 2))
    assert np.array_equal(one, again) and not np.array_equal(one, other)
    assert not np.array_equal(one, painter.paint(sketch)[0])
