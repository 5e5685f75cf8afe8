"""Automatic colouring (sketch.colouring): a line drawing's blank parts get colours from the theme's photos, one per
region, the child's crayon kept; the fill holds colour inside outlines a person would close."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from icanvas.core.errors import BadInput
from icanvas.sketch.colouring import BOOK_NAME, ColourBook, auto_colour, build_colour_book, photo_colouring
from icanvas.sketch.crayon import crayon_layer
from icanvas.sketch import fill
from icanvas.sketch.fill import fill_hints, h_maxima, paper_of, parts_of
from icanvas.sketch.hints import empty_hints
from icanvas.sketch.normalize import normalize_drawing

SIZE = 64
SKIN, SKY, RED, GRASS = (230, 180, 140), (120, 180, 240), (220, 40, 40), (60, 170, 80)


def _face(size: int = SIZE, box=(0.25, 0.2, 0.75, 0.8), width: int = 1) -> np.ndarray:
    """An oval outline (HxW uint8, 255 paper)."""
    img = Image.new("L", (size, size), 255)
    ImageDraw.Draw(img).ellipse([v * size for v in box], outline=0, width=width)
    return np.asarray(img).copy()


def _photo(inside, outside, size: int = SIZE, box=(0.25, 0.2, 0.75, 0.8)) -> np.ndarray:
    img = Image.new("RGB", (size, size), outside)
    ImageDraw.Draw(img).ellipse([v * size for v in box], fill=inside)
    return np.asarray(img).copy()


def _book(*colourings) -> ColourBook:
    return build_colour_book([(_face(), _photo(i, o)) for i, o in colourings], SIZE)


def _filled(lines: np.ndarray, layer: np.ndarray) -> np.ndarray:
    return fill_hints(lines, layer)


def _colour_at(fill: np.ndarray, y: int, x: int) -> tuple:
    assert fill[y, x, 3] == 255, f"no colour at {(y, x)}"
    return tuple(int(v) for v in fill[y, x, :3])


def test_a_line_drawing_takes_the_colours_of_the_photo_laid_out_like_it():
    book = _book((SKIN, SKY), (RED, GRASS))
    drawing = _face(box=(0.28, 0.22, 0.72, 0.78))      # a hand-drawn oval: not exactly the training one
    fill = _filled(drawing, auto_colour(drawing, book))
    inside, outside = _colour_at(fill, 32, 32), _colour_at(fill, 4, 4)
    assert (inside, outside) in ((SKIN, SKY), (RED, GRASS))   # one photo's colours, not a mix of both
    assert _colour_at(fill, 60, 60) == outside                # the background is one part, one colour


def test_a_drawing_coloured_from_its_own_photo_takes_each_regions_median_as_the_book_would():
    drawing = _face()
    photo = _photo(SKIN, SKY)
    photo[30:33, 28:36] = (20, 20, 20)                       # an eye: the median keeps the skin
    fill = _filled(drawing, photo_colouring(drawing, photo))
    assert _colour_at(fill, 32, 32) == SKIN and _colour_at(fill, 4, 4) == _colour_at(fill, 60, 60) == SKY
    assert not photo_colouring(np.zeros((SIZE, SIZE), np.uint8), photo).any()   # no paper, no colour


def test_seeds_give_other_colourings_reproducibly_and_none_gives_the_best():
    book = _book((SKIN, SKY), (RED, GRASS), (GRASS, RED), (SKY, SKIN))
    drawing = _face()
    best = auto_colour(drawing, book)
    assert np.array_equal(best, auto_colour(drawing, book))
    seen = {tuple(_colour_at(_filled(drawing, auto_colour(drawing, book, seed=s)), 32, 32)) for s in range(12)}
    assert len(seen) >= 2
    for s in (3, 7):
        assert np.array_equal(auto_colour(drawing, book, seed=s), auto_colour(drawing, book, seed=s))


def test_the_childs_crayon_is_kept_and_the_rest_chosen_to_go_with_it():
    book = _book((SKIN, SKY), (RED, GRASS))
    drawing = _face()
    crayon = empty_hints(SIZE, SIZE)
    crayon[28:36, 28:36] = (*RED, 255)                      # the child coloured the face red
    chosen = auto_colour(drawing, book, crayon)
    assert not chosen[20:44, 20:44, 3].any()                # nothing chosen where the child coloured
    combined = np.where(crayon[:, :, 3:] > 0, crayon, chosen)
    fill = _filled(drawing, combined)
    assert _colour_at(fill, 32, 32) == RED
    assert _colour_at(fill, 4, 4) == GRASS                  # the photo with a red face had a green background


def test_a_background_coloured_in_one_corner_is_the_childs_all_round():
    book = _book((SKIN, SKY), (RED, GRASS))
    drawing = _face(128, box=(0.3, 0.1, 0.7, 0.6))
    cv2.line(drawing, (0, 100), (127, 100), 0)              # a table line: the background narrows beside the face
    crayon = empty_hints(128, 128)
    crayon[4:12, 4:12] = (*RED, 255)                        # the child's red, in one corner of the background
    chosen = auto_colour(drawing, book, crayon)
    background = fill_hints(drawing, crayon)[..., 3] > 0
    assert background[60, 4] and background[60, 123]         # the child's colour reaches all round the face...
    assert not (chosen[..., 3] > 0)[background].any()        # ...and nothing is chosen there
    assert chosen[40:60, 50:78, 3].any()                     # the face and the table get chosen colours
    assert chosen[105:127, :, 3].any()


@pytest.mark.parametrize("case", ["zigzag", "one part", "all crayon", "tiny", "huge", "blank"])
def test_odd_drawings_get_a_layer_never_an_error(case):
    book = _book((SKIN, SKY))
    size = {"tiny": 8, "huge": 1024}.get(case, SIZE)
    drawing = np.full((size, size), 255, np.uint8)
    crayon = None
    if case == "zigzag":
        cv2.polylines(drawing, [np.array([[5, 30], [15, 10], [25, 30], [35, 10], [45, 30]], np.int32)], False, 0)
    elif case == "all crayon":
        drawing = _face(size)
        crayon = np.full((size, size, 4), 255, np.uint8)
        crayon[..., :3] = RED
    elif case != "blank":
        drawing = _face(size)
    layer = auto_colour(drawing, book, crayon)
    assert layer.shape == (size, size, 4) and layer.dtype == np.uint8
    if case == "all crayon":
        assert not layer[..., 3].any()
    if case in ("zigzag", "one part", "huge"):
        assert layer[..., 3].any()


def test_the_book_saves_and_loads_and_a_broken_one_is_named(tmp_path: Path):
    book = _book((SKIN, SKY), (RED, GRASS))
    path = book.save(tmp_path / BOOK_NAME)
    again = ColourBook.load(path)
    assert np.array_equal(again.pictures, book.pictures) and np.array_equal(again.layouts, book.layouts)
    assert len(again) == 2
    with pytest.raises(BadInput, match="missing"):
        ColourBook.load(tmp_path / "nothing.safetensors")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(BadInput, match=f"{broken}: unreadable colour data"):
        ColourBook.load(broken)
    with pytest.raises(BadInput, match="colouring method"):
        ColourBook.load(path, "rainbow")


def test_the_palette_method_colours_each_region_from_training_parts_in_its_place(tmp_path: Path):
    book = ColourBook.load(_book((SKIN, SKY)).save(tmp_path / BOOK_NAME), "palette")
    drawing = _face()
    fill = _filled(drawing, auto_colour(drawing, book))
    assert _colour_at(fill, 32, 32) == SKIN and _colour_at(fill, 4, 4) == SKY


def test_colouring_a_drawing_costs_little():
    # the colouring step runs per request in serve: bounded work, measured in benchmarks/colouring.py
    book = _book(*[(SKIN, SKY)] * 200)
    drawing = _face(128)
    auto_colour(drawing, book)
    layer = auto_colour(drawing, book, seed=5)
    assert layer[..., 3].any()


# ---- parts that hold their colour ------------------------------------------------------------------------------

def test_shoulders_that_stop_short_of_the_frame_still_close_the_shirt():
    img = Image.new("L", (128, 128), 255)
    pen = ImageDraw.Draw(img)
    pen.ellipse([44, 10, 84, 60], outline=0)
    pen.arc([14, 88, 114, 168], 190, 350, fill=0)          # shoulders ending ~14 px above the page's edge
    lines = np.asarray(img).copy()
    crayon = empty_hints(128, 128)
    crayon[112:118, 60:68] = (*RED, 255)                    # a stroke on the shirt
    fill = fill_hints(lines, crayon)
    assert fill[120, 64, 3] == 255                          # the shirt is coloured
    assert not fill[80, 10, 3] and not fill[5, 5, 3]       # the background is not


def test_an_open_outline_keeps_its_colour_inside():
    img = Image.new("L", (128, 128), 255)
    ImageDraw.Draw(img).arc([24, 24, 104, 104], 10, 350, fill=0)   # a C: a 14 px gap on the right
    lines = np.asarray(img).copy()
    crayon = empty_hints(128, 128)
    crayon[60:68, 50:58] = (*RED, 255)
    fill = fill_hints(lines, crayon)
    assert fill[64, 40, 3] == 255
    assert not fill[5, 5, 3] and not fill[64, 124, 3]


def test_a_smile_does_not_reach_for_the_eyes(monkeypatch):
    img = Image.new("L", (128, 128), 255)
    pen = ImageDraw.Draw(img)
    pen.ellipse([14, 14, 114, 114], outline=0)
    pen.ellipse([44, 44, 54, 54], outline=0)
    pen.ellipse([74, 44, 84, 54], outline=0)
    pen.arc([52, 60, 76, 76], 20, 160, fill=0)              # a short smile just under the eyes
    lines = np.asarray(img).copy()
    between = [(62, 76), (62, 52)]                          # between the smile's ends and the eyes
    assert all(paper_of(lines)[p] == 1 for p in between)
    monkeypatch.setattr(fill, "LENGTH_REACH", 10.0)         # were a line's length not to bound its reach
    assert any(paper_of(lines)[p] == 0 for p in between)


def test_small_eyes_are_parts_of_their_own_that_the_face_s_crayon_leaves_and_colouring_reaches():
    img = Image.new("L", (128, 128), 255)
    pen = ImageDraw.Draw(img)
    pen.ellipse([14, 14, 114, 114], outline=0)
    pen.ellipse([42, 44, 52, 54], outline=0)               # an eye 9 px across inside
    pen.ellipse([76, 46, 82, 52], outline=0)               # and a smaller one, 5 px: shallower than a neck
    lines = np.asarray(img).copy()
    found = parts_of(lines)
    eyes, face = [found.labels[49, 47], found.labels[49, 79]], found.labels[85, 64]
    assert min(eyes) > 0 and len({*eyes, face}) == 3            # the closing no longer fills them
    crayon = empty_hints(128, 128)
    crayon[80:90, 60:70] = (*SKIN, 255)
    coloured = fill_hints(lines, crayon)
    assert coloured[85, 30, 3] == 255 and not coloured[49, 47, 3] and not coloured[49, 79, 3]
    layer = auto_colour(lines, _book((SKIN, SKY), (RED, GRASS)))
    for eye in eyes:                                              # each eye gets a colour of its own
        assert (layer[..., 3][found.labels == eye] == 255).any()


def test_h_maxima_matches_scikit_image():
    from skimage.morphology import h_maxima as reference
    rng = np.random.default_rng(0)
    for _ in range(5):
        lines = _face(96, box=tuple(rng.uniform([0.05, 0.05, 0.55, 0.55], [0.45, 0.45, 0.95, 0.95])))
        distance = cv2.distanceTransform(parts_of(lines).paper, cv2.DIST_L2, 5)
        assert np.array_equal(h_maxima(distance, 2.0), reference(distance, 2.0))


# ---- a crayon layer sent apart from the lines ---------------------------------------------------------------

def test_a_separate_crayon_layer_gives_dark_crayons_too():
    lines = np.full((200, 200, 3), 255, np.uint8)
    cv2.ellipse(lines, (100, 100), (70, 50), 0, 0, 360, (0, 0, 0), 3)
    layer = np.zeros((200, 200, 4), np.uint8)
    layer[90:110, 80:120] = (40, 30, 20, 255)              # a dark brown crayon: a line if drawn in one image
    drawing = normalize_drawing(lines, 64, None, crayons=layer)
    assert drawing.hints is not None
    assert np.abs(drawing.hints[drawing.hints[..., 3] > 0, :3].astype(int) - (40, 30, 20)).max() <= 2
    flat = normalize_drawing(np.where(layer[..., 3:] > 0, layer[..., :3], lines), 64, None)
    assert flat.hints is None                               # flattened, the same brown is read as lines


def test_a_crayon_layer_of_another_size_is_refused():
    with pytest.raises(BadInput, match="crayons: 10x10 pixels, the sketch 20x20"):
        crayon_layer(np.zeros((10, 10, 4), np.uint8), (20, 20))
    with pytest.raises(BadInput, match="RGBA"):
        crayon_layer(np.zeros((20, 20, 3), np.uint8), (20, 20))


# ---- end to end: a hint model with its colour book --------------------------------------------------------------

def _line_drawing(side: int = 256) -> np.ndarray:
    img = Image.new("RGB", (side, side), "white")
    pen = ImageDraw.Draw(img)
    pen.ellipse([40, 60, 150, 170], outline="black", width=3)
    pen.ellipse([150, 110, 230, 200], outline="black", width=3)
    return np.asarray(img).copy()


@pytest.fixture(scope="module")
def installed(hint_model, tmp_path_factory) -> Path:
    from icanvas.pix2pix.checkpoints import install_model
    root = tmp_path_factory.mktemp("coloured") / "root"
    install_model(root, Path(hint_model))
    return root


def test_a_line_drawing_comes_back_in_colour_and_variations_are_colourings(installed, cli, tmp_path):
    import json
    model = installed / "models" / "demo"
    assert (model / BOOK_NAME).is_file()
    assert json.loads((model / "model.json").read_text())["colouring"]["file"] == BOOK_NAME
    sketch = tmp_path / "lines.png"
    Image.fromarray(_line_drawing()).save(sketch)
    r = cli("--root", installed, "generate", sketch, "-o", tmp_path / "auto.png", "--json", "--save-normalized")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["colouring"] == "palette"                   # the demo theme's (core.themes)
    chosen = np.asarray(Image.open(tmp_path / "auto_chosen.png"))          # the colours it chose, as a layer
    assert chosen.shape[2] == 4 and chosen[..., 3].any() and not (tmp_path / "auto_hints.png").exists()
    r = cli("--root", installed, "-q", "generate", sketch, "-o", tmp_path / "plain.png", "--no-auto-colour")
    assert r.exit_code == 0, r.stderr
    r = cli("--root", installed, "-q", "generate", sketch, "-o", tmp_path / "v", "--variations", "3")
    assert r.exit_code == 0, r.stderr
    auto, plain = (np.asarray(Image.open(tmp_path / f"{n}.png"), np.float32) for n in ("auto", "plain"))
    saturation = lambda p: float((p.max(2) - p.min(2)).mean())   # noqa: E731
    assert saturation(auto) > saturation(plain) + 10               # coloured, not the lines' grey average
    pictures = [np.asarray(Image.open(tmp_path / "v" / f"lines_v{i}.png"), np.float32) for i in (1, 2, 3)]
    differences = [np.abs(a - b).mean() for a in pictures for b in pictures if a is not b]
    assert max(differences) > 8                                    # other colours...
    again = cli("--root", installed, "-q", "generate", sketch, "-o", tmp_path / "w", "--variations", "3")
    assert again.exit_code == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "w" / "lines_v2.png")), pictures[1].astype(np.uint8))


def test_a_model_whose_colour_book_is_broken_is_named_and_still_runs_without(installed, cli, tmp_path):
    import shutil
    root = tmp_path / "root"
    shutil.copytree(installed, root)
    book = root / "models" / "demo" / BOOK_NAME
    book.write_bytes(book.read_bytes()[:100])
    sketch = tmp_path / "lines.png"
    Image.fromarray(_line_drawing()).save(sketch)
    r = cli("--root", root, "generate", sketch, "-o", tmp_path / "a.png")
    assert r.exit_code == 2 and f"{book}: unreadable colour data" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "a.png").exists()
    book.unlink()
    r = cli("--root", root, "generate", sketch, "-o", tmp_path / "a.png")
    assert r.exit_code == 2 and "colour data is missing" in r.stderr
    r = cli("--root", root, "generate", sketch, "-o", tmp_path / "a.png", "--no-auto-colour")
    assert r.exit_code == 0 and (tmp_path / "a.png").is_file()


def test_an_export_carries_the_book_and_colours_on_onnxruntime(installed, cli, tmp_path):
    pytest.importorskip("onnxruntime")
    from icanvas.inference.painter import Painter
    out = tmp_path / "exported"
    r = cli("--root", installed, "export", "demo", "-o", out)
    assert r.exit_code == 0, r.stderr
    assert (out / BOOK_NAME).is_file()
    painter = Painter.from_pretrained(out)
    assert painter.engine == "onnxruntime" and painter.variations
    one, two = painter(_line_drawing(), variation=0), painter(_line_drawing(), variation=5)
    assert one.shape == two.shape and np.array_equal(one, painter(_line_drawing(), variation=0))
