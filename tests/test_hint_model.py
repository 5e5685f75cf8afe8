"""A model that reads colour hints: the fill of a crayon over the drawing's regions, the input it encodes, the
hints following the training crop, and a run trained with hints that records it and reloads."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from servekit import crayon_drawing, hue_degrees, hue_gap

from icanvas.core.images import load_rgb, save_png
from icanvas.data.pairing import plan_paired, write_pairs
from icanvas.inference.painter import Painter
from icanvas.pix2pix.checkpoints import load_generator, read_info
from icanvas.pix2pix.dataset import PairDataset, to_model_input
from icanvas.pix2pix.inputs import encode_input, hint_layers, mark_loss
from icanvas.pix2pix.networks import GeneratorConfig, per_image_statistics
from icanvas.pix2pix.trainer import TrainConfig, train
from icanvas.sketch.fill import fill_hints
from icanvas.sketch.normalize import NormalizeOptions

pytestmark = pytest.mark.usefixtures("one_thread")

RED, BLUE = (229, 57, 53), (30, 136, 229)


def _square_with_marks(*marks: tuple[tuple[int, int], tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """A closed black square on paper, and crayon marks (5x5 blobs) at the given (y, x) with the given colours."""
    lines = np.full((64, 64), 255, np.uint8)
    cv2.rectangle(lines, (16, 16), (48, 48), 0, 1)
    hints = np.zeros((64, 64, 4), np.uint8)
    for (y, x), colour in marks:
        hints[y - 2:y + 3, x - 2:x + 3] = (*colour, 255)
    return lines, hints


def test_a_crayon_mark_fills_the_region_it_lies_in_and_nothing_else():
    lines, hints = _square_with_marks(((30, 30), RED))
    fill = fill_hints(lines, hints)
    inside, square = np.zeros((64, 64), bool), np.zeros((64, 64), bool)
    inside[20:45, 20:45] = True                                 # away from the lines (a thin band stays empty)
    square[16:49, 16:49] = True
    assert (fill[inside, :3] == RED).all() and (fill[inside, 3] == 255).all()
    assert (fill[~square, 3] == 0).all() and (fill[lines == 0, 3] == 0).all()   # not outside, not on the lines


def test_a_small_gap_in_the_lines_does_not_let_the_colour_out():
    lines, hints = _square_with_marks(((30, 30), RED))
    lines[30:32, 16] = 255                                      # a 2 px gap in the left side
    fill = fill_hints(lines, hints)
    assert fill[30, 30, 3] == 255 and fill[30, 8, 3] == 0


def test_two_colours_in_one_region_split_it_between_their_marks():
    lines, hints = _square_with_marks(((20, 24), RED), ((44, 40), BLUE))
    fill = fill_hints(lines, hints)
    assert tuple(fill[21, 21, :3]) == RED and tuple(fill[43, 43, :3]) == BLUE
    assert (fill[5, 5, 3] == 0)                                 # the outside has no mark: empty


def _two_rooms() -> np.ndarray:
    """Two 20 px rooms joined by an 8 px doorway (wider than the gaps the fill closes), away from the frame."""
    lines = np.full((64, 64), 255, np.uint8)
    cv2.rectangle(lines, (6, 20), (27, 41), 0, 1)
    cv2.rectangle(lines, (36, 20), (57, 41), 0, 1)
    lines[27:35, 27:37] = 255                                   # the doorway
    cv2.line(lines, (27, 26), (36, 26), 0, 1)
    cv2.line(lines, (27, 35), (36, 35), 0, 1)
    return lines


def test_a_room_no_crayon_touched_stays_empty_though_a_doorway_joins_it():
    """A face left white under yellow hair stays white, even where the lines let the hair's colour through."""
    lines = _two_rooms()
    hints = np.zeros((64, 64, 4), np.uint8)
    hints[29:33, 14:18] = (*RED, 255)
    fill = fill_hints(lines, hints)
    assert tuple(fill[30, 12, :3]) == RED and fill[30, 12, 3] == 255
    assert fill[30, 47, 3] == 0                                  # the other room
    hints[29:33, 45:49] = (*BLUE, 255)                           # coloured too: each room its own colour
    fill = fill_hints(lines, hints)
    assert tuple(fill[30, 12, :3]) == RED and tuple(fill[24, 40, :3]) == BLUE and tuple(fill[38, 54, :3]) == BLUE


def test_the_frame_closes_a_shirt_drawn_down_to_it():
    """Shoulders that stop just short of the frame still hold the shirt's colour in."""
    lines = np.full((64, 64), 255, np.uint8)
    cv2.ellipse(lines, (32, 62), (20, 18), 0, 180, 360, 0, 1)   # a hump ending 1-2 px above the bottom edge
    lines[62:, :] = 255
    hints = np.zeros((64, 64, 4), np.uint8)
    hints[54:58, 30:34] = (*RED, 255)
    fill = fill_hints(lines, hints)
    assert fill[56, 40, 3] == 255 and fill[30, 32, 3] == 0 and fill[60, 4, 3] == 0


def test_no_marks_no_fill():
    lines, hints = _square_with_marks()
    assert not fill_hints(lines, hints).any()


def test_the_input_a_hint_model_reads_and_a_plain_model_ignores_hints():
    lines, hints = _square_with_marks(((30, 30), RED))
    layers = torch.from_numpy(hint_layers(lines, hints, hint_fill=True)).permute(2, 0, 1)[None].float() / 255
    sketch = torch.from_numpy(lines).float()[None, None] / 127.5 - 1
    plain = GeneratorConfig(size=64, ngf=4)
    assert torch.equal(encode_input(sketch, layers, plain), sketch.expand(-1, 3, -1, -1))
    config = GeneratorConfig.for_training(64, 4, hints=True, hint_fill=True)
    x = encode_input(sketch, layers, config)
    assert x.shape == (1, config.input_nc, 64, 64) == (1, 9, 64, 64)
    red = torch.tensor(RED) / 127.5 - 1
    assert torch.allclose(x[0, 1:4, 30, 30], red) and x[0, 4, 30, 30] == 1          # the mark
    assert torch.allclose(x[0, 5:8, 20, 40], red) and x[0, 8, 20, 40] == 1          # its fill, away from it
    assert x[0, 4, 20, 40] == 0 and x[0, 8, 5, 5] == 0
    assert not encode_input(sketch, None, config)[:, 1:].any()                   # no colour: empty layers


def test_chosen_colours_are_read_in_the_fill_alone_and_the_childs_crayon_wins():
    lines, hints = _square_with_marks(((30, 30), RED))        # the child coloured the square red
    chosen = np.zeros_like(hints)
    chosen[28:33, 28:33] = (*BLUE, 255)                        # a colour chosen under the child's: ignored
    chosen[4:7, 4:7] = (*BLUE, 255)                            # and one chosen for the paper around the square
    layers = hint_layers(lines, hints, True, chosen)
    assert np.array_equal(layers[:, :, :4], hints)             # the marks: only what the child put there
    assert tuple(layers[40, 40, 4:8]) == (*RED, 255)           # the fill: the child's red in the square,
    assert tuple(layers[10, 56, 4:8]) == (*BLUE, 255)          # the chosen blue around it
    without_fill = hint_layers(lines, hints, False, chosen)    # a model without the fill reads chosen dabs as marks
    assert tuple(without_fill[5, 5]) == (*BLUE, 255) and tuple(without_fill[30, 30]) == (*RED, 255)


def test_the_mark_loss_is_the_distance_to_the_crayon_colour_under_its_marks_only():
    lines, hints = _square_with_marks(((30, 30), RED), ((20, 40), BLUE))
    layers = torch.from_numpy(hint_layers(lines, hints, hint_fill=True)).permute(2, 0, 1)[None].float() / 255
    sketch = torch.from_numpy(lines).float()[None, None] / 127.5 - 1
    x = encode_input(sketch, layers, GeneratorConfig.for_training(64, 4, hints=True, hint_fill=True))
    under = x[:, 4:5] > 0
    picture = torch.where(under, x[:, 1:4], torch.rand(1, 3, 64, 64) * 2 - 1)   # anything but under the marks
    assert mark_loss(picture, x) == 0
    assert torch.isclose(mark_loss(torch.where(under, x[:, 1:4] + 0.5, picture), x), torch.tensor(0.5))
    no_marks = encode_input(sketch, None, GeneratorConfig.for_training(64, 4, hints=True, hint_fill=True))
    assert mark_loss(picture, no_marks) == 0


def test_a_hint_config_must_read_the_channels_it_says():
    with pytest.raises(ValueError, match="input_nc 3"):
        GeneratorConfig(size=64, input_nc=3, hints=True)
    with pytest.raises(ValueError, match="hints 'yes'"):
        GeneratorConfig(size=64, hints="yes")


def test_a_model_that_paints_over_the_fill_starts_from_the_crayon_colour():
    """Copying a crayon's colour over its region is what such a model knows before any training; where no fill
    lies it paints with its own head, and white paper stays finite."""
    from icanvas.pix2pix.networks import UnetGenerator, init_weights

    torch.manual_seed(0)
    config = GeneratorConfig.for_training(64, 4, hints=True, hint_fill=True, fill_prior=True)
    net = init_weights(UnetGenerator(config)).eval()
    lines, hints = _square_with_marks(((30, 30), RED))
    layers = torch.from_numpy(hint_layers(lines, hints, hint_fill=True)).permute(2, 0, 1)[None].float() / 255
    sketch = torch.from_numpy(lines).float()[None, None] / 127.5 - 1
    with torch.no_grad():
        picture = net(encode_input(sketch, layers, config))[0]
        white = layers.clone()
        white[:, 4:7] = 1.0                                     # a fill of paper white
        paper = net(encode_input(sketch, white, config))[0]
    red = torch.tensor(RED)[:, None, None] / 127.5 - 1
    assert (picture[:, 20:45, 20:45] - red).abs().max() < 0.05           # the fill's colour, untrained
    assert (picture[:, :8, :8] - red).abs().mean() > 0.5                  # outside: not red
    assert torch.isfinite(paper).all() and paper[:, 20:45, 20:45].min() > 0.9


def test_painting_over_the_fill_needs_the_fill():
    with pytest.raises(ValueError, match="fill_prior"):
        GeneratorConfig(size=64, input_nc=5, hints=True, fill_prior=True)
    assert not GeneratorConfig.for_training(64, 4, hints=False, hint_fill=True, fill_prior=True).fill_prior


def _copy_the_photo(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 'hint layer' that is the photo itself, plus a random value: shows where hints come from."""
    layer = np.concatenate([photo, np.full(photo.shape[:2] + (1,), 255, np.uint8)], axis=2)
    layer[0, 0, 0] = rng.integers(0, 256)
    return layer


@pytest.fixture(scope="module")
def shoes32(shared_dir, tmp_path_factory) -> Path:
    jobs, _ = plan_paired(shared_dir / "data" / "edges2shoes_120")
    out = tmp_path_factory.mktemp("shoes32")
    write_pairs([j for j in jobs if j.split == "train"][:6] + [j for j in jobs if j.split == "val"][:2], [], out,
                size=32)
    return out


def test_hints_are_made_from_the_photo_after_its_crop_and_flip_and_are_deterministic(shoes32):
    files = sorted((shoes32 / "train").glob("*.png"))
    ds = PairDataset(files, 32, seed=3, hints=_copy_the_photo)
    item = ds[(2, 1)].numpy()
    assert item.shape == (32, 32, 8)
    assert np.array_equal(item[1:, 1:, 4:7], item[1:, 1:, 1:4])        # the layer lies exactly on the photo
    assert np.array_equal(ds[(2, 1)].numpy(), item)                    # same (seed, epoch, index), same hints
    assert any(not np.array_equal(ds[(e, 1)].numpy(), item) for e in range(3, 8))
    plain = PairDataset(files, 32, seed=3)[(2, 1)].numpy()
    assert np.array_equal(plain, item[:, :, :4])                       # hints leave the crop as it was
    sketch, photo = to_model_input(torch.from_numpy(item)[None], torch.device("cpu"),
                                   GeneratorConfig.for_training(32, 4, hints=True, hint_fill=False))
    assert sketch.shape == (1, 5, 32, 32) and photo.shape == (1, 3, 32, 32)


def _no_crayon(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.zeros(photo.shape[:2] + (4,), np.uint8)


def test_samples_without_crayon_are_often_shown_colours_chosen_from_their_photo_in_the_fill(shoes32):
    files = sorted((shoes32 / "train").glob("*.png"))
    ds = PairDataset(files, 32, seed=3, hints=_no_crayon, hint_fill=True, chosen_colours=True)
    items = [ds[(e, i)].numpy() for e in range(6) for i in range(len(files))]
    coloured = [x for x in items if x[:, :, 11].any()]
    assert not any(x[:, :, 7].any() for x in items)                           # never a mark
    assert 0.4 < len(coloured) / len(items) < 0.9                             # CHOSEN_SHARE / NO_HINT_SHARE
    for x in coloured:   # each colour of the fill is the photo's median colour where it lies
        under = x[:, :, 11] > 0
        for colour in np.unique(x[:, :, 8:11][under], axis=0):
            where = under & (x[:, :, 8:11] == colour).all(axis=2)
            assert np.abs(np.median(x[:, :, 1:4][where], axis=0) - colour).max() <= 40
    for other in (PairDataset(files, 32, seed=3, hints=_no_crayon, chosen_colours=True),   # no fill: none
                  PairDataset(files, 32, seed=3, hints=_no_crayon, hint_fill=True)):       # not asked: none
        assert not any(other[(e, 0)].numpy()[:, :, 4:].any() for e in range(6))


def test_a_run_with_hints_records_them_scores_with_and_without_and_reloads(shoes32, tmp_path):
    run = tmp_path / "run"
    cfg = TrainConfig(data=str(shoes32), run_dir=str(run), theme="shoes", run="h", size=32, ngf=4, ndf=4,
                      batch_size=2, epochs=1, hints=True, lambda_mark=50.0, val_limit=2)
    result = train(cfg)
    assert json.loads((run / "config.json").read_text())["settings"]["lambda_mark"] == 50.0
    info = read_info(result.checkpoint)
    assert info.generator.hints and info.generator.hint_fill and info.generator.input_nc == 9
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["val_l1"] > 0 and record["val_l1_hints"] > 0
    net, _ = load_generator(result.checkpoint)
    x = torch.rand(2, 9, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():   # the reloaded checkpoint is the trained network: the same pictures
        got, trained = net(x), per_image_statistics(result.generator)(x)
    assert got.shape == (2, 3, 32, 32) and torch.allclose(got, trained, rtol=0, atol=1e-6)


# The hint model below learned on shapes whose colour only the crayon tells (servekit.train_hint_model).
CRAYONS = {"red": (229, 57, 53), "blue": (30, 136, 229), "green": (67, 160, 71), "yellow": (253, 216, 53)}


def _under_the_crayon(painter: Painter, drawing: np.ndarray, **options) -> np.ndarray:
    read = painter.read(drawing, NormalizeOptions(**options))
    picture = painter.paint([read])[0]
    mask = painter.read(drawing).hints[:, :, 3] > 127
    return picture[mask].mean(axis=0)


def test_the_picture_takes_the_crayons_colour_and_ignores_it_with_no_hints(hint_model):
    painter = Painter.from_pretrained(hint_model, device="cpu")
    assert painter.hints
    followed = []
    for name, colour in CRAYONS.items():
        got = _under_the_crayon(painter, crayon_drawing(colour))
        assert hue_gap(hue_degrees(got), hue_degrees(colour)) < 30, f"{name}: {got.round()} under {colour}"
        followed.append(got)
    # --no-hints: the crayon is read as ink (a light crayon as a light line), the colour does not reach the model
    # (with --no-auto-colour too: chosen colours would differ with the regions each crayon's outline makes)
    lines_only = Painter.from_pretrained(hint_model, device="cpu", auto_colour=False)
    ignored = [_under_the_crayon(lines_only, crayon_drawing(c), hints=False) for c in CRAYONS.values()]

    def spread(colours):
        return max(np.abs(a - b).max() for a in colours for b in colours)
    assert spread(ignored) < spread(followed) / 3


def test_generate_writes_the_hint_layer_it_read(hint_model, cli, root, tmp_path):
    save_png(crayon_drawing(CRAYONS["red"]), tmp_path / "red.png")
    done = cli("generate", str(tmp_path / "red.png"), "--checkpoint", str(hint_model), "-o", str(tmp_path / "out"),
               "--save-normalized")
    assert done.exit_code == 0, done.output
    hints = np.asarray(Image.open(tmp_path / "out" / "red_hints.png"))
    assert hints.shape == (64, 64, 4) and (hints[:, :, 3] == 255).sum() > 50
    assert (hints[hints[:, :, 3] == 255, :3] == CRAYONS["red"]).all()
    assert load_rgb(tmp_path / "out" / "red_normalized.png").shape == (64, 64, 3)


def test_compare_judges_realism_on_the_drawings_without_colour(hint_model):
    """A child's purple background is not unrealistic: coloured drawings are judged by their colour (dE), and
    realism by the pictures from drawings without colour."""
    from icanvas.eval.compare import compare_checkpoints
    from icanvas.eval.realism import Realism

    class Recorder:
        source, photos, seen = "photos", 4, []

        def __call__(self, pictures, sketches):
            self.seen.append(len(pictures))
            return Realism(kid=1.0, lines_kid=1.0, score=0.5)

    recorder = Recorder()
    lines = np.asarray(Image.fromarray(crayon_drawing(RED)).convert("L").convert("RGB"))
    sketches = [("a", lines), ("b", lines[:, ::-1].copy()), ("crayon", crayon_drawing(RED))]
    blank = lambda size: lambda pictures: [np.full((size, size), 255, np.uint8) for _ in pictures]   # noqa: E731
    result = compare_checkpoints([hint_model], sketches, blank, realism_for=lambda size: recorder).results[0]
    assert recorder.seen == [2] and result.realism == 0.5
    # the crayon's colour is judged: this model paints red under red (measured dE 0.4); a picture in another
    # colour scores far above the 10 that is a clearly different shade (blue: 48)
    from icanvas.eval.colour import hint_colour_error
    hints = Painter.from_pretrained(hint_model, device="cpu").read(crayon_drawing(RED)).hints
    wrong = hint_colour_error(np.full(hints.shape[:2] + (3,), BLUE, np.uint8), hints)
    assert result.colour is not None and result.colour < 10 < wrong, (result.colour, wrong)


def test_generate_with_no_hints_reads_the_crayon_as_a_line(hint_model, cli, root, tmp_path):
    """`generate --no-hints`: the crayon's colour does not reach the model (the hint layer written holds no red:
    at most the colours chosen for blank parts), the picture is the library's with hints off, and not the
    picture the crayon asks for."""
    red = crayon_drawing(CRAYONS["red"])
    save_png(red, tmp_path / "red.png")
    done = cli("--root", root, "generate", tmp_path / "red.png", "--checkpoint", hint_model, "-o", tmp_path / "out",
               "--save-normalized", "--no-hints")
    assert done.exit_code == 0, done.output
    if (tmp_path / "out" / "red_hints.png").exists():
        layer = np.asarray(Image.open(tmp_path / "out" / "red_hints.png"))
        assert not (layer[layer[:, :, 3] == 255, :3] == CRAYONS["red"]).all(axis=1).any()
    painter = Painter.from_pretrained(hint_model, device="cpu")
    picture = load_rgb(tmp_path / "out" / "red.png")
    assert np.array_equal(picture, painter.paint([painter.read(red, NormalizeOptions(hints=False))])[0])
    assert not np.array_equal(picture, painter.paint([painter.read(red)])[0])
