"""`icanvas generate`: files, folders, stdin/stdout, variations, model resolution, and errors that do not stop
a batch. Real (tiny, 64 px) generators saved and loaded through safetensors."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from doodles import light_on_dark, load_doodles, photo_of_paper, render, transparent_png
from PIL import Image

from icanvas.core.images import load_rgb
from icanvas.inference.painter import Painter
from icanvas.pix2pix.checkpoints import ModelInfo, install_model, save_generator
from icanvas.pix2pix.networks import GeneratorConfig, UnetGenerator, init_weights
from icanvas.sketch.normalize import normalize_sketch

STYLE = {"line_width": 1.5, "margin": 0.06}


def make_checkpoint(path, theme="demo", seed=0, epoch=1):
    torch.manual_seed(seed)
    # a wider init than pix2pix's 0.02, so that an untrained net's pictures (and dropout) show in 8 bits
    net = init_weights(UnetGenerator(GeneratorConfig(size=64, ngf=8)), gain=0.3)
    return save_generator(path, net, ModelInfo(theme=theme, generator=net.config, run="r1", epoch=epoch,
                                               sketch_style=STYLE))


@pytest.fixture
def checkpoint(root):
    return make_checkpoint(root / "runs" / "demo" / "r1" / "checkpoints" / "epoch_0001.safetensors")


@pytest.fixture
def installed(root, checkpoint):
    install_model(root, checkpoint)
    return root


@pytest.fixture(scope="module")
def strokes(shared_dir):
    return load_doodles(shared_dir / "data" / "quickdraw", "cat", 4)


@pytest.fixture
def sketch_dir(tmp_path, strokes):
    d = tmp_path / "sketches"
    (d / "more").mkdir(parents=True)
    render(strokes[0], 300, 4).save(d / "cat0.png")
    render(strokes[1], 500, 9).convert("RGB").save(d / "cat1.jpg")
    render(strokes[2], 200, 3).save(d / "more" / "cat2.png")
    return d


def png_size(path):
    with Image.open(path) as im:
        return im.size


def test_folder_in_folder_out_keeps_layout_and_size(cli, installed, sketch_dir, tmp_path):
    out = tmp_path / "out"
    r = cli("--root", installed, "generate", sketch_dir, "-o", out, "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["done"] == 3 and summary["failed"] == 0 and summary["theme"] == "demo"
    for rel in ["cat0.png", "cat1.png", "more/cat2.png"]:
        assert png_size(out / rel) == (64, 64)
    # re-running skips finished pictures; --force and --size redo them at another size
    again = json.loads(cli("--root", installed, "generate", sketch_dir, "-o", out, "--json").stdout)
    assert again["done"] == 0 and again["skipped"] == 3
    r = cli("--root", installed, "generate", sketch_dir, "-o", out, "--size", 96, "--force", "--json")
    assert json.loads(r.stdout)["done"] == 3 and png_size(out / "cat0.png") == (96, 96)


def test_single_file_to_named_png_is_deterministic(cli, installed, sketch_dir, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert cli("--root", installed, "generate", sketch_dir / "cat0.png", "-o", a).exit_code == 0
    assert cli("--root", installed, "generate", sketch_dir / "cat0.png", "-o", b).exit_code == 0
    assert np.array_equal(load_rgb(a), load_rgb(b))


def test_stdin_to_stdout_in_a_pipeline(cli, installed, strokes):
    buf = io.BytesIO()
    render(strokes[3], 420, 6).save(buf, format="PNG")
    r = cli("--root", installed, "--quiet", "generate", "-", "--theme", "demo", "-o", "-", input=buf.getvalue())
    assert r.exit_code == 0, r.stderr
    picture = load_rgb(r.stdout_bytes)             # stdout is exactly one PNG, nothing else
    assert picture.shape == (64, 64, 3)
    painter = Painter.from_pretrained(installed / "models" / "demo", device="cpu")
    expected = painter.paint([painter.normalize(load_rgb(buf.getvalue()))])[0]
    assert np.array_equal(picture, expected)


def test_variations_differ_and_are_reproducible(cli, installed, sketch_dir, tmp_path):
    out = tmp_path / "v"
    r = cli("--root", installed, "generate", sketch_dir / "cat0.png", "-o", out, "--variations", 3)
    assert r.exit_code == 0, r.stderr
    pics = [load_rgb(out / f"cat0_v{i}.png") for i in (1, 2, 3)]
    assert not np.array_equal(pics[0], pics[1]) and not np.array_equal(pics[1], pics[2])
    out2 = tmp_path / "v2"
    cli("--root", installed, "generate", sketch_dir / "cat0.png", "-o", out2, "--variations", 3)
    assert all(np.array_equal(p, load_rgb(out2 / f"cat0_v{i}.png")) for i, p in zip((1, 2, 3), pics))
    shifted = tmp_path / "v3"
    cli("--root", installed, "generate", sketch_dir / "cat0.png", "-o", shifted, "--variations", 1, "--seed", 1)
    assert np.array_equal(load_rgb(shifted / "cat0_v1.png"), pics[1])   # seeds 0,1,2 -> v1,v2,v3


def test_bad_inputs_are_listed_and_do_not_stop_the_batch(cli, installed, sketch_dir, tmp_path):
    (sketch_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    Image.new("RGB", (200, 200), "white").save(sketch_dir / "blank.png")
    out = tmp_path / "out"
    r = cli("--root", installed, "generate", sketch_dir, tmp_path / "missing.png", "-o", out, "--json")
    assert r.exit_code == 1
    summary = json.loads(r.stdout)
    assert summary["done"] == 3 and summary["failed"] == 3
    reasons = {f["input"].split("/")[-1]: f["reason"] for f in summary["failures"]}
    assert "empty sketch" in reasons["blank.png"]
    assert "decode" in reasons["broken.png"] or "not an image" in reasons["broken.png"]
    assert "no such file" in reasons["missing.png"]
    assert not (out / "broken.png").exists() and not (out / "blank.png").exists()
    assert not list(out.rglob("*.tmp"))
    assert "Traceback" not in r.stderr


def test_model_resolution_and_its_errors(cli, root, checkpoint, sketch_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("ICANVAS_THEME", raising=False)
    sketch = sketch_dir / "cat0.png"
    r = cli("--root", root, "generate", sketch, "-o", tmp_path / "x")
    assert r.exit_code == 2 and "pass --theme or --checkpoint" in r.stderr and "none" in r.stderr
    r = cli("--root", root, "generate", sketch, "--theme", "shoes", "-o", tmp_path / "x")
    assert r.exit_code == 2 and "no model installed for theme 'shoes'" in r.stderr and "train or fetch one" in r.stderr
    r = cli("--root", root, "generate", sketch, "--theme", "dragons", "-o", tmp_path / "x")
    assert r.exit_code == 2 and "unknown theme 'dragons'" in r.stderr
    r = cli("--root", root, "generate", sketch, "--checkpoint", tmp_path / "nope.safetensors")
    assert r.exit_code == 2 and "nope.safetensors: no such checkpoint" in r.stderr
    # a run checkpoint works directly
    assert cli("--root", root, "generate", sketch, "-c", checkpoint, "-o", tmp_path / "c.png").exit_code == 0
    # one installed model: no --theme needed; two: name one, or set ICANVAS_THEME
    install_model(root, checkpoint)
    assert cli("--root", root, "generate", sketch, "-o", tmp_path / "one.png").exit_code == 0
    install_model(root, make_checkpoint(tmp_path / "other.safetensors", theme="panda", seed=1))
    r = cli("--root", root, "generate", sketch, "-o", tmp_path / "two.png")
    assert r.exit_code == 2 and "demo, panda" in r.stderr
    monkeypatch.setenv("ICANVAS_THEME", "panda")
    assert cli("--root", root, "generate", sketch, "-o", tmp_path / "two.png").exit_code == 0


def test_output_target_mistakes_are_refused_before_work(cli, installed, sketch_dir, tmp_path):
    r = cli("--root", installed, "generate", sketch_dir, "-o", tmp_path / "one.png")
    assert r.exit_code == 2 and "takes one picture" in r.stderr
    r = cli("--root", installed, "generate", sketch_dir / "cat0.png", "-o", tmp_path / "x.jpg")
    assert r.exit_code == 2 and "PNG" in r.stderr


def test_save_normalized_writes_what_the_model_sees(cli, installed, sketch_dir, tmp_path):
    out = tmp_path / "n"
    assert cli("--root", installed, "generate", sketch_dir / "cat1.jpg", "-o", out, "--save-normalized").exit_code == 0
    saved = np.asarray(Image.open(out / "cat1_normalized.png"))
    assert np.array_equal(saved, normalize_sketch(load_rgb(sketch_dir / "cat1.jpg"), 64, STYLE))


def test_a_picture_for_every_doodle_as_users_send_them(cli, installed, shared_dir, tmp_path):
    """Section 5: real doodles, in every way an app or a photo delivers them, each give a picture."""
    rng = np.random.default_rng(3)
    src = tmp_path / "doodles"
    src.mkdir()
    for category in ["cat", "house", "bicycle", "flower"]:
        s = load_doodles(shared_dir / "data" / "quickdraw", category, 1)[0]
        render(s, 700, 12, place=(0.4, 0.4, 0.5)).save(src / f"{category}_marker.png")
        Image.fromarray(light_on_dark(s)).save(src / f"{category}_dark.png")
        (src / f"{category}_alpha.png").write_bytes(transparent_png(s))
        Image.fromarray(photo_of_paper(s, rng)).save(src / f"{category}_photo.jpg", quality=90)
    out = tmp_path / "pictures"
    r = cli("--root", installed, "generate", src, "-o", out, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["done"] == 16
    pictures = sorted(out.glob("*.png"))
    assert len(pictures) == 16 and all(png_size(p) == (64, 64) for p in pictures)


@pytest.mark.parametrize("flag", ["--no-normalize", "--no-fit"])
def test_normalisation_switches_change_what_the_model_sees(cli, installed, sketch_dir, tmp_path, flag):
    """--no-normalize feeds the drawing as it is (only resized), --no-fit keeps its framing: the sketch written
    with --save-normalized is the library's with that switch, and the picture is the model's for it."""
    from icanvas.sketch.normalize import NormalizeOptions

    options = {"--no-normalize": NormalizeOptions.off(), "--no-fit": NormalizeOptions(fit=False)}[flag]
    sketch, out = sketch_dir / "cat1.jpg", tmp_path / "out"
    r = cli("--root", installed, "generate", sketch, "-o", out, "--save-normalized", flag)
    assert r.exit_code == 0, r.stderr
    seen = np.asarray(Image.open(out / "cat1_normalized.png"))
    expected = normalize_sketch(load_rgb(sketch), 64, STYLE, options)
    assert np.array_equal(seen, expected)
    assert not np.array_equal(seen, normalize_sketch(load_rgb(sketch), 64, STYLE))   # the switch did something
    painter = Painter.from_pretrained(installed / "models" / "demo", device="cpu")
    assert np.array_equal(load_rgb(out / "cat1.png"), painter.paint([expected])[0])
