"""`icanvas export`: a real (tiny) generator to ONNX, ONNX Runtime's pictures against torch's, the exported
folder run by generate and serve, and the errors. Needs the `onnx` extra (onnx, onnxruntime)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from servekit import drawing, install_tiny_model, png_bytes

from icanvas.core.images import load_rgb, save_png
from icanvas.core.paths import model_dir
from icanvas.engines.runners import OnnxRunner
from icanvas.inference.painter import Painter, sketches_to_tensor
from icanvas.pix2pix.checkpoints import ModelInfo, load_generator, read_info, save_generator
from icanvas.pix2pix.networks import GeneratorConfig, UnetGenerator, init_weights
from icanvas.server.app import create_app

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture
def installed(root):
    install_tiny_model(root, "demo", size=64, ngf=8)
    return root


def sketches(painter: Painter, n: int = 4) -> list[np.ndarray]:
    """Children's faces at different places and sizes, normalised for the model."""
    return [painter.normalize(drawing(side=160 + 40 * i, shift=8 * i)) for i in range(n)]


def test_onnx_matches_torch_fp32_on_four_sketches_any_batch_any_size(cli, installed, tmp_path):
    out = tmp_path / "exported"
    r = cli("--root", installed, "export", "demo", "-o", out, "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["format"] == "onnx" and summary["max_abs_diff"] <= 1e-4
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "model.onnx"]

    model, info = load_generator(model_dir(installed, "demo"))
    onnx = OnnxRunner(out / "model.onnx", "exported")
    painter = Painter.from_pretrained(model_dir(installed, "demo"), precision="fp32")
    x = sketches_to_tensor(sketches(painter), info.generator)
    big = torch.nn.functional.interpolate(x[:3], scale_factor=2)            # another batch and twice the size
    with torch.inference_mode():
        for batch in (x, x[:1], big):
            assert (onnx(batch) - model(batch)).abs().max().item() <= 1e-4

    meta = json.loads((out / "model.json").read_text())
    assert meta["export"]["format"] == "onnx" and meta["export"]["input"]["shape"] == ["batch", 3, "height", "width"]
    assert read_info(out).to_dict() == info.to_dict()    # still an icanvas model description


def test_generate_runs_an_exported_folder(cli, installed, tmp_path):
    out = tmp_path / "exported"
    assert cli("--root", installed, "export", model_dir(installed, "demo"), "-o", out).exit_code == 0
    face = tmp_path / "face.png"
    save_png(drawing(), face)
    r = cli("--root", installed, "generate", face, "--checkpoint", out, "-o", tmp_path / "onnx.png", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["engine"], summary["precision"], summary["done"]) == ("onnxruntime", "fp32", 1)
    r = cli("--root", installed, "generate", face, "--theme", "demo", "--precision", "fp32",
            "-o", tmp_path / "torch.png")
    assert r.exit_code == 0, r.stderr
    diff = np.abs(load_rgb(tmp_path / "onnx.png").astype(int) - load_rgb(tmp_path / "torch.png").astype(int))
    assert diff.max() <= 1                                # 8-bit rounding of a 1e-6 difference at most

    # no dropout in the graph: variations are refused in one line, before any work
    r = cli("--root", installed, "generate", face, "--checkpoint", out, "-o", tmp_path / "v", "--variations", 2)
    assert r.exit_code == 2 and "no variations" in r.stderr and not (tmp_path / "v").exists()
    # an exported folder has no torch weights
    r = cli("--root", installed, "generate", face, "--checkpoint", out, "--engine", "torch", "-o", tmp_path / "t.png")
    assert r.exit_code == 2 and "runs on engine onnxruntime only" in r.stderr
    r = cli("--root", installed, "generate", face, "--checkpoint", out, "--precision", "bf16", "-o", tmp_path / "b.png")
    assert r.exit_code == 2 and "runs fp32 only" in r.stderr


def test_serve_runs_an_exported_model_installed_under_the_root(cli, installed, tmp_path):
    served = tmp_path / "served"
    assert cli("--root", installed, "export", "demo", "-o", served / "models" / "demo").exit_code == 0
    with TestClient(create_app(served)) as client:
        ready = client.get("/readyz").json()
        assert ready["runtime"]["demo"] == {"engine": "onnxruntime", "precision": "fp32", "device": "cpu",
                                            "colouring": "off"}
        face = png_bytes(drawing())
        r = client.post("/v1/generate", files={"sketch": ("d.png", face, "image/png")}, data={"theme": "demo"})
        assert r.status_code == 200 and load_rgb(r.content).shape == (64, 64, 3)
        r = client.post("/v1/generate", files={"sketch": ("d.png", face, "image/png")},
                        data={"theme": "demo", "variation": "3"})
        assert r.status_code == 422 and "no variations" in r.json()["detail"]


@pytest.mark.parametrize("fill", [False, True], ids=["marks", "over-the-fill"])
def test_a_hint_model_exports_its_input_channels(root, tmp_path, fill):
    """Nothing assumes 3 input channels: a colour-hint model reads 5 (9 with the fill); one that paints over the
    fill keeps its two heads in the graph."""
    from icanvas.inference.export import export_model

    config = GeneratorConfig.for_training(64, 8, hints=True, hint_fill=fill, fill_prior=fill)
    torch.manual_seed(0)
    checkpoint = save_generator(tmp_path / "hints.safetensors", init_weights(UnetGenerator(config)),
                                ModelInfo(theme="demo", generator=config))
    result = export_model(checkpoint, tmp_path / "out")
    assert result.max_abs_diff <= 1e-4
    onnx = OnnxRunner(tmp_path / "out" / "model.onnx", "hints")
    assert onnx.session.get_inputs()[0].shape == ["batch", config.input_nc, "height", "width"]


def test_export_errors_are_one_clear_line(cli, installed, tmp_path, monkeypatch):
    out = tmp_path / "exported"
    r = cli("--root", installed, "export", "shoes", "-o", out)
    assert r.exit_code == 2 and "no model installed for theme 'shoes'" in r.stderr and not out.exists()
    r = cli("--root", installed, "export", tmp_path / "missing.safetensors", "-o", out)
    assert r.exit_code == 2 and "missing.safetensors: no such checkpoint" in r.stderr

    # nothing is unpickled on the way: the weights are safetensors
    def no_pickle(*args, **kwargs):
        raise AssertionError("export unpickled something")
    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(torch, "load", no_pickle)
    assert cli("--root", installed, "export", "demo", "-o", out).exit_code == 0
    onnx_bytes = (out / "model.onnx").read_bytes()

    r = cli("--root", installed, "export", "demo", "-o", out)
    assert r.exit_code == 2 and "already exists (--force" in r.stderr
    assert cli("--root", installed, "export", "demo", "-o", out, "--force").exit_code == 0
    assert (out / "model.onnx").read_bytes() == onnx_bytes       # the same model exports to the same bytes

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    r = cli("--root", installed, "export", "demo", "-o", blocker)
    assert r.exit_code == 2 and "exists and is not a folder" in r.stderr
    r = cli("--root", installed, "export", "demo", "-o", blocker / "sub")
    assert r.exit_code == 2 and "cannot create the folder" in r.stderr
    r = cli("--root", installed, "export", out, "-o", tmp_path / "again")
    assert r.exit_code == 2 and "no generator.safetensors to export" in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and not (tmp_path / "again").exists()
