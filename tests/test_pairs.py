"""`icanvas pair` and the training Dataset: alignment, stable splits, problems reported, identical A/B transforms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from icanvas.core.errors import BadInput
from icanvas.core.images import load_rgb, save_png
from icanvas.data.pairing import pair_files, split_of
from icanvas.pix2pix.dataset import EpochSampler, PairDataset


def _photo_and_edges(w: int, h: int, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A red box on white, and its outline as black lines on white, at w x h."""
    x0, y0, x1, y1 = box
    photo = np.full((h, w, 3), 255, np.uint8)
    photo[y0:y1, x0:x1] = (200, 30, 30)
    edges = np.full((h, w), 255, np.uint8)
    edges[y0:y1, [x0, x1 - 1]] = 0
    edges[[y0, y1 - 1], x0:x1] = 0
    return photo, edges


def _theme_folders(tmp: Path, stems: list[str]) -> tuple[Path, Path]:
    photos, edges = tmp / "photos", tmp / "edges"
    for i, stem in enumerate(stems):
        photo, edge = _photo_and_edges(90, 60, (30 + i % 5, 20, 60, 40))
        save_png(photo, photos / f"{stem}.png")
        save_png(edge, edges / f"{stem}.png")
    return photos, edges


def test_split_is_stable_when_photos_are_added():
    first = {f"img{i}": split_of(f"img{i}", val=0.2, test=0.1) for i in range(500)}
    more = {f"img{i}": split_of(f"img{i}", val=0.2, test=0.1) for i in range(2000)}
    assert all(more[k] == v for k, v in first.items())
    shares = {s: sum(v == s for v in more.values()) / len(more) for s in ("train", "val", "test")}
    assert abs(shares["val"] - 0.2) < 0.03 and abs(shares["test"] - 0.1) < 0.03
    assert [split_of(f"img{i}", val=0.5, seed=1) for i in range(50)] != [split_of(f"img{i}", val=0.5)
                                                                         for i in range(50)]
    with pytest.raises(BadInput):
        split_of("x", val=0.8, test=0.5)


def test_pair_squashes_edges_and_photo_identically(cli, root, tmp_path):
    photos, edges = _theme_folders(tmp_path, ["a"])
    out = tmp_path / "pairs"
    result = cli("--root", root, "pair", "--edges", edges, "--photos", photos, "-o", out, "--size", "32",
                 "--val", "0", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["written"] == 1
    ab = load_rgb(out / "train" / "a.png")
    assert ab.shape == (32, 64, 3)
    sketch, photo = ab[:, :32], ab[:, 32:]
    assert (sketch[..., 0] == sketch[..., 1]).all() and (sketch[..., 1] == sketch[..., 2]).all()
    # The box outline in A lies on the box border in B (squashed 90x60 -> 32x32, not padded).
    lines = np.argwhere(sketch[..., 0] < 230)   # 1-px lines shrunk 3x turn gray
    box = np.argwhere(photo[..., 1] < 128)
    assert abs(lines[:, 1].min() - box[:, 1].min()) <= 1 and abs(lines[:, 1].max() - box[:, 1].max()) <= 1
    assert abs(lines[:, 0].min() - box[:, 0].min()) <= 1 and abs(lines[:, 0].max() - box[:, 0].max()) <= 1
    assert abs(box[:, 1].min() - 30 * 32 / 90) <= 1.5   # squashed horizontally, no padding


def test_pair_reports_problems_and_keeps_going(cli, root, tmp_path):
    photos, edges = _theme_folders(tmp_path, ["ok1", "ok2", "lonely"])
    (edges / "lonely.png").unlink()
    save_png(np.full((10, 10), 255, np.uint8), edges / "orphan.png")
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    save_png(np.full((60, 60), 255, np.uint8), edges / "broken.png")
    save_png(np.zeros((50, 80, 3), np.uint8), photos / "odd.png")
    save_png(np.full((30, 40), 255, np.uint8), edges / "odd.png")   # neither the photo's size nor square
    out = tmp_path / "pairs"
    result = cli("--root", root, "pair", "--edges", edges, "--photos", photos, "-o", out, "--size", "32", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["written"], summary["failed"], summary["unmatched"]) == (2, 2, 2)
    problems = "\n".join(summary["problems"])
    assert "lonely: photo but no edges" in problems and "orphan: edges but no photo" in problems
    assert "broken.png" in problems and "odd.png: size mismatch" in problems
    assert sorted(p.name for p in out.rglob("*.png")) == ["ok1.png", "ok2.png"]
    assert not list(out.rglob("*.tmp"))

    again = cli("--root", root, "pair", "--edges", edges, "--photos", photos, "-o", out, "--size", "32", "--json")
    assert json.loads(again.stdout)["skipped"] == 2 and json.loads(again.stdout)["written"] == 0
    forced = cli("--root", root, "pair", "--edges", edges, "--photos", photos, "-o", out, "--size", "32",
                 "--force", "--json")
    assert json.loads(forced.stdout)["written"] == 2


def test_pair_theme_needs_edges(cli, root):
    (root / "data" / "demo" / "photos").mkdir(parents=True)
    result = cli("--root", root, "pair", "--theme", "demo")
    assert result.exit_code == 2
    assert "icanvas edges --theme demo" in result.stderr and "Traceback" not in result.stderr


def test_paired_sets_pass_through_with_their_splits(cli, root, tmp_path, shared_dir):
    src = shared_dir / "data" / "edges2shoes_120"
    out = tmp_path / "shoes"
    result = cli("--root", root, "-q", "pair", "--paired", src, "-o", out, "--size", "64", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["per_split"] == {"train": 100, "val": 20, "test": 0}
    name = sorted((src / "val").iterdir())[0]
    ab = load_rgb(out / "val" / f"{name.stem}.png")
    original = np.asarray(Image.open(name).convert("RGB").resize((128, 64), Image.Resampling.BICUBIC), np.int16)
    assert ab.shape == (64, 128, 3)
    assert np.abs(ab[:, 64:].astype(np.int16) - original[:, 64:]).mean() < 12   # photo half, resized


def test_dataset_transforms_sketch_and_photo_together(tmp_path):
    rng = np.random.default_rng(3)
    for i in range(3):   # B's channels equal A, so any misalignment between A and B shows as a difference
        gray = (rng.random((48, 48)) * 255).astype(np.uint8)
        save_png(np.concatenate([np.repeat(gray[:, :, None], 3, 2)] * 2, axis=1), tmp_path / "train" / f"{i}.png")
    ds = PairDataset(pair_files(tmp_path / "train"), 32, seed=7)
    assert ds.load_size == 36   # 1.117 x 32, like 286 for 256
    crops = [ds[(epoch, 1)] for epoch in range(6)]
    for x in crops:
        assert x.shape == (32, 32, 4) and x.dtype == torch.uint8
        assert torch.equal(x[..., 0], x[..., 1]) and torch.equal(x[..., 1], x[..., 3])
    assert torch.equal(ds[(2, 1)], crops[2])                          # the same key, the same sample
    assert len({bytes(x.numpy()) for x in crops}) > 1                 # new epoch, new crop or flip

    calls = []

    def augment(sketch: np.ndarray, g: np.random.Generator) -> np.ndarray:
        calls.append(g.integers(1 << 30))
        return 255 - sketch

    aug = PairDataset(pair_files(tmp_path / "train"), 32, seed=7, sketch_augment=augment)
    a, b = aug[(2, 1)], aug[(2, 1)]
    assert torch.equal(a, b) and calls[0] == calls[1]                 # the augmentation rng is seeded per key
    assert torch.equal(a[..., 1:], crops[2][..., 1:]) and not torch.equal(a[..., 0], crops[2][..., 0])
    plain = PairDataset(pair_files(tmp_path / "train"), 32, random=False)[0]
    assert plain.shape == (32, 32, 4)


def test_zoom_shows_parts_at_other_sizes_and_keeps_sketch_and_photo_together(tmp_path):
    photo, _ = _photo_and_edges(64, 64, (24, 24, 40, 40))        # a 16 px red box
    edges = np.full((64, 64), 255, np.uint8)
    edges[23:41, 23:41] = 0                                      # its outline, 3 px wide (lines that survive zoom)
    edges[26:38, 26:38] = 255
    save_png(np.concatenate([np.repeat(edges[:, :, None], 3, 2), photo], axis=1), tmp_path / "0.png")
    files = pair_files(tmp_path)

    def box_sides(ds: PairDataset) -> list[int]:
        sides = []
        for epoch in range(40):
            x = ds[(epoch, 0)].numpy()
            rows, cols = np.nonzero((x[..., 1] > 150) & (x[..., 2] < 100))
            line_rows, line_cols = np.nonzero(x[..., 0] < 128)
            box = np.array([rows.min(), rows.max(), cols.min(), cols.max()], int)
            outline = np.array([line_rows.min(), line_rows.max(), line_cols.min(), line_cols.max()], int)
            # the outline frames the box, and nothing else is drawn (no lines invented where the pair was padded)
            assert np.abs(outline - box).max() <= 2
            sides.append(int(box[1] - box[0] + 1))
        return sides

    plain = box_sides(PairDataset(files, 32, seed=3))
    zoomed = box_sides(PairDataset(files, 32, seed=3, zoom=1.6))
    assert max(plain) - min(plain) <= 1                          # 16 px at 36/64: pix2pix's crop alone
    assert min(zoomed) <= min(plain) - 2 and max(zoomed) >= max(plain) + 2


def test_epoch_sampler_shards_and_resumes():
    ranks = [list(EpochSampler(10, epoch=3, seed=1, rank=r, world=2)) for r in range(2)]
    assert sorted(i for shard in ranks for _, i in shard) == list(range(10))
    assert all(e == 3 for shard in ranks for e, _ in shard)
    assert list(EpochSampler(10, epoch=3, seed=1, start=4)) == list(EpochSampler(10, epoch=3, seed=1))[4:]
    assert list(EpochSampler(10, epoch=4, seed=1)) != list(EpochSampler(10, epoch=3, seed=1))
