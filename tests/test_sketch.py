"""Sketch normalisation (inference) and augmentation (training), on real Quick, Draw! doodles rendered the way
users send them, against the style of real pix2pix training edges."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from doodles import blank_photo, light_on_dark, load_doodles, photo_of_paper, render, transparent_png
from PIL import Image, ImageDraw

from icanvas.core.errors import BadInput
from icanvas.core.images import load_rgb
from icanvas.data.pairing import read_pair
from icanvas.eval.fmeasure import tolerant_f
from icanvas.sketch.augment import augment_sketch
from icanvas.sketch.lines import LINE_LEVEL, draw_lines, ink_of, line_width_of, margin_of, margins_of, measure_style
from icanvas.sketch.normalize import NormalizeOptions, normalize_drawing, normalize_sketch

STYLE = {"line_width": 2.0, "margin": 0.08}
CATEGORIES = ["cat", "house", "bicycle", "flower", "apple", "bus"]


def lines(sketch: np.ndarray) -> np.ndarray:
    return ink_of(sketch) > LINE_LEVEL


def agree(a: np.ndarray, b: np.ndarray, tol: float = 3.0) -> float:
    return tolerant_f(lines(a), lines(b), tol).f


def framed_like(sketch: np.ndarray, margins: dict, tol: float = 0.02) -> bool:
    """The drawing touches the training margins on one axis (its aspect decides which) and keeps at least
    them on the other."""
    m = margins_of(sketch)
    for fit, free in [(("top", "bottom"), ("left", "right")), (("left", "right"), ("top", "bottom"))]:
        if all(abs(m[k] - margins[k]) <= tol for k in fit) and all(m[k] >= margins[k] - tol for k in free):
            return True
    return False


def rgb(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"))


@pytest.fixture(scope="module")
def doodles(shared_dir):
    return {c: load_doodles(shared_dir / "data" / "quickdraw", c, 3) for c in CATEGORIES}


@pytest.fixture(scope="module")
def shoes_style(shared_dir):
    """The style of real training sketches: the pix2pix authors' edges2shoes edges, at the model size 128."""
    files = sorted((shared_dir / "data" / "edges2shoes_120" / "train").glob("*.jpg"))[:30]
    sketches = [np.asarray(Image.fromarray(read_pair(f)[0]).resize((128, 128), Image.Resampling.BOX))
                for f in files]
    return measure_style(sketches)


def test_measure_style_reads_width_and_margin_of_drawn_lines():
    skeleton = np.zeros((128, 128), bool)
    skeleton[20:108, 40] = skeleton[20, 40:100] = skeleton[107, 40:100] = True   # bbox rows 20..107
    for width in (1.0, 2.0, 3.0):
        style = measure_style([draw_lines(skeleton, width)])
        assert style["line_width"] == pytest.approx(width, rel=0.15)
        expected = {"top": 20 / 128, "bottom": 20 / 128, "left": 40 / 128, "right": 28 / 128}
        assert style["margins"] == pytest.approx(expected, abs=1.5 / 128)
        assert style["margin"] == pytest.approx(20 / 128, abs=1.5 / 128)
    assert measure_style([np.full((64, 64), 255, np.uint8)])["sketches"] == 0


def test_normalized_lines_have_the_training_width_whatever_the_pen(doodles):
    for width_px, canvas in [(2, 256), (9, 600), (24, 1000)]:
        for target in (1.0, 2.5):
            out = normalize_sketch(rgb(render(doodles["cat"][0], canvas, width_px)), 128,
                                   {"line_width": target, "margin": 0.05})
            assert out.shape == (128, 128) and out.dtype == np.uint8
            assert line_width_of(out) == pytest.approx(target, rel=0.2), (width_px, canvas, target)


def test_off_centre_drawing_is_framed_with_the_training_margin(doodles):
    small_in_corner = rgb(render(doodles["house"][0], 800, 6, place=(0.62, 0.05, 0.3)))
    out = normalize_sketch(small_in_corner, 128, STYLE)
    assert margin_of(out) == pytest.approx(STYLE["margin"], abs=0.02)
    assert framed_like(out, dict.fromkeys(["top", "bottom", "left", "right"], STYLE["margin"]))
    mask = lines(out)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    # centred: equal space left/right and top/bottom (within 2 px)
    assert abs(cols[0] - (127 - cols[-1])) <= 2 and abs(rows[0] - (127 - rows[-1])) <= 2
    # the same drawing centred and large gives the same normalised sketch
    centred = normalize_sketch(rgb(render(doodles["house"][0], 800, 6, place=(0.1, 0.1, 0.8))), 128, STYLE)
    assert agree(out, centred) > 0.9


def test_light_lines_on_dark_canvas_are_inverted(doodles):
    strokes = doodles["bicycle"][0]
    normal = normalize_sketch(rgb(render(strokes, 400, 5)), 128, STYLE)
    inverted = normalize_sketch(light_on_dark(strokes, 400, 5), 128, STYLE)
    assert agree(normal, inverted) > 0.9
    assert (inverted == 255).mean() > 0.7                          # paper is white, not the dark canvas
    # the polarity step alone: with it the dark canvas becomes white paper, without it the canvas is all ink
    only_polarity = NormalizeOptions(binarize=False, thin=False, fit=False)
    assert lines(normalize_sketch(light_on_dark(strokes, 400, 5), 128, STYLE, only_polarity)).mean() < 0.2
    no_polarity = NormalizeOptions(polarity=False, binarize=False, thin=False, fit=False)
    assert lines(normalize_sketch(light_on_dark(strokes, 400, 5), 128, STYLE, no_polarity)).mean() > 0.8


def test_transparent_canvas_is_composited_on_white(doodles):
    strokes = doodles["flower"][0]
    from_alpha = normalize_sketch(load_rgb(transparent_png(strokes, 300, 4)), 128, STYLE)
    opaque = normalize_sketch(rgb(render(strokes, 300, 4)), 128, STYLE)
    assert agree(from_alpha, opaque) > 0.95


def test_photo_of_paper_with_uneven_light_binarises_cleanly(doodles):
    rng = np.random.default_rng(0)
    for strokes in doodles["cat"][:2] + doodles["apple"][:1]:
        photo = photo_of_paper(strokes, rng)
        out = normalize_sketch(photo, 128, STYLE)
        clean = normalize_sketch(rgb(render(strokes, 640, 4)), 128, STYLE)
        assert agree(out, clean) > 0.85
        assert lines(out).mean() < 0.15                            # no shadow or paper grain turned into ink
        # without the flat-field + hysteresis step, the dim corner swallows the drawing
        raw = normalize_sketch(photo, 128, STYLE, NormalizeOptions(binarize=False))
        assert agree(raw, clean) < agree(out, clean)


def test_blank_inputs_are_a_clear_error():
    rng = np.random.default_rng(1)
    for blank in [np.full((300, 300, 3), 255, np.uint8), np.full((200, 320, 3), 30, np.uint8), blank_photo(rng)]:
        with pytest.raises(BadInput, match="empty sketch"):
            normalize_sketch(blank, 128, STYLE)


def test_steps_switched_off_keep_the_drawing_as_sent(doodles):
    img = rgb(render(doodles["cat"][1], 256, 10, place=(0.0, 0.0, 1.0)))
    out = normalize_sketch(img, 128, STYLE, NormalizeOptions.off())
    assert out.shape == (128, 128)
    assert line_width_of(out) > 3.0          # thick pen kept: no thinning, no re-drawing
    expected = np.asarray(Image.fromarray(img).convert("L").resize((128, 128), Image.Resampling.BOX), np.float32)
    assert np.abs(out.astype(np.float32) - expected).mean() < 3.0


def test_doodles_as_users_send_them_land_in_the_training_distribution(doodles, shoes_style):
    """Section 5: many categories, pens, canvases, dark mode, transparency and photos -> the width and framing
    of the authors' edges2shoes edges at 128 px."""
    rng = np.random.default_rng(2)
    made = []
    for i, (category, strokes_list) in enumerate(doodles.items()):
        strokes = strokes_list[i % 3]
        made += [rgb(render(strokes, 256 + 150 * i, 2 + 3 * i, place=(0.05 * i, 0.1, 0.9 - 0.1 * i))),
                 light_on_dark(strokes), load_rgb(transparent_png(strokes)), photo_of_paper(strokes, rng)]
    normalized = [normalize_sketch(m, 128, shoes_style) for m in made]
    got = measure_style(normalized)
    assert got["sketches"] == len(made)
    assert got["line_width"] == pytest.approx(shoes_style["line_width"], rel=0.15)
    assert got["margin"] == pytest.approx(shoes_style["margin"], abs=0.02)
    # every single one sits in the frame as the training shoes do, not only the median
    assert all(framed_like(n, shoes_style["margins"]) for n in normalized)


def test_framing_follows_uneven_training_margins(doodles):
    """Training pictures cut at the bottom (the demo avatars' shoulders) with room above: so are the drawings."""
    margins = {"top": 0.12, "bottom": 0.0, "left": 0.1, "right": 0.1}
    out = normalize_sketch(rgb(render(doodles["house"][1], 500, 5)), 128, {"line_width": 1.0, "margins": margins})
    assert framed_like(out, margins, tol=0.025)
    assert margins_of(out)["top"] > 0.1 and margins_of(out)["bottom"] < 0.05


def test_augment_keeps_shape_and_is_reproducible(doodles):
    edges = draw_lines(lines(normalize_sketch(rgb(render(doodles["bus"][0], 256, 2)), 256, {"line_width": 1.0})),
                       1.0)
    a = augment_sketch(edges, np.random.default_rng(7))
    b = augment_sketch(edges, np.random.default_rng(7))
    c = augment_sketch(edges, np.random.default_rng(8))
    assert a.shape == edges.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    blank = np.full((64, 64), 255, np.uint8)
    assert np.array_equal(augment_sketch(blank, np.random.default_rng(0)), blank)


def test_augment_moves_edges_toward_hand_drawings_but_keeps_the_drawing(shared_dir):
    files = sorted((shared_dir / "data" / "edges2shoes_120" / "train").glob("*.jpg"))[:6]
    widths, scores, base = [], [], []
    for k, f in enumerate(files):
        edges = read_pair(f)[0]
        base.append(line_width_of(edges))
        for seed in range(5):
            aug = augment_sketch(edges, np.random.default_rng([k, seed]))
            widths.append(line_width_of(aug))
            scores.append(tolerant_f(lines(aug), lines(edges), 4.0))
    ratio = np.array(widths) / np.median(base)
    assert ratio.min() < 1.1 and ratio.max() > 1.8                 # thin and marker-thick strokes both occur
    assert 0.6 < np.mean([s.f for s in scores]) < 0.99             # changed, but still the same shoe
    # some lose parts, none loses the shoe: measured min recall 0.79 (mean 0.96); with nothing erased or
    # dropped the min is 0.93
    assert 0.6 < min(s.recall for s in scores) < 0.9



def test_the_doodle_recipe_keeps_a_faces_eyes_in_most_drawings():
    """A training face whose eyes the augmentation took away, while its photo keeps them, teaches a model to paint
    eyes where none are drawn (docs/colouring.md): the doodle recipe keeps both eyes in most of its drawings
    (measured 25 of 40; 11 before it kept most details)."""
    face = np.full((256, 256), 255, np.uint8)
    cv2.circle(face, (128, 128), 90, 0, 2)
    for x in (95, 161):
        cv2.circle(face, (x, 105), 8, 0, 2)
    cv2.ellipse(face, (128, 160), (30, 14), 0, 20, 160, 0, 2)
    both_eyes = 0
    for seed in range(40):
        out = augment_sketch(face, np.random.default_rng(seed), "doodle")
        assert (out < 128).sum() > 0.2 * (face < 128).sum()           # the face itself is always there
        both_eyes += all((out[95:116, x - 11:x + 12] < 128).any() for x in (95, 161))
    assert both_eyes > 20


# ---- normalisation with colour (colour hints: tests/test_hints.py) -------------------------------------------

def test_line_drawings_read_the_same_with_colour_hints_on(doodles):
    """Reading colour changes nothing for a drawing without colour: the same lines, no hints, on clean canvases,
    dark canvases and photos of pencil on tinted paper."""
    rng = np.random.default_rng(5)
    for i, category in enumerate(["cat", "bicycle", "bus"]):
        strokes = doodles[category][i]
        for img in [rgb(render(strokes, 300 + 80 * i, 3 + i)), light_on_dark(strokes), photo_of_paper(strokes, rng)]:
            got = normalize_drawing(img, 128, STYLE)
            assert got.hints is None, category
            assert np.array_equal(got.lines, normalize_sketch(img, 128, STYLE)), category


def test_doodles_coloured_with_a_crayon_keep_their_lines(doodles):
    """A crayon scribbled over a doodle (wax over ink: multiplied) is one hint and leaves the doodle's lines as
    they were, framed the same."""
    red = np.array([229, 57, 53], np.float32)
    for category in ("cat", "house", "apple"):
        strokes = doodles[category][0]
        plain = rgb(render(strokes, 500, 6))
        wax = Image.new("L", (500, 500), 0)
        pts = [(150 + 200 * (k % 2), 150 + 14 * k) for k in range(15)]
        ImageDraw.Draw(wax).line(pts, fill=255, width=20, joint="curve")
        cover = np.asarray(wax, np.float32)[..., None] / 255.0
        coloured = (plain * (1 - cover + cover * red / 255.0) + 0.5).astype(np.uint8)
        got = normalize_drawing(coloured, 128, STYLE)
        assert got.hints is not None and (got.hints[..., 3] > 0).mean() > 0.05, category
        assert agree(got.lines, normalize_sketch(plain, 128, STYLE), tol=1.5) > 0.95, category
