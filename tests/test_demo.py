"""The offline demo theme: deterministic by seed, varied, outlined, fast, and reachable from the CLI."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from icanvas.data.demo import make_avatar, make_demo


def _digests(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.png"))}


def test_same_seed_same_pictures_other_seed_other_pictures(tmp_path):
    make_demo(tmp_path / "a", 12, seed=7)
    make_demo(tmp_path / "b", 12, seed=7)
    make_demo(tmp_path / "c", 12, seed=8)
    a, b, c = (_digests(tmp_path / x) for x in "abc")
    assert len(a) == 12 and a == b
    assert not set(a.values()) & set(c.values())


def test_a_smaller_count_is_a_prefix_of_a_larger_one(tmp_path):
    make_demo(tmp_path / "few", 5, seed=1)
    make_demo(tmp_path / "many", 15, seed=1)
    few, many = _digests(tmp_path / "few"), _digests(tmp_path / "many")
    assert few == {name: many[name] for name in few}


def test_first_hundred_are_all_different_and_varied():
    pictures = [make_avatar(0, i) for i in range(100)]
    assert len({p.tobytes() for p in pictures}) == 100
    assert all(p.shape == (256, 256, 3) and p.dtype == np.uint8 for p in pictures)
    # variety a person would notice: many distinct background colours, skin tones (face centre) and layouts
    backgrounds = {tuple(p[2, 2]) for p in pictures}
    faces = {tuple(p[150, 128] // 16) for p in pictures}
    assert len(backgrounds) >= 6 and len(faces) >= 6
    mean_distance = np.mean([np.abs(pictures[i].astype(int) - pictures[i + 1]).mean() for i in range(99)])
    assert mean_distance > 20


def test_pictures_have_clear_dark_outlines():
    for i in range(20):
        gray = np.asarray(Image.fromarray(make_avatar(3, i)).convert("L"), dtype=np.float32)
        assert (gray < 70).mean() > 0.03   # ink lines (and dark hair), not a blank page
        assert gray.mean() > 100            # but a bright picture overall, not a dark blob
        # strong steps in brightness across the picture: what HED responds to
        assert (np.abs(np.diff(gray, axis=1)) > 80).sum() > 400


@pytest.mark.slow  # 500 avatars: about 10 s on 2 cores
def test_five_hundred_all_written_distinct_and_reported(tmp_path):
    # (how long it takes is a benchmark's business, not a test's: the machine may be shared)
    ticks = []
    summary = make_demo(tmp_path / "photos", 500, seed=0, progress=lambda done, total: ticks.append((done, total)))
    assert summary["made"] == 500 and len(list((tmp_path / "photos").glob("*.png"))) == 500
    assert summary == {"made": 500, "existing": 0, "out_dir": str(tmp_path / "photos")}
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == [f"demo_{i:05d}.png" for i in range(500)]
    assert len(set(_digests(tmp_path / "photos").values())) == 500      # no two avatars alike
    assert ticks == [(i, 500) for i in range(1, 501)]                   # progress after every picture, in order
    for i in (0, 499):                                                 # the files are the avatars, losslessly
        with Image.open(tmp_path / "photos" / f"demo_{i:05d}.png") as img:
            assert img.size == (256, 256) and img.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(img), make_avatar(0, i))


def test_existing_pictures_are_kept_unless_forced(tmp_path):
    out = tmp_path / "p"
    assert make_demo(out, 4, seed=0)["made"] == 4
    stamp = (out / "demo_00000.png").stat().st_mtime_ns
    again = make_demo(out, 6, seed=0)
    assert again == {"made": 2, "existing": 4, "out_dir": str(out)}
    assert (out / "demo_00000.png").stat().st_mtime_ns == stamp
    assert make_demo(out, 6, seed=0, force=True)["made"] == 6


def test_fetch_demo_from_the_cli(cli, root):
    result = cli("--root", root, "fetch", "demo", "--limit", "20", "--seed", "5", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    photos = root / "data" / "demo" / "photos"
    assert summary["photos"] == 20 and summary["out_dir"] == str(root / "data" / "demo")
    assert sorted(p.name for p in photos.iterdir()) == [f"demo_{i:05d}.png" for i in range(20)]
    with Image.open(photos / "demo_00019.png") as img:
        assert img.size == (256, 256) and img.mode == "RGB"
    manifest = json.loads((root / "data" / "demo" / "manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["counts"]["photos"] == 20 and manifest["licence"]

    # another seed redraws the pictures under the same names
    before = _digests(photos)
    assert cli("--root", root, "fetch", "demo", "--limit", "20", "--seed", "6").exit_code == 0
    after = _digests(photos)
    assert before.keys() == after.keys() and not set(before.values()) & set(after.values())
