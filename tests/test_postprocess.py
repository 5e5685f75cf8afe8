"""Each post-processing step of PostprocessHED.m, on small arrays whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from icanvas.edges import postprocess as pp


def blurred_line(shape=(40, 40), axis=1, at=20, sigma=1.2) -> np.ndarray:
    """A soft straight edge: a 1-px line blurred, scaled to a peak of 0.9."""
    img = np.zeros(shape, np.float32)
    if axis == 1:
        img[:, at] = 1
    else:
        img[at, :] = 1
    img = gaussian_filter(img, sigma, mode="nearest")
    return (img / img.max() * 0.9).astype(np.float32)


# --- imresize -----------------------------------------------------------------------------------------------

def test_resize_to_the_same_size_is_the_identity():
    m = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    np.testing.assert_array_equal(pp.resize_map(m, 32), m)


def test_resize_matrix_rows_sum_to_one_and_keep_linear_ramps():
    for n_in, n_out in [(8, 4), (8, 16), (300, 256), (5, 256)]:
        w = pp.imresize_matrix(n_in, n_out)
        np.testing.assert_allclose(w.sum(axis=1), 1, atol=1e-12)
    # Bicubic reproduces a linear ramp away from the border, at MATLAB's pixel-centre mapping
    # u = x / scale + (1 - 1 / scale) / 2 (1-based): shrinking 1..40 by 2 samples at 1.5, 3.5, 5.5, ...
    ramp = np.arange(1, 41, dtype=np.float64)
    np.testing.assert_allclose((pp.imresize_matrix(40, 20) @ ramp)[3:17], np.arange(3, 17) * 2 + 1.5, atol=1e-9)
    np.testing.assert_allclose((pp.imresize_matrix(40, 80) @ ramp)[3:76], np.arange(4, 77) / 2 + 0.25, atol=1e-9)


def test_resize_matches_an_independent_antialiased_bicubic_inside_the_image():
    # Pillow's bicubic is the same kernel (a = -0.5), stretched when shrinking; only the border handling differs.
    m = np.random.default_rng(1).random((120, 90)).astype(np.float32)
    ours = pp.resize_map(m, 64)
    theirs = np.asarray(Image.fromarray(m, "F").resize((64, 64), Image.Resampling.BICUBIC))
    np.testing.assert_allclose(ours[4:-4, 4:-4], theirs[4:-4, 4:-4], atol=1e-4)


# --- orientation ------------------------------------------------------------------------------------------

def test_conv_tri_is_the_triangle_filter_with_symmetric_padding():
    img = np.random.default_rng(2).random((15, 17)).astype(np.float32)
    f = np.array([1, 2, 3, 4, 5, 4, 3, 2, 1], np.float64) / 25
    padded = np.pad(img.astype(np.float64), 4, mode="symmetric")
    kernel = np.outer(f, f)
    direct = np.array([[(padded[i:i + 9, j:j + 9] * kernel).sum() for j in range(17)] for i in range(15)])
    np.testing.assert_allclose(pp.conv_tri(img, 4), direct, atol=1e-6)


def test_matlab_gradient_is_central_inside_and_one_sided_at_borders():
    f = np.array([[1, 2, 4], [2, 5, 9]], np.float32)
    fx, fy = pp.matlab_gradient(f)
    np.testing.assert_allclose(fx, [[1, 1.5, 2], [3, 3.5, 4]])
    np.testing.assert_allclose(fy, [[1, 3, 5], [1, 3, 5]])


@pytest.mark.parametrize("normal", [0.05, 0.5, np.pi / 2 + 0.05, 2.0, 3.0])
def test_orientation_points_across_the_line(normal):
    yy, xx = np.mgrid[:40, :40] - 19.5
    soft = np.exp(-((xx * np.cos(normal) + yy * np.sin(normal)) ** 2) / 3).astype(np.float32)
    o = pp.orientation(soft)
    on_line = o[np.abs(xx * np.cos(normal) + yy * np.sin(normal)) < 0.5]
    on_line = on_line[: len(on_line) // 2 + 8][-16:]  # around the centre, away from the image border
    # on a ridge with normal n the Hessian is about -k n n^T, so the authors' formula gives
    # atan(sign(sin 2t) tan^2 t): exact at 0, 45 and 90 degrees, "very approximate" (pdollar) in between
    expected = np.mod(np.arctan(np.sign(np.sin(2 * normal)) * np.tan(normal) ** 2), np.pi)
    err = np.abs(np.angle(np.exp(2j * (on_line - expected)))) / 2  # angle difference modulo pi
    assert err.max() < 0.03


def test_orientation_of_an_exactly_horizontal_line_is_zero_as_in_matlab():
    # Oxy is exactly 0 there, and MATLAB's sign(0) = 0 makes the formula give 0 (not pi / 2): a quirk of
    # PostprocessHED.m that a faithful port keeps (real photos never give exact zeros)
    o = pp.orientation(blurred_line(axis=0))
    assert (o[20, 10:30] == 0).all()


def test_orientation_of_a_diagonal_line():
    img = gaussian_filter(np.eye(40, dtype=np.float32), 1.2)
    o = pp.orientation(img)[np.arange(12, 28), np.arange(12, 28)]
    np.testing.assert_allclose(o, 3 * np.pi / 4, atol=0.05)  # the normal of y = x is (1, -1)


# --- NMS ------------------------------------------------------------------------------------------------

def test_nms_keeps_the_ridge_of_a_blurred_line_and_nothing_beside_it():
    e = blurred_line()
    out = pp.edge_nms(e, pp.orientation(e))
    inner = out[6:-6]
    assert (inner[:, 20] > 0.8).all()
    assert (np.delete(inner, 20, axis=1) == 0).all()


def test_nms_is_conservative_by_one_percent():
    # two columns 0.5% apart both survive (m = 1.01); 2% apart only the stronger one does
    for ratio, both in [(0.995, True), (0.98, False)]:
        e = np.zeros((20, 20), np.float32)
        e[:, 9], e[:, 10] = 0.5, 0.5 * ratio
        out = pp.edge_nms(e, np.zeros_like(e), s=0)
        assert (out[:, 10] > 0).all() == both and (out[:, 9] > 0).all()


def test_nms_fades_edges_linearly_near_the_image_border():
    e = np.full((20, 20), 0.5, np.float32)  # flat: nothing is suppressed, only the border fade acts
    out = pp.edge_nms(e, np.zeros_like(e), r=1, s=5)
    np.testing.assert_allclose(out[10, :6], 0.5 * np.array([0, 1, 2, 3, 4, 5]) / 5, atol=1e-7)
    np.testing.assert_allclose(out[10, -5:], 0.5 * np.array([4, 3, 2, 1, 0]) / 5, atol=1e-7)
    np.testing.assert_allclose(out[0, 0], 0)
    np.testing.assert_allclose(out[2, 3], 0.5 * 2 / 5 * 3 / 5, atol=1e-7)  # both fades multiply in corners


def test_nms_samples_bilinearly_between_pixels():
    # at 45 degrees the neighbours are interpolated: a pixel beaten by the bilinear mix of its diagonal
    # neighbourhood is suppressed even though every axis neighbour is weaker
    e = np.zeros((9, 9), np.float32)
    e[4, 4] = 0.5
    e[5, 5] = e[5, 4] = e[4, 5] = 0.9
    o = np.full_like(e, np.pi / 4)
    out = pp.edge_nms(e, o, s=0)
    assert out[4, 4] == 0
    o[:] = 3 * np.pi / 4  # across the other diagonal the neighbours are (3,5)/(5,3): 0.5 beats their mix
    e2 = e.copy()
    e2[5, 4] = e2[4, 5] = 0
    assert pp.edge_nms(e2, o, s=0)[4, 4] == 0.5


def test_nms_floor_skips_only_what_the_threshold_drops():
    rng = np.random.default_rng(0)
    e = gaussian_filter(rng.random((60, 70)), 2).astype(np.float32)
    e = (e - e.min()) / (e.max() - e.min())
    o = pp.orientation(e)
    every = pp.edge_nms(e, o)
    for t in (0.3, 0.6):
        floored = pp.edge_nms(e, o, floor=t)
        assert (floored > 0).sum() < (every > 0).sum()
        np.testing.assert_array_equal(pp.threshold_map(floored, t), pp.threshold_map(every, t))


# --- binary steps -----------------------------------------------------------------------------------------

def test_threshold_is_inclusive_with_an_eps_floor():
    e = np.array([[0, 1e-20, 0.1, 0.2, 0.3]], np.float32)
    assert pp.threshold_map(e, 0.2).tolist() == [[False, False, False, True, True]]
    assert pp.threshold_map(e, 0).tolist() == [[False, False, True, True, True]]  # eps: exact zeros never


def test_thin_makes_a_thick_bar_one_pixel_wide_and_is_stable():
    mask = np.zeros((30, 30), bool)
    mask[5:25, 12:17] = True
    t = pp.thin(mask)
    assert t.sum() > 5 and (t.sum(axis=1)[8:22] == 1).all()
    np.testing.assert_array_equal(pp.thin(t), t)


@pytest.mark.parametrize("density", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_thin_equals_scikit_image_thin(density):
    # scikit-image's thin is bwmorph('thin', inf); random masks reach every one of the 256 neighbourhoods
    from skimage.morphology import thin as reference

    mask = np.random.default_rng(int(density * 10)).random((50, 60)) < density
    np.testing.assert_array_equal(pp.thin(mask), reference(mask))


def test_remove_small_edges_counts_8_connected_pixels():
    mask = np.zeros((12, 12), bool)
    mask[1, 1:5] = True                                     # 4 px: removed at min_edge 5
    mask[[5, 6, 7, 8, 9], [1, 2, 3, 4, 5]] = True           # 5 px, diagonal: kept (8-connected)
    out = pp.remove_small_edges(mask, 5)
    assert not out[1].any() and out[[5, 6, 7, 8, 9], [1, 2, 3, 4, 5]].all()
    np.testing.assert_array_equal(pp.remove_small_edges(mask, 0), mask)


def test_to_drawing_is_black_lines_on_white():
    d = pp.to_drawing(np.array([[True, False]]))
    assert d.dtype == np.uint8 and d.tolist() == [[0, 255]]


def test_postprocess_turns_a_soft_ring_into_a_thin_closed_line():
    yy, xx = np.mgrid[:100, :100]
    radius = np.hypot(yy - 50, xx - 50)
    soft = np.exp(-((radius - 30) ** 2) / 8).astype(np.float32) * 0.9
    drawing = pp.postprocess(soft, size=64, threshold=0.2, min_edge=5)
    assert drawing.shape == (64, 64) and set(np.unique(drawing)) <= {0, 255}
    ys, xs = np.nonzero(drawing == 0)
    r = np.hypot(ys - 31.5, xs - 31.5)
    assert len(ys) > 80 and np.abs(r - 30 * 0.64).max() < 1.5       # on the ring, rescaled to 64 px
    assert pp.thin(drawing == 0).sum() == len(ys)                   # already one pixel wide
    raw = pp.postprocess(soft, size=64, threshold=0.2, min_edge=5, raw=True)
    assert raw.min() < 60 and raw.max() == 255 and len(np.unique(raw)) > 10


# --- icanvas's own step -------------------------------------------------------------------------------------

def test_merge_twins_makes_one_centre_line_of_two_close_ones_and_leaves_the_rest():
    """The two sides HED draws of a thick inked outline become one line in the middle; a lone line and lines
    further apart than the radius stay as they are."""
    mask = np.zeros((60, 60), bool)
    mask[10, 5:55] = mask[14, 5:55] = True          # twins, 4 px apart
    mask[30, 5:55] = True                           # a lone line
    mask[44, 5:55] = mask[54, 5:55] = True          # 10 px apart: two lines
    merged = pp.merge_twins(mask, 3)
    rows = np.nonzero(merged[:, 20:40].any(1))[0].tolist()
    assert rows == [12, 30, 44, 54]
    assert merged[12, 10:50].all() and pp.thin(merged).sum() == merged.sum()   # one pixel wide, unbroken
    assert np.array_equal(pp.merge_twins(mask, 0), mask)
    soft = np.zeros((100, 100), np.float32)
    soft[20, 10:90] = soft[25, 10:90] = 0.9
    twins = pp.postprocess(soft, size=100, threshold=0.2, min_edge=5, nms=False, twins=3)
    assert (twins[:, 50] == 0).sum() == 1                                     # through postprocess too
