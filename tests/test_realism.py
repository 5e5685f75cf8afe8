"""The realism score is validated before it is trusted: real photos beat pictures made from lines, which beat
grey, flat and noise pictures; a model after one epoch scores worse than the same model trained longer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from icanvas.core.images import find_images, load_rgb, save_png, split_ab
from icanvas.data.demo import make_avatar, make_demo
from icanvas.data.pairing import make_pairs
from icanvas.edges.pipeline import EdgeDetector, EdgeSettings
from icanvas.eval.realism import RealismScorer, kid
from icanvas.inference.painter import Painter
from icanvas.pix2pix.config import TrainConfig
from icanvas.pix2pix.trainer import train


def test_kid_is_about_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 16)), rng.normal(size=(40, 16))
    assert abs(kid(a, b)) < 0.1 < kid(a, b + 1.0)
    assert kid(a, b + 1.0) < kid(a, b + 2.0)


@pytest.fixture(scope="module")
def detector(hed_root) -> EdgeDetector:
    return EdgeDetector(hed_root, EdgeSettings(size=128))


def _degenerate(pictures: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    rng = np.random.default_rng(1)
    return {"grey": [np.full_like(p, 128) for p in pictures],
            "flat colour": [np.full_like(p, rng.integers(0, 256, 3)) for p in pictures],
            "noise": [rng.integers(0, 256, p.shape).astype(np.uint8) for p in pictures]}


def _check_order(detector: EdgeDetector, reference: list[np.ndarray], candidates: list[np.ndarray]) -> None:
    scorer = RealismScorer(detector.net, reference, 128, "reference photos")
    candidates = [cv2.resize(c, (128, 128), interpolation=cv2.INTER_AREA) for c in candidates]
    lines = [np.repeat(d[..., None], 3, axis=2) for d in detector.batch(candidates)]   # HED at 128 px: quick
    photos, drawn = scorer.kid(candidates), scorer.kid(lines)
    assert photos < 0.1 * drawn, (photos, drawn)
    # R: held-out photos well above the lines' 0.5, degenerate pictures made from those lines below it
    assert scorer(candidates, lines).score > 0.9
    for name, pictures in _degenerate(candidates).items():
        degenerate = scorer(pictures, lines)
        assert degenerate.kid > drawn and degenerate.score < 0.5, (name, degenerate)


def test_demo_photos_beat_their_lines_which_beat_degenerate_pictures(detector):
    avatars = [make_avatar(0, i) for i in range(36)]
    _check_order(detector, avatars[:24], avatars[24:])


def test_shoe_photos_beat_their_lines_which_beat_degenerate_pictures(detector, shared_dir):
    shoes = [split_ab(load_rgb(p), str(p))[1] for p in find_images([shared_dir / "data" / "edges2shoes_120"])[:36]]
    _check_order(detector, shoes[:24], shoes[24:])


@pytest.mark.timeout(600)
def test_a_model_after_one_epoch_is_less_real_than_trained_longer(detector, tmp_path):
    torch.set_num_threads(max(1, torch.get_num_threads()))
    photos, edges = tmp_path / "photos", tmp_path / "edges"
    make_demo(photos, 64, seed=5)
    for path in sorted(photos.glob("*.png")):
        save_png(detector(load_rgb(path)), edges / path.name)
    make_pairs(tmp_path / "pairs", edges=edges, photos=photos, size=64, val=0.2, seed=0)
    held_out = [split_ab(load_rgb(p), str(p)) for p in sorted((tmp_path / "pairs" / "val").glob("*.png"))]
    assert len(held_out) >= 8
    reference = [make_avatar(9, i) for i in range(30)]   # other avatars than the training ones
    scorer = RealismScorer(detector.net, reference, 64, "demo avatars")
    scores = {}
    for epochs in (1, 10):
        cfg = TrainConfig(data=str(tmp_path / "pairs"), run_dir=str(tmp_path / f"run{epochs}"), theme="demo",
                          run=f"run{epochs}", size=64, ngf=16, ndf=16, batch_size=4, epochs=epochs,
                          sketch_augment=False, val_limit=4, save_every=100)
        painter = Painter.from_pretrained(train(cfg).checkpoint, device="cpu")
        sketches = [a for a, _ in held_out]
        scores[epochs] = scorer(painter.paint(sketches), sketches)
    assert scores[10].kid < scores[1].kid and scores[10].score > scores[1].score, scores
