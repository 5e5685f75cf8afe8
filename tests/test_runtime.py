"""The runtime policy as users meet it (core.runtime.resolve_runtime): both kinds of CPU on any machine
($ICANVAS_CPU_BF16=0), ONNX graphs cached by the weights and made again when the cache is bad, a missing or
broken ONNX Runtime, variations on every engine, and HED on ONNX Runtime drawing what torch draws."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from servekit import drawing, install_tiny_model

from icanvas.core import runtime
from icanvas.core.errors import BadInput
from icanvas.core.images import save_png
from icanvas.core.runtime import CPU_BF16_ENV, Runtime, resolve_runtime
from icanvas.data.demo import make_avatar
from icanvas.edges.pipeline import EdgeDetector, EdgeSettings
from icanvas.inference import painter as painter_module
from icanvas.inference.painter import Painter

CPU = torch.device("cpu")


@pytest.fixture
def no_bf16(monkeypatch):
    """Any CPU, as one without native bf16."""
    monkeypatch.setenv(CPU_BF16_ENV, "0")


def graphs(root, kind="generator"):
    return sorted((root / "cache" / "graphs").glob(f"{kind}-*.onnx"))


def test_the_policy_on_both_kinds_of_cpu(no_bf16, monkeypatch):
    assert not runtime.cpu_has_bf16()
    assert resolve_runtime("cpu") == Runtime("onnxruntime", "fp32", CPU)
    assert resolve_runtime("cpu", network="hed") == Runtime("torch", "fp32", CPU)   # ONNX Runtime does not pay
    assert resolve_runtime("cpu", engine="torch") == Runtime("torch", "fp32", CPU)
    assert resolve_runtime("cpu", "bf16") == Runtime("torch", "bf16", CPU)            # asked for: emulated
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    assert resolve_runtime("cpu") == Runtime("torch", "bf16", CPU)
    assert resolve_runtime("cpu", network="hed") == Runtime("torch", "bf16", CPU)
    assert resolve_runtime("cpu", "fp32") == Runtime("onnxruntime", "fp32", CPU)     # the fastest exact path
    with pytest.raises(BadInput, match="engine onnxruntime runs fp32 only"):
        resolve_runtime("cpu", "bf16", "onnxruntime")
    with pytest.raises(BadInput, match="engine tvm: expected auto, torch, onnxruntime"):
        resolve_runtime("cpu", engine="tvm")


def test_graphs_are_cached_by_the_weights_and_made_again_when_bad(root, no_bf16, monkeypatch, caplog):
    install_tiny_model(root, "demo")
    install_tiny_model(root, "shoes", seed=1)
    first = Painter.from_pretrained("demo", root=root)
    sketch = [first.normalize(drawing())]
    picture = first.paint(sketch)[0]
    assert first.engine == "onnxruntime" and len(graphs(root)) == 1
    eager = Painter.from_pretrained("demo", root=root, engine="torch", precision="fp32")
    assert np.abs(picture.astype(int) - eager.paint(sketch)[0]).max() <= 1

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    with monkeypatch.context() as m:   # a second start reads the cached graph: no export
        m.setattr(painter_module, "generator_onnx", no_export)
        assert np.array_equal(Painter.from_pretrained("demo", root=root).paint(sketch)[0], picture)

    [demo_graph] = graphs(root)
    demo_graph.write_bytes(demo_graph.read_bytes()[:1000])            # truncated: a crash while writing
    with caplog.at_level("WARNING", "icanvas"):
        again = Painter.from_pretrained("demo", root=root)
    assert np.array_equal(again.paint(sketch)[0], picture)
    assert len(caplog.records) == 1 and "ONNX model does not load" in caplog.records[0].getMessage()
    assert "made it again" in caplog.records[0].getMessage()

    Painter.from_pretrained("shoes", root=root)
    shoes_graph = next(p for p in graphs(root) if p != demo_graph)
    shutil.copy(shoes_graph, demo_graph)                                 # another model's graph under its name
    caplog.clear()
    with caplog.at_level("WARNING", "icanvas"):
        again = Painter.from_pretrained("demo", root=root)
    assert np.array_equal(again.paint(sketch)[0], picture)
    assert len(caplog.records) == 1 and "a cached graph of other weights" in caplog.records[0].getMessage()


def test_without_onnxruntime_auto_runs_torch_with_one_warning(root, no_bf16, monkeypatch, caplog):
    install_tiny_model(root, "demo")
    monkeypatch.setattr(runtime, "onnxruntime_installed", lambda: False)
    with caplog.at_level("WARNING", "icanvas"):
        painter = Painter.from_pretrained("demo", root=root)
    assert (painter.engine, painter.precision) == ("torch", "fp32")
    assert len(caplog.records) == 1 and "onnxruntime is not installed" in caplog.records[0].getMessage()


def test_a_broken_onnxruntime_falls_back_under_auto_and_fails_by_name(cli, root, no_bf16, tmp_path, monkeypatch,
                                                                      caplog):
    import onnxruntime

    def broken(*args, **kwargs):
        raise RuntimeError("no CPU provider in this build")

    install_tiny_model(root, "demo")
    face = tmp_path / "face.png"
    save_png(drawing(), face)
    monkeypatch.setattr(onnxruntime, "InferenceSession", broken)
    with caplog.at_level("WARNING", "icanvas"):
        r = cli("--root", root, "generate", face, "-o", tmp_path / "auto.png", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["engine"] == "torch" and (tmp_path / "auto.png").is_file()
    [line] = [r.getMessage() for r in caplog.records]
    assert "ONNX model does not load" in line and "running torch fp32" in line
    r = cli("--root", root, "generate", face, "-o", tmp_path / "named.png", "--engine", "onnxruntime")
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    assert "ONNX model does not load" in r.stderr and not (tmp_path / "named.png").exists()


def test_variations_on_onnxruntime_are_torch_s_variations(root, no_bf16):
    """A model without a colour book varies by dropout, which its ONNX graph has not: those run on torch."""
    install_tiny_model(root, "demo")
    fast = Painter.from_pretrained("demo", root=root)
    eager = Painter.from_pretrained("demo", root=root, engine="torch", precision="fp32")
    sketch = [fast.normalize(drawing())]
    assert fast.engine == "onnxruntime" and fast.variations
    one, again, other = (fast.paint(sketch, variation=s)[0] for s in (1, 1, 2))
    assert np.array_equal(one, again) and not np.array_equal(one, other)
    assert np.array_equal(one, eager.paint(sketch, variation=1)[0])


def test_hed_on_onnxruntime_draws_what_torch_draws(hed_root, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "weights").symlink_to(hed_root / "weights")
    photos = [make_avatar(3, i) for i in range(3)]
    settings = EdgeSettings(size=128)
    eager = EdgeDetector(root, settings, engine="torch", precision="fp32")
    fast = EdgeDetector(root, settings, engine="onnxruntime")
    assert fast.engine == "onnxruntime" and len(graphs(root, "hed")) == 1
    prepared = [np.pad(p, ((32, 32), (32, 32), (0, 0)), mode="reflect") for p in photos]
    maps = np.stack(fast.hed_maps(prepared)), np.stack(eager.hed_maps(prepared))
    assert np.abs(maps[0] - maps[1]).max() < 1e-4
    drawn = np.stack(fast.batch(photos)), np.stack(eager.batch(photos))
    assert (drawn[0] != drawn[1]).mean() < 0.001 and (drawn[0] == 0).mean() > 0.01
