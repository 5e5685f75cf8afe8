"""Colour hints: crayon strokes simulated from photos (training and the benchmark), crayon colour read from
drawings (white paper, dark mode, photographed paper), and the colour fidelity scores."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from skimage.color import deltaE_ciede2000, rgb2lab

from icanvas.core.errors import BadInput
from icanvas.core.images import load_rgb
from icanvas.data.demo import make_avatar
from icanvas.eval.colour import hint_colour_error, region_colour_error, strokes_of
from icanvas.eval.fmeasure import tolerant_f
from icanvas.sketch.hints import NO_HINT_SHARE, crayon_colour, simulate_hints
from icanvas.sketch.lines import LINE_LEVEL, ink_of
from icanvas.sketch.normalize import (
    Drawing,
    NormalizeOptions,
    normalize_drawing,
    normalize_sketch,
)

# the drawing page's crayon box (server/static): every one must be read as a hint
CRAYONS = {"red": "#e53935", "orange": "#fb8c00", "yellow": "#fdd835", "green": "#43a047", "blue": "#1e88e5",
           "light blue": "#4fc3f7", "purple": "#8e24aa", "pink": "#ec407a", "brown": "#a0522d", "skin": "#f5b183"}
STYLE = {"line_width": 2.0, "margin": 0.08}
BLACK, WHITE = (20, 20, 24), (255, 255, 255)
DARK_CANVAS, LIGHT_LINE = (30, 34, 48), (240, 240, 235)


def rgb_of(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def lab(colour) -> np.ndarray:
    return rgb2lab(np.asarray(colour, np.float64).reshape(-1, 3) / 255.0)


def delta_e(a, b) -> float:
    return float(deltaE_ciede2000(lab(a), lab(b))[0])


def lines(sketch: np.ndarray) -> np.ndarray:
    return ink_of(sketch) > LINE_LEVEL


# ---- drawings as a child makes them ----------------------------------------------------------------------------

def crayon(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], colour, width: float,
           rng: np.random.Generator) -> None:
    """Colour a box as a child does with a broad crayon: wobbly back-and-forth passes, not a perfect fill."""
    x0, y0, x1, y1 = box
    rows = np.arange(y0 + width / 2, y1 - width / 4, width * 0.8)
    pts = [(x0 + (x1 - x0) * (0.05 if i % 2 == 0 else 0.95) + rng.normal(0, width / 3), y + rng.normal(0, 1.5))
           for i, y in enumerate(rows)]
    draw.line(pts, fill=colour, width=int(width), joint="curve")


def square_drawing(colour, canvas: int = 400, place=(60, 60, 340), paper=WHITE, ink=BLACK, pen: int = 6,
                   patch: bool = True, outline: bool = True, seed: int = 0) -> Image.Image:
    """A black square (left, top, right) with a crayon patch inside it."""
    img = Image.new("RGB", (canvas, canvas), paper)
    d = ImageDraw.Draw(img)
    x0, y0, x1 = place
    side = x1 - x0
    if outline:
        d.rectangle([x0, y0, x1, y0 + side], outline=ink, width=pen)
    if patch:
        crayon(d, (x0 + side * 0.25, y0 + side * 0.25, x0 + side * 0.75, y0 + side * 0.75), colour,
               max(4, side * 0.06), np.random.default_rng(seed))
    return img


def photographed(img: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """A phone photo of paper: blur, a yellowish cast, light falling off to one corner, noise, JPEG."""
    a = np.asarray(img.filter(ImageFilter.GaussianBlur(1.0)), np.float32) / 255.0
    h, w = a.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    light = 0.95 - 0.45 * (0.6 * xx + 0.4 * yy)
    rgb = a * light[..., None] * np.array([1.0, 0.93, 0.78]) * 255 + rng.normal(0, 4, a.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=80)
    return np.asarray(Image.open(buf).convert("RGB"))


def hint_colours(drawing: Drawing) -> np.ndarray:
    mask = drawing.hints[..., 3] > 0
    return np.unique(drawing.hints[mask][:, :3], axis=0)


def check_layer(layer: np.ndarray, shape) -> None:
    assert layer.shape == (*shape, 4) and layer.dtype == np.uint8
    assert set(np.unique(layer[..., 3])) <= {0, 255}
    assert not layer[..., :3][layer[..., 3] == 0].any()          # RGB is 0 where there is no hint


# ---- reading colour from a drawing --------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(CRAYONS))
def test_every_crayon_of_the_page_is_a_hint_and_black_a_line(name):
    colour = rgb_of(CRAYONS[name])
    img = square_drawing(colour)
    got = normalize_drawing(np.asarray(img), 128, STYLE)
    check_layer(got.hints, (128, 128))
    [read] = hint_colours(got)
    assert tuple(read) == colour                                  # the crayon's own colour, exactly
    assert 0.03 < (got.hints[..., 3] > 0).mean() < 0.3
    # the black square is the only line: the same lines as the square drawn without colour
    plain = normalize_sketch(np.asarray(square_drawing(colour, patch=False)), 128, STYLE)
    assert np.array_equal(lines(got.lines), lines(plain))
    assert crayon_colour(np.array(colour, np.uint8))


def test_a_crayon_patch_leaves_no_outline_but_hints_off_reads_it_as_lines():
    img = np.asarray(square_drawing(rgb_of(CRAYONS["blue"])))
    with_colour = normalize_drawing(img, 128, STYLE)
    square = lines(normalize_sketch(np.asarray(square_drawing(None, patch=False)), 128, STYLE))
    assert not (lines(with_colour.lines) & (with_colour.hints[..., 3] > 0)).any()
    assert lines(with_colour.lines).sum() == square.sum()
    # hints off: every ink is a line, as before hints existed (and as normalize_sketch reads it)
    off = normalize_drawing(img, 128, STYLE, NormalizeOptions(hints=False))
    assert off.hints is None
    assert np.array_equal(off.lines, normalize_sketch(img, 128, STYLE))
    assert lines(off.lines).sum() > 1.5 * square.sum()            # the patch's strokes became lines


def test_grey_pencil_and_a_dark_pen_are_lines_not_hints():
    for ink in [(128, 128, 128), (90, 90, 100), (20, 40, 120)]:   # pencil, soft pencil, blue ballpoint
        img = Image.new("RGB", (300, 300), WHITE)
        d = ImageDraw.Draw(img)
        d.ellipse([50, 50, 250, 250], outline=ink, width=4)
        d.line([(80, 150), (220, 150)], fill=ink, width=3)
        got = normalize_drawing(np.asarray(img), 128, STYLE)
        assert got.hints is None, ink
        assert np.array_equal(got.lines, normalize_sketch(np.asarray(img), 128, STYLE))


def test_touching_crayons_stay_two_colours():
    """Yellow hair coloured right against a skin face: two hints, each its own colour."""
    img = Image.new("RGB", (400, 400), WHITE)
    d = ImageDraw.Draw(img)
    d.ellipse([80, 60, 320, 340], outline=BLACK, width=6)
    d.rectangle([110, 100, 290, 160], fill=rgb_of(CRAYONS["yellow"]))
    d.rectangle([110, 160, 290, 300], fill=rgb_of(CRAYONS["skin"]))
    got = normalize_drawing(np.asarray(img), 128, STYLE)
    assert {tuple(c) for c in hint_colours(got)} == {rgb_of(CRAYONS["yellow"]), rgb_of(CRAYONS["skin"])}
    # each colour keeps its side of the border
    yellow = np.all(got.hints[..., :3] == rgb_of(CRAYONS["yellow"]), -1)
    skin = np.all(got.hints[..., :3] == rgb_of(CRAYONS["skin"]), -1)
    assert np.flatnonzero(yellow.any(1)).max() < np.flatnonzero(skin.any(1)).mean()


def test_dark_mode_crayons_are_hints_and_light_lines_are_lines():
    for name in ("red", "yellow", "purple", "skin"):
        colour = rgb_of(CRAYONS[name])
        img = square_drawing(colour, paper=DARK_CANVAS, ink=LIGHT_LINE)
        got = normalize_drawing(np.asarray(img), 128, STYLE)
        [read] = hint_colours(got)
        assert tuple(read) == colour
        light = normalize_sketch(np.asarray(square_drawing(colour, patch=False)), 128, STYLE)
        assert np.array_equal(lines(got.lines), lines(light))
        assert (got.lines == 255).mean() > 0.8                     # white paper, not the dark canvas


def test_photographed_paper_with_a_gradient_and_a_yellowish_cast():
    rng = np.random.default_rng(3)
    clean = normalize_sketch(np.asarray(square_drawing(None, patch=False)), 128, STYLE)
    for name, hex_colour in CRAYONS.items():
        colour = rgb_of(hex_colour)
        got = normalize_drawing(photographed(square_drawing(colour), rng), 128, STYLE)
        assert got.hints is not None, name
        [read] = hint_colours(got)
        assert delta_e(read, colour) < 5.0, (name, read)           # the cast and the dim light divided out
        assert tolerant_f(lines(got.lines), lines(clean), 2.0).f > 0.9
        assert not (lines(got.lines) & (got.hints[..., 3] > 0)).any()
    # a photo of a pencil drawing without colour has no hints and the lines it had before hints existed
    pencil = photographed(square_drawing(None, patch=False, ink=(110, 110, 110)), rng)
    got = normalize_drawing(pencil, 128, STYLE)
    assert got.hints is None and np.array_equal(got.lines, normalize_sketch(pencil, 128, STYLE))


def test_colouring_most_of_the_page_on_paper_photos_and_dark_canvases():
    """A background coloured over most of the page with the face drawn over it: the paper is still found (around
    the colour), the lines are the face's, the colour one hint."""
    rng = np.random.default_rng(4)
    for name in ("skin", "blue"):
        colour = rgb_of(CRAYONS[name])
        made = {}
        for paper, ink in [(WHITE, BLACK), (DARK_CANVAS, LIGHT_LINE)]:
            img = Image.new("RGB", (500, 500), paper)
            d = ImageDraw.Draw(img)
            crayon(d, (40, 40, 460, 460), colour, 24, rng)
            d.ellipse([150, 150, 350, 350], outline=ink, width=6)
            made[paper] = img
        face = Image.new("RGB", (500, 500), WHITE)
        ImageDraw.Draw(face).ellipse([150, 150, 350, 350], outline=BLACK, width=6)
        face_lines = lines(normalize_sketch(np.asarray(face), 128, STYLE))
        for rgb in [np.asarray(made[WHITE]), photographed(made[WHITE], rng), np.asarray(made[DARK_CANVAS])]:
            got = normalize_drawing(rgb, 128, STYLE)
            [read] = hint_colours(got)
            assert delta_e(read, colour) < 3.0, name
            assert (got.hints[..., 3] > 0).mean() > 0.6
            # the colour reaches past the face, so the frame (set by the lines) is the face's
            assert tolerant_f(lines(got.lines), face_lines, 2.0).f > 0.9


def test_only_colour_and_only_lines():
    colour = rgb_of(CRAYONS["green"])
    only_colour = normalize_drawing(np.asarray(square_drawing(colour, outline=False)), 128, STYLE)
    assert (only_colour.lines == 255).all()
    [read] = hint_colours(only_colour)
    assert tuple(read) == colour
    # framed like a drawing: the colour fills the frame less the margins
    mask = only_colour.hints[..., 3] > 0
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    assert min(rows[0], cols[0], 127 - rows[-1], 127 - cols[-1]) == pytest.approx(STYLE["margin"] * 128, abs=2)
    only_lines = normalize_drawing(np.asarray(square_drawing(None, patch=False)), 128, STYLE)
    assert only_lines.hints is None
    with pytest.raises(BadInput, match="empty sketch"):
        normalize_drawing(np.full((200, 200, 3), 255, np.uint8), 128, STYLE)


@pytest.mark.parametrize("options", [NormalizeOptions(), NormalizeOptions(thin=False), NormalizeOptions(fit=False),
                                     NormalizeOptions(binarize=False)])
def test_crop_and_frame_keep_hints_with_the_lines(options):
    """A red patch inside a black square, drawn small and off-centre: after normalisation the patch is still in
    the middle of the square, whatever was cropped and scaled."""
    small_in_corner = square_drawing(rgb_of(CRAYONS["red"]), canvas=600, place=(380, 40, 540), pen=5)
    got = normalize_drawing(np.asarray(small_in_corner), 128, STYLE, options)
    square = lines(got.lines)
    rows, cols = np.flatnonzero(square.any(1)), np.flatnonzero(square.any(0))
    ys, xs = np.nonzero(got.hints[..., 3])
    # the crayon covered the middle half of the square: so it does after normalisation
    for lo, hi, at in [(rows[0], rows[-1], ys), (cols[0], cols[-1], xs)]:
        side = hi - lo
        assert lo + 0.2 * side <= at.min() and at.max() <= hi - 0.2 * side
        assert (at.min() + at.max()) / 2 == pytest.approx((lo + hi) / 2, abs=0.05 * side + 1)
    if options.fit:
        assert cols[0] == pytest.approx(STYLE["margin"] * 128, abs=2)  # the square filled the frame


def test_colour_beyond_the_lines_comes_along_as_far_as_the_frame():
    """A sky patch outside the drawn lines: framing follows the lines; colour within the frame is kept."""
    img = Image.new("RGB", (500, 500), WHITE)
    d = ImageDraw.Draw(img)
    d.rectangle([150, 150, 350, 350], outline=BLACK, width=6)
    d.rectangle([150, 100, 350, 140], fill=rgb_of(CRAYONS["light blue"]))      # above the square
    got = normalize_drawing(np.asarray(img), 128, {"line_width": 2.0, "margin": 0.3})
    square = lines(got.lines)
    top = np.flatnonzero(square.any(1))[0]
    assert top == pytest.approx(0.3 * 128, abs=2)                              # framed by the lines alone
    ys, _ = np.nonzero(got.hints[..., 3])
    assert ys.max() < top and ys.min() > 0                                     # the sky, above the square


def test_the_coloured_example_drawings_read_back_their_crayons():
    """examples/sketches/colour/ (examples/draw_sketches.py): each drawing's crayons come back as its hints, on
    white paper, a photo of paper and a dark canvas."""
    expected = {1: {"blue", "skin", "yellow", "red"}, 2: {"light blue", "skin", "brown", "green"},
                3: {"skin", "orange", "purple"}, 4: {"yellow", "blue", "pink"}}
    folder = Path(__file__).resolve().parents[1] / "examples" / "sketches" / "colour"
    for i, names in expected.items():
        got = normalize_drawing(load_rgb(folder / f"face_{i}.png"), 128, STYLE)
        read = hint_colours(got)
        assert len(read) == len(names), i
        for name in names:
            assert min(delta_e(c, rgb_of(CRAYONS[name])) for c in read) < 5.0, (i, name)


# ---- simulated hints --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def avatars() -> list[np.ndarray]:
    return [make_avatar(0, i) for i in range(8)]


def test_simulated_hints_are_hint_layers_and_deterministic(avatars):
    photo = avatars[0]
    a = simulate_hints(photo, np.random.default_rng([1, 2, 3]), strokes=5)
    b = simulate_hints(photo, np.random.default_rng([1, 2, 3]), strokes=5)
    c = simulate_hints(photo, np.random.default_rng([1, 2, 4]), strokes=5)
    check_layer(a, photo.shape[:2])
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not simulate_hints(photo, np.random.default_rng(0), strokes=0).any()
    odd = cv2.resize(photo, (200, 150))                           # any size
    check_layer(simulate_hints(odd, np.random.default_rng(0), strokes=3), (150, 200))
    with pytest.raises(BadInput):
        simulate_hints(photo[..., 0], np.random.default_rng(0))


def test_training_distribution_has_a_share_without_hints_and_up_to_twenty_strokes(avatars):
    photo = cv2.resize(avatars[1], (96, 96), interpolation=cv2.INTER_AREA)
    cover = np.array([(simulate_hints(photo, np.random.default_rng(i))[..., 3] > 0).mean() for i in range(200)])
    assert abs((cover == 0).mean() - NO_HINT_SHARE) < 0.08
    few = np.mean([(simulate_hints(photo, np.random.default_rng(i), strokes=1)[..., 3] > 0).mean()
                   for i in range(20)])
    many = np.mean([(simulate_hints(photo, np.random.default_rng(i), strokes=20)[..., 3] > 0).mean()
                    for i in range(20)])
    assert many > 4 * few > 0
    assert cover.max() > few * 4                                    # the distribution reaches many strokes


def test_each_stroke_lies_in_one_region_and_takes_its_colour(avatars):
    """Clipped to one flat region of the photo, coloured with the photo's colour there: a stroke's pixels are
    the stroke's colour in the photo (demo avatars are flat colours with dark outlines)."""
    errors = []
    for i, photo in enumerate(avatars):
        layer = simulate_hints(photo, np.random.default_rng(i), strokes=20)
        strokes = strokes_of(layer)
        assert len(strokes) >= 3                                  # strokes of one colour that touch are one
        for colour, mask in strokes:
            error = deltaE_ciede2000(lab(photo[mask]), lab(colour))
            assert (error < 10.0).mean() > 0.99, (i, colour)        # nothing from a neighbouring region
            errors.append(error)
            assert crayon_colour(colour)                          # only colours a crayon can give
    assert (np.concatenate(errors) < 3.0).mean() > 0.97             # the region's own colour (rims aside)


def _flat_regions(photo: np.ndarray) -> np.ndarray:
    """Labels of the photo's areas of one exact colour (demo avatars are flat colours)."""
    key = photo.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])
    labels = np.zeros(key.shape, np.int32)
    for value in np.unique(key):
        count, parts = cv2.connectedComponents((key == value).astype(np.uint8), connectivity=4)
        labels[parts > 0] = parts[parts > 0] + labels.max()
    return labels


def test_a_child_colours_another_part_with_each_stroke(avatars):
    """Four strokes colour four parts (hair, shirt, background...), not one part four times."""
    distinct = []
    for i, photo in enumerate(avatars):
        regions = _flat_regions(photo)
        layer = simulate_hints(photo, np.random.default_rng(i), strokes=4)
        hit = regions[layer[..., 3] > 0]
        parts, pixels = np.unique(hit, return_counts=True)
        distinct.append(int((pixels > 20).sum()))                 # rims of a neighbouring colour aside
    assert min(distinct) >= 3 and np.mean(distinct) >= 3.75, distinct


def test_strokes_are_crayon_wide_at_any_size(avatars):
    """Broad as a crayon, relative to the picture: a disc 2 % of the side fits almost everywhere in the hints
    (several pixels at 256), one of 10 % does not (strokes and dots, not only filled areas)."""
    for side in (128, 256):
        kept = {}
        for diameter in (0.02, 0.1):
            disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (round(diameter * side),) * 2)
            inside, total = 0, 0
            for i, photo in enumerate(avatars):
                layer = simulate_hints(cv2.resize(photo, (side, side), interpolation=cv2.INTER_AREA),
                                       np.random.default_rng(i), strokes=10)
                mask = (layer[..., 3] > 0).astype(np.uint8)
                inside += int(cv2.morphologyEx(mask, cv2.MORPH_OPEN, disc).sum())
                total += int(mask.sum())
            kept[diameter] = inside / total
        assert kept[0.02] > 0.95 and kept[0.1] < 0.8, (side, kept)


def test_photos_without_crayon_colours_get_no_hints():
    """Black, white and grey cannot come from a crayon (they read as lines or paper), so they are not simulated
    either, unless asked for."""
    photo = np.full((128, 128, 3), 255, np.uint8)
    photo[:, 64:] = (40, 40, 40)
    photo[40:90, 20:50] = (150, 150, 150)
    assert not simulate_hints(photo, np.random.default_rng(0), strokes=10).any()
    anything = simulate_hints(photo, np.random.default_rng(0), strokes=10, chromatic_only=False)
    assert (anything[..., 3] > 0).any()


# ---- colour fidelity scores --------------------------------------------------------------------------------------

def test_hint_colour_error_scores_the_picture_under_the_crayon(avatars):
    photo = avatars[2]
    hints = simulate_hints(photo, np.random.default_rng(5), strokes=8)
    assert hint_colour_error(photo, hints) < 2.0                 # the photo has its own colours
    grey = np.full_like(photo, 128)
    assert hint_colour_error(grey, hints) > 15.0
    assert hint_colour_error(photo, None) is None
    assert hint_colour_error(photo, np.zeros_like(hints)) is None
    with pytest.raises(BadInput):
        hint_colour_error(photo[:100], hints)


def test_region_colour_error_rewards_colour_spread_over_the_region():
    """A red stroke in the middle of a flat region: a picture red over the whole region scores low; one red only
    where the crayon touched (the naive prototype's failure) or another colour scores high."""
    photo = np.full((128, 128, 3), 240, np.uint8)
    photo[20:108, 20:108] = (200, 40, 40)                        # the region
    photo[18:20, 18:110] = photo[108:110, 18:110] = 20             # with outlines
    hints = np.zeros((128, 128, 4), np.uint8)
    hints[55:70, 50:80] = (200, 40, 40, 255)
    assert region_colour_error(photo, photo, hints) < 1.0
    touched_only = np.full_like(photo, 150)
    touched_only[55:70, 50:80] = (200, 40, 40)
    assert region_colour_error(touched_only, photo, hints) > 20.0
    assert hint_colour_error(touched_only, hints) < 1.0           # which the hint error alone cannot see
    blue = photo.copy()
    blue[20:108, 20:108] = (40, 60, 200)
    assert region_colour_error(blue, photo, hints) > 30.0
    assert region_colour_error(photo, photo, None) is None


def test_region_colour_error_on_simulated_hints(avatars):
    for i, photo in enumerate(avatars[:4]):
        hints = simulate_hints(photo, np.random.default_rng(i), strokes=5)
        assert region_colour_error(photo, photo, hints) < 2.0
        assert region_colour_error(np.full_like(photo, 128), photo, hints) > 10.0
