"""Hostile input outside archives: broken EXIF, formats we do not mean, names that lead out of the root, bad
model.json, bad resumable states, and where training puts its files when the root moves."""

from __future__ import annotations

import io
import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from servekit import drawing, install_tiny_model, png_bytes

from icanvas.core.errors import BadInput, UnsupportedImage
from icanvas.core.images import load_rgb
from icanvas.data.pairing import plan_paired, write_pairs
from icanvas.pix2pix.checkpoints import ModelInfo, install_model, save_generator
from icanvas.pix2pix.config import TrainConfig
from icanvas.pix2pix.networks import GeneratorConfig, UnetGenerator
from icanvas.pix2pix.trainer import train

TINY = ["--size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "2", "--no-sketch-augment", "--val-limit", "2"]


def broken_exif_png(arr: np.ndarray) -> bytes:
    """A valid PNG with an eXIf chunk of 40 bytes of 0xff (Pillow raises SyntaxError when it reads it)."""
    png = png_bytes(arr)
    data = b"\xff" * 40
    chunk = struct.pack(">I", len(data)) + b"eXIf" + data + struct.pack(">I", zlib.crc32(b"eXIf" + data))
    return png[:33] + chunk + png[33:]   # right after the IHDR chunk


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models: see conftest.one_thread


@pytest.fixture(scope="module")
def pairs(shared_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pairs")
    jobs, _ = plan_paired(shared_dir / "data" / "edges2shoes_120")
    write_pairs([j for j in jobs if j.split == "train"][:4] + [j for j in jobs if j.split == "val"][:2], [], out,
                size=32)
    return out


# ---- images -------------------------------------------------------------------------------------------------

def test_a_picture_with_broken_exif_is_read_not_fatal(cli, root, tmp_path):
    picture = drawing()
    assert np.array_equal(load_rgb(broken_exif_png(picture)), picture)   # the pixels, as stored
    install_tiny_model(root, "demo")
    folder = tmp_path / "drawings"
    folder.mkdir()
    (folder / "a_broken_exif.png").write_bytes(broken_exif_png(picture))
    (folder / "b_plain.png").write_bytes(png_bytes(picture))
    result = cli("--root", root, "generate", folder, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["done"] == 2


def test_only_the_formats_we_mean_are_parsed(tmp_path):
    eps = Image.new("RGB", (32, 32), "white")
    buf = io.BytesIO()
    eps.save(buf, format="TIFF")   # a real image in a format a drawing app does not send
    with pytest.raises(UnsupportedImage, match="not an image"):
        load_rgb(buf.getvalue(), name="upload")
    with pytest.raises(UnsupportedImage, match="not an image"):
        load_rgb(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", name="upload")


# ---- names that would lead out of the root ------------------------------------------------------------------

def test_a_checkpoint_cannot_install_itself_outside_the_root(tmp_path):
    root = tmp_path / "root"
    net = UnetGenerator(GeneratorConfig(size=32, ngf=4))
    checkpoint = save_generator(tmp_path / "evil.safetensors", net,
                                ModelInfo(theme="demo", generator=net.config))
    meta = json.dumps({**ModelInfo(theme="demo", generator=net.config).to_dict(), "theme": "../../OUTSIDE"})
    from safetensors.torch import load_file, save_file
    save_file(load_file(checkpoint), str(checkpoint), metadata={"icanvas_model": meta})
    with pytest.raises(BadInput, match="theme name"):
        install_model(root, checkpoint)
    with pytest.raises(BadInput, match="theme name"):
        install_model(root, checkpoint.with_name("evil.safetensors"), theme="../x")
    assert not (tmp_path / "OUTSIDE").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["evil.safetensors"]


@pytest.mark.parametrize("run", ["../../x", "/tmp/icanvas-escape", "..", ".hidden", "a/b"])
def test_run_names_stay_under_the_root(cli, root, pairs, run):
    result = cli("--root", root, "train", "--data", pairs, *TINY, "--epochs", "1", "--run", run)
    assert result.exit_code == 2 and "run name" in result.stderr and "Traceback" not in result.stderr
    assert not Path("/tmp/icanvas-escape").exists() and not (root.parent / "x").exists()


def test_theme_names_are_checked_everywhere(cli, root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # a relative default output would land here
    for args in (["edges", "--theme", "../x"], ["pair", "--theme", "../x"], ["train", "--theme", "../x"],
                 ["generate", "-", "--theme", "../x"]):
        result = cli("--root", root, *args, input=b"")
        assert result.exit_code == 2 and "Traceback" not in result.stderr, (args, result.stderr)
        # one line that names the refused name, and nothing written anywhere: not outside the root, not in it
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, (args, result.stderr)
        assert "theme" in result.stderr and "'../x'" in result.stderr, (args, result.stderr)
        assert [p.name for p in tmp_path.iterdir()] == ["root"] and not list(root.iterdir()), args
        assert not (tmp_path.parent / "x").exists()


# ---- models and runs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("change", [{"norm": "bogus"}, {"size": "256"}, {"size": 48}, {"ngf": 10**6},
                                    {"size": 2**20}, {"input_nc": -1}])
def test_a_bad_model_json_is_one_clear_line(cli, root, change):
    folder = install_tiny_model(root, "demo", size=32)
    info = json.loads((folder / "model.json").read_text())
    info["generator"].update(change)
    (folder / "model.json").write_text(json.dumps(info))
    result = cli("--root", root, "generate", "-", "-o", "-", input=png_bytes(drawing()))
    assert result.exit_code == 2 and "unreadable model" in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_resumable_state_with_missing_keys_is_bad_input(pairs, tmp_path):
    cfg = TrainConfig(data=str(pairs), run_dir=str(tmp_path / "run"), run="run", size=32, ngf=8, ndf=8,
                      batch_size=2, epochs=1, sketch_augment=False, val_limit=2)
    train(cfg)
    state_path = tmp_path / "run" / "checkpoints" / "resume.pt"
    state = torch.load(state_path, weights_only=True)
    del state["opt_D"]
    torch.save(state, state_path)
    cfg.epochs = 2
    with pytest.raises(BadInput, match="does not fit this run"):
        train(cfg, resume=True)


def test_a_stop_mid_epoch_is_not_named_as_a_finished_epoch(pairs, tmp_path):
    cfg = TrainConfig(data=str(pairs), run_dir=str(tmp_path / "run"), run="run", size=32, ngf=8, ndf=8,
                      batch_size=1, epochs=1, sketch_augment=False, val_limit=2, max_steps=2)
    result = train(cfg)
    assert result.stopped == "max-steps" and result.checkpoint.name == "partial_step_0000002.safetensors"
    assert not list((tmp_path / "run" / "checkpoints").glob("epoch_*"))
    cfg.max_steps = None
    finished = train(cfg, resume=True)
    assert finished.checkpoint.name == "epoch_0001.safetensors" and finished.step == 4


def test_a_resume_works_in_the_root_where_the_run_is_now(cli, pairs, tmp_path):
    old, new = tmp_path / "old-root", tmp_path / "new-root"
    shutil.copytree(pairs, old / "data" / "demo" / "pairs")
    first = cli("--root", old, "-q", "train", "--theme", "demo", *TINY, "--epochs", "2", "--run", "r",
                "--max-steps", "2")
    assert first.exit_code == 0, first.stderr
    old.rename(new)
    resumed = cli("--root", new, "train", "--theme", "demo", "--run", "r", "--resume", "--json")
    assert resumed.exit_code == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["run_dir"] == str(new / "runs" / "demo" / "r") and summary["epochs_done"] == 2
    assert (new / "runs" / "demo" / "r" / "checkpoints" / "epoch_0002.safetensors").is_file()
    assert not old.exists()
    config = json.loads((new / "runs" / "demo" / "r" / "config.json").read_text())
    assert config["settings"]["run_dir"] == str(new / "runs" / "demo" / "r")
    assert config["settings"]["data"] == str(new / "data" / "demo" / "pairs")
