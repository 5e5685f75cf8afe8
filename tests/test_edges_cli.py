"""`icanvas edges` end to end on small real files: modes, bad files, re-runs, themes, ranks, workers, the API."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from icanvas.edges.pipeline import EdgeDetector, EdgeSettings
from icanvas.core.images import load_gray

# small drawings, post-processing in this process: fast tests (the worker pool has its own test; the defaults
# are measured in test_edges_quality)
SIZE = ("--size", "64", "--workers", "0")


def photo(w: int = 60, h: int = 44, seed: int = 0) -> Image.Image:
    """A light picture with a dark ellipse and a bar: something with edges."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (w, h), (235, 230, 220))
    d = ImageDraw.Draw(img)
    d.ellipse([w * 0.2, h * 0.2, w * 0.7, h * 0.8], fill=tuple(int(v) for v in rng.integers(20, 90, 3)))
    d.rectangle([w * 0.75, h * 0.1, w * 0.85, h * 0.9], fill=(40, 60, 160))
    return img


def write_mixed_folder(folder: Path) -> tuple[list[str], list[str]]:
    """Every kind of input `edges` must handle; returns (good stems, bad file names)."""
    folder.mkdir(parents=True)
    base = photo()
    base.save(folder / "plain.jpg", quality=95)
    base.convert("L").save(folder / "gray.png")
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.new("L", base.size, 0).point(lambda _: 255).crop((0, 0, 30, 44)).resize(base.size))
    rgba.save(folder / "rgba.png")
    sixteen = (np.asarray(base.convert("L"), np.uint16) * 257)
    Image.fromarray(sixteen).save(folder / "sixteen.png")
    base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(folder / "palette.png")
    base.convert("CMYK").save(folder / "cmyk.jpg")
    base.save(folder / "bitmap.bmp")
    base.save(folder / "lossless.webp", lossless=True)
    Image.new("RGB", (1, 1), (10, 20, 30)).save(folder / "tiny.png")
    photo(1500, 40).save(folder / "sub" / "wide.png") if (folder / "sub").mkdir() is None else None
    buf = io.BytesIO()
    base.save(buf, format="JPEG")
    (folder / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    (folder / "zero.png").write_bytes(b"")
    (folder / "notes.webp").write_text("not a picture")
    good = ["plain", "gray", "rgba", "sixteen", "palette", "cmyk", "bitmap", "lossless", "tiny", "sub/wide"]
    return good, ["notes.webp", "truncated.jpg", "zero.png"]


def drawing_ok(path: Path, size: int = 64) -> np.ndarray:
    img = Image.open(path)
    assert img.format == "PNG" and img.mode == "L" and img.size == (size, size)
    arr = np.asarray(img)
    assert set(np.unique(arr)) <= {0, 255}
    return arr


@pytest.mark.slow  # 13 files twice, ~7 s
def test_a_mixed_folder_makes_every_drawing_and_names_every_bad_file(cli, hed_root, tmp_path):
    good, bad = write_mixed_folder(tmp_path / "photos")
    r = cli("--root", hed_root, "edges", tmp_path / "photos", *SIZE, "--max-side", "256", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["done"], summary["skipped"], summary["failed"]) == (len(good), 0, len(bad))
    assert sorted(Path(f["input"]).name for f in summary["failures"]) == bad
    assert summary["output"] == str((tmp_path / "photos-edges").resolve())
    reasons = {Path(f["input"]).name: f["reason"] for f in summary["failures"]}
    assert "empty file" in reasons["zero.png"] and "not an image" in reasons["notes.webp"]
    for name in bad:
        assert name in r.stderr
    for stem in good:
        drawing_ok(tmp_path / "photos-edges" / f"{stem}.png")
    assert (drawing_ok(tmp_path / "photos-edges" / "plain.png") == 0).sum() > 20  # the ellipse and bar are there
    leftovers = [p.name for p in (tmp_path / "photos-edges").rglob("*") if p.is_file() and p.suffix != ".png"]
    assert leftovers == []  # no temporary files

    again = cli("--root", hed_root, "edges", tmp_path / "photos", *SIZE, "--max-side", "256", "--json")
    s2 = json.loads(again.stdout)
    assert again.exit_code == 0 and (s2["done"], s2["skipped"], s2["failed"]) == (0, len(good), len(bad))
    forced = cli("--root", hed_root, "edges", tmp_path / "photos" / "plain.jpg", *SIZE, "--force", "--json")
    assert forced.exit_code == 0, forced.stderr
    assert json.loads(forced.stdout)["done"] == 1


def test_exif_rotation_is_applied_before_edges(cli, hed_root, tmp_path):
    upright = photo(60, 40, seed=3)
    (tmp_path / "a").mkdir()
    upright.save(tmp_path / "a" / "upright.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "a" / "rotated.png", exif=exif)
    r = cli("--root", hed_root, "--quiet", "edges", tmp_path / "a", "-o", tmp_path / "out", *SIZE)
    assert r.exit_code == 0, r.stderr
    out = tmp_path / "out"
    np.testing.assert_array_equal(load_gray(out / "rotated.png"), load_gray(out / "upright.png"))


def test_nothing_succeeded_exits_non_zero(cli, hed_root, tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.jpg").write_bytes(b"\xff\xd8\xff garbage")
    r = cli("--root", hed_root, "edges", tmp_path / "bad", *SIZE)
    assert r.exit_code == 1
    assert "x.jpg" in r.stderr and "0 done" in r.stderr
    missing = cli("--root", hed_root, "edges", tmp_path / "nowhere")
    assert missing.exit_code == 2 and missing.stderr.startswith("error: ") and "nowhere" in missing.stderr


@pytest.mark.slow  # ~5 s
def test_fetch_demo_then_edges_theme_demo(cli, hed_root, tmp_path):
    root = tmp_path / "root"
    assert cli("--root", root, "--quiet", "fetch", "demo", "--limit", "3").exit_code == 0
    (root / "weights").symlink_to(hed_root / "weights")
    r = cli("--root", root, "edges", "--theme", "demo", "--json", *SIZE)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["settings"]["merge_twins"] == 1   # the demo's 3 px at 256, at 64 px
    photos = sorted(p.stem for p in (root / "data" / "demo" / "photos").glob("*.png"))
    drawings = sorted((root / "data" / "demo" / "edges").iterdir())
    assert len(photos) == 3 and [p.stem for p in drawings] == photos
    merged = [(drawing_ok(d) == 0).sum() for d in drawings]
    assert min(merged) > 20  # cartoon faces have lines
    r = cli("--root", root, "edges", "--theme", "demo", "--merge-twins", "0", "--force", *SIZE)
    assert r.exit_code == 0, r.stderr
    twins = [(drawing_ok(d) == 0).sum() for d in drawings]
    # HED's twin lines, kept: more ink (little at 64 px, where most twins are closer than a pixel)
    assert all(m <= t for m, t in zip(merged, twins)) and sum(merged) < sum(twins), (merged, twins)
    r = cli("--root", root, "edges", "--theme", "panda")
    assert r.exit_code == 2 and "icanvas fetch panda" in r.stderr


def test_torchrun_ranks_split_the_inputs_without_overlap(cli, hed_root, tmp_path, monkeypatch):
    (tmp_path / "p").mkdir()
    for i in range(5):
        photo(seed=i).save(tmp_path / "p" / f"{i}.png")
    written = []
    for rank in (0, 1):
        out = tmp_path / f"out{rank}"
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("RANK", str(rank))
        r = cli("--root", hed_root, "--quiet", "edges", tmp_path / "p", "-o", out, *SIZE, "--json")
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["rank"] == rank
        written.append({p.name for p in out.iterdir()})
    assert written[0].isdisjoint(written[1])
    assert written[0] | written[1] == {f"{i}.png" for i in range(5)}
    assert len(written[0]) == 3 and len(written[1]) == 2


@pytest.mark.slow  # a worker process, ~6 s
def test_worker_processes_batches_and_the_api_give_the_same_drawings(cli, hed_root, tmp_path):
    (tmp_path / "p").mkdir()
    pictures = [photo(60, 44, seed=i) for i in range(4)] + [photo(50, 50, seed=9)]
    for i, p in enumerate(pictures):
        p.save(tmp_path / "p" / f"{i}.png")
    for name, extra in (("inline", ()), ("pool", ("--workers", "1", "--batch-size", "3"))):
        r = cli("--root", hed_root, "--quiet", "edges", tmp_path / "p", "-o", tmp_path / name, *SIZE, *extra)
        assert r.exit_code == 0, r.stderr
    detector = EdgeDetector(hed_root, EdgeSettings(size=64))
    api = detector.batch([np.asarray(p) for p in pictures], batch_size=2)
    for i, p in enumerate(pictures):
        inline = load_gray(tmp_path / "inline" / f"{i}.png")
        np.testing.assert_array_equal(inline, load_gray(tmp_path / "pool" / f"{i}.png"))
        np.testing.assert_array_equal(inline, api[i])
    single = detector(np.asarray(pictures[0]))
    assert single.dtype == np.uint8 and single.shape == (64, 64)
    np.testing.assert_array_equal(single, api[0])


@pytest.mark.parametrize("has_bf16", [True, False])
def test_precision_auto_follows_the_cpu_and_json_reports_the_pick(cli, hed_root, tmp_path, monkeypatch, has_bf16):
    monkeypatch.setattr("icanvas.core.runtime.cpu_has_bf16", lambda: has_bf16)
    photo().save(tmp_path / "p.png")
    picked = {}
    for precision in ("auto", "fp32", "bf16"):
        out = tmp_path / precision
        r = cli("--root", hed_root, "edges", tmp_path / "p.png", "-o", out, *SIZE, "--device", "cpu",
                "--precision", precision, "--json")
        assert r.exit_code == 0, r.stderr
        picked[precision] = json.loads(r.stdout)["precision"]
        drawing_ok(out / "p.png")
    assert picked == {"auto": "bf16" if has_bf16 else "fp32", "fp32": "fp32", "bf16": "bf16"}


def test_raw_maps_and_switched_off_steps(cli, hed_root, tmp_path):
    photo().save(tmp_path / "p.png")
    r = cli("--root", hed_root, "--quiet", "edges", tmp_path / "p.png", "-o", tmp_path / "raw", *SIZE, "--raw")
    assert r.exit_code == 0, r.stderr
    raw = load_gray(tmp_path / "raw" / "p.png")
    assert raw.shape == (64, 64) and len(np.unique(raw)) > 20 and raw.min() < 64
    thick_run = cli("--root", hed_root, "--quiet", "edges", tmp_path / "p.png", "-o", tmp_path / "thick", *SIZE,
                    "--no-nms", "--no-thin")
    assert thick_run.exit_code == 0, thick_run.stderr
    thin_run = cli("--root", hed_root, "--quiet", "edges", tmp_path / "p.png", "-o", tmp_path / "thin", *SIZE)
    assert thin_run.exit_code == 0, thin_run.stderr
    thick, thin = (load_gray(tmp_path / d / "p.png") == 0 for d in ("thick", "thin"))
    assert thick.sum() > 2 * thin.sum()


@pytest.mark.parametrize("args, message", [
    (("--threshold", "2"), "--threshold 2: must lie in [0, 1]"),
    (("--threshold", "a/b"), "--threshold a/b: expected a number in [0, 1] or a fraction like 25/255"),
    (("--preset", "matlab"), "--preset matlab: expected one of icanvas, pix2pix-matlab"),
    (("--device", "tpu"), "--device tpu: expected auto, cpu or cuda"),
    (("--precision", "fp16"), "--precision fp16: expected auto, fp32, bf16"),
])
def test_bad_options_give_one_line_errors(cli, tmp_path, args, message):
    photo().save(tmp_path / "p.png")
    r = cli("--root", tmp_path / "root", "edges", tmp_path / "p.png", *args)
    assert r.exit_code == 2 and r.stderr.strip().splitlines()[-1] == f"error: {message}"


def test_offline_without_weights_says_how_to_get_them(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    photo().save(tmp_path / "p.png")
    r = cli("--root", tmp_path / "root", "edges", tmp_path / "p.png")
    assert r.exit_code == 2
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "icanvas fetch hed" in last and "Traceback" not in r.stderr
