"""The pix2pix authors' post-processing of HED maps (scripts/edges/PostprocessHED.m), step by step, without MATLAB.

    E = imresize(E, [size size])                          resize_map       (bicubic, antialiased when shrinking)
    [Ox, Oy] = gradient(convTri(E, 4)) ...                orientation      (convTri + MATLAB gradient, twice)
    E = edgesNmsMex(E, O, 1, 5, 1.01)                     edge_nms         (pdollar/edges)
    E = E >= max(eps, threshold)                          threshold_map
    E = bwmorph(E, 'thin', inf)                           thin
    E = bwareaopen(E, small_edge)                         remove_small_edges (8-connected)
    uint8((1 - E) * 255)                                  to_drawing

One step of icanvas's own, off unless asked for (`edges --merge-twins`): merge_twins, after bwareaopen.

Every function takes and returns plain arrays (float32 maps in [0, 1], boolean masks) and is vectorised. NMS and
thinning look only at the pixels that can matter (those over the threshold; those set): the same result as looking
at every pixel, 2.4x faster in all, which counts now that HED runs in bf16 (docs/edges.md#speed).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from icanvas.core.images import save_png

MATLAB_EPS = float(np.finfo(np.float64).eps)  # MATLAB's eps, the floor of the threshold


# --- 1. imresize ------------------------------------------------------------------------------------------------

def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic kernel with a = -0.5, as MATLAB's imresize."""
    ax = np.abs(x)
    ax2, ax3 = ax ** 2, ax ** 3
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def imresize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """The (n_out, n_in) matrix of MATLAB imresize's 1-D bicubic resampling (antialiased when shrinking,
    symmetric boundary), so that resizing a map is two matrix products."""
    scale = n_out / n_in
    kernel, width = _cubic, 4.0
    if scale < 1:  # antialiasing: stretch the kernel by 1/scale
        kernel, width = (lambda x: scale * _cubic(scale * x)), width / scale
    x = np.arange(1, n_out + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    taps = int(np.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    weights = kernel(u[:, None] - idx)
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(n_in), np.arange(n_in)[::-1]])  # 1-based idx -> symmetric 0-based index
    idx = mirror[np.mod(idx.astype(np.int64) - 1, 2 * n_in)]
    matrix = np.zeros((n_out, n_in))
    np.add.at(matrix, (np.repeat(np.arange(n_out), taps), idx.ravel()), weights.ravel())
    return matrix


def resize_map(edge_map: np.ndarray, size: int) -> np.ndarray:
    """Resize an HxW map to size x size (a square: the aspect is not kept), as MATLAB imresize bicubic."""
    h, w = edge_map.shape
    if (h, w) == (size, size):
        return np.asarray(edge_map, np.float32).copy()
    out = imresize_matrix(h, size) @ np.asarray(edge_map, np.float64) @ imresize_matrix(w, size).T
    return out.astype(np.float32)


# --- 2. orientation ---------------------------------------------------------------------------------------------

def conv_tri(image: np.ndarray, radius: int) -> np.ndarray:
    """pdollar's convTri for an integer radius: separable triangle filter [1 .. r+1 .. 1] / (r+1)^2,
    symmetric padding (the edge pixel repeated, as MATLAB padarray 'symmetric')."""
    f = np.concatenate([np.arange(1, radius + 2), np.arange(radius, 0, -1)]).astype(np.float32) / (radius + 1) ** 2
    out = ndimage.correlate1d(np.asarray(image, np.float32), f, axis=0, mode="reflect")
    return ndimage.correlate1d(out, f, axis=1, mode="reflect")


def matlab_gradient(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB's [Fx, Fy] = gradient(F): central differences inside, one-sided at the borders; x = columns."""
    if min(image.shape) < 2:
        zeros = np.zeros_like(image)
        return zeros, zeros.copy()
    fy, fx = np.gradient(image)
    return fx, fy


def orientation(edge_map: np.ndarray, radius: int = 4) -> np.ndarray:
    """Edge orientation in [0, pi) from second derivatives of the smoothed map, as PostprocessHED.m."""
    ox, oy = matlab_gradient(conv_tri(edge_map, radius))
    oxx, _ = matlab_gradient(ox)
    oxy, oyy = matlab_gradient(oy)
    with np.errstate(divide="ignore", invalid="ignore"):
        o = np.mod(np.arctan(oyy * np.sign(-oxy) / (oxx + np.float32(1e-5))), np.pi)
    return np.nan_to_num(o, nan=0.0).astype(np.float32)


# --- 3. non-maximum suppression ---------------------------------------------------------------------------------

def _interp(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """edgesNmsMex's interp: bilinear sample at (x = column, y = row), coordinates clamped into the image."""
    h, w = image.shape
    x = np.clip(x, 0, w - 1.001).astype(np.float32)
    y = np.clip(y, 0, h - 1.001).astype(np.float32)
    x0, y0 = x.astype(np.int64), y.astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)  # the min only matters for 1-px-wide maps
    dx0, dy0 = x - x0, y - y0
    dx1, dy1 = 1 - dx0, 1 - dy0
    return (image[y0, x0] * dx1 * dy1 + image[y0, x1] * dx0 * dy1
            + image[y1, x0] * dx1 * dy0 + image[y1, x1] * dx0 * dy0)


def _border_ramp(n: int, s: int) -> np.ndarray:
    """Weights 0, 1/s, ..., (s-1)/s at both ends of a length-n axis, 1 in between."""
    ramp = np.ones(n, np.float32)
    if s > 0:
        k = np.arange(s)
        ramp[k] *= k / np.float32(s)
        ramp[n - 1 - k] *= k / np.float32(s)
    return ramp


def edge_nms(edge_map: np.ndarray, orient: np.ndarray, r: int = 1, s: int = 5, m: float = 1.01,
             floor: float = 0.0) -> np.ndarray:
    """edgesNmsMex(E, O, r, s, m): keep a pixel only if m * e is not below E sampled at +-1..r along its
    orientation; then fade edges linearly within s px of the image border. Pixels whose faded value is below
    `floor` come out 0 unexamined (postprocess passes its threshold: it would drop them anyway)."""
    e0 = np.asarray(edge_map, np.float32)
    h, w = e0.shape
    s = min(s, w // 2, h // 2)
    faded = e0 * _border_ramp(h, s)[:, None] * _border_ramp(w, s)[None, :]
    candidates = e0 != 0
    if floor > 0:
        candidates &= faded >= floor
    rows, cols = np.nonzero(candidates)
    o = np.asarray(orient)[rows, cols]
    cos_o, sin_o = np.cos(o).astype(np.float32), np.sin(o).astype(np.float32)
    y, x = rows.astype(np.float32), cols.astype(np.float32)
    scaled = e0[rows, cols] * np.float32(m)
    keep = np.ones(len(rows), bool)
    for d in [d for d in range(-r, r + 1) if d]:  # 2r samples, each one vectorised step over the candidates
        keep &= ~(scaled < _interp(e0, x + d * cos_o, y + d * sin_o))
    out = np.zeros_like(e0)
    out[rows[keep], cols[keep]] = faded[rows[keep], cols[keep]]
    return out


# --- 4. binary clean-up -----------------------------------------------------------------------------------------

def threshold_map(edge_map: np.ndarray, threshold: float) -> np.ndarray:
    """E >= max(eps, threshold) as a boolean mask."""
    return np.asarray(edge_map) >= max(MATLAB_EPS, threshold)


def _thin_tables() -> tuple[np.ndarray, np.ndarray]:
    """Guo & Hall's deletion conditions (G1, G2, G3 / G3' in Lam, Lee & Suen 1992) for the two sub-iterations,
    as tables over the 256 neighbourhood codes: bit i of a code is neighbour x(i+1), counter-clockwise from east."""
    bits = (np.arange(256)[:, None] >> np.arange(8)) & 1 == 1

    def x(i: int) -> np.ndarray:  # neighbour x(i), 1-based and cyclic, for every code
        return bits[:, (i - 1) % 8]

    g1 = sum((~x(2 * i - 1) & (x(2 * i) | x(2 * i + 1))).astype(int) for i in range(1, 5)) == 1
    n1 = sum((x(2 * k - 1) | x(2 * k)).astype(int) for k in range(1, 5))
    n2 = sum((x(2 * k) | x(2 * k + 1)).astype(int) for k in range(1, 5))
    g2 = np.isin(np.minimum(n1, n2), (2, 3))
    g3 = ~((x(2) | x(3) | ~x(8)) & x(1))
    g3p = ~((x(6) | x(7) | ~x(4)) & x(5))
    return g1 & g2 & g3, g1 & g2 & g3p


THIN_TABLES = _thin_tables()
# (row, column, code bit) of the eight neighbours x1..x8: east, north-east, north, ..., south-east
NEIGHBOURS = ((0, 1, 1), (-1, 1, 2), (-1, 0, 4), (-1, -1, 8), (0, -1, 16), (1, -1, 32), (1, 0, 64), (1, 1, 128))


def thin(mask: np.ndarray) -> np.ndarray:
    """bwmorph(mask, 'thin', inf): Guo & Hall's two sub-iterations, repeated until nothing changes, as MATLAB and
    scikit-image's thin; only set pixels are looked at (each sub-iteration decides from the image before it)."""
    h, w = mask.shape
    img = np.zeros((h + 2, w + 2), np.uint8)  # a zero frame: outside pixels count as unset
    img[1:-1, 1:-1] = mask
    rows, cols = np.nonzero(img)
    changed = True
    while changed:
        changed = False
        for table in THIN_TABLES:
            code = np.zeros(len(rows), np.uint8)
            for dr, dc, bit in NEIGHBOURS:
                code |= img[rows + dr, cols + dc] * np.uint8(bit)
            drop = table[code]
            if drop.any():
                img[rows[drop], cols[drop]] = 0
                rows, cols, changed = rows[~drop], cols[~drop], True
    return img[1:-1, 1:-1].astype(bool)


def remove_small_edges(mask: np.ndarray, min_edge: int) -> np.ndarray:
    """bwareaopen(mask, min_edge): drop 8-connected components with fewer than min_edge pixels."""
    if min_edge <= 1 or not mask.any():
        return mask.copy()
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    sizes = np.bincount(labels.ravel())
    big = sizes >= min_edge
    big[0] = False
    return big[labels]


def merge_twins(mask: np.ndarray, radius: int) -> np.ndarray:
    """Lines less than about 2 x radius apart become one centre line (a closing with a disc, then its skeleton).
    HED draws both sides of a thick inked outline; a child draws it as one stroke, and so should the training
    sketches of themes drawn in ink (docs/sketch-gap.md)."""
    if radius <= 0 or not mask.any():
        return mask
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return skeletonize(cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, disc) > 0)


def to_drawing(mask: np.ndarray) -> np.ndarray:
    """Boolean edge mask to the drawing convention: 0 = line, 255 = paper, uint8."""
    return np.where(mask, 0, 255).astype(np.uint8)


def map_to_gray(edge_map: np.ndarray) -> np.ndarray:
    """A soft map (1 = edge) as an 8-bit picture in the same convention (dark = edge), for --raw."""
    return np.round((1 - np.clip(edge_map, 0, 1)) * 255).astype(np.uint8)


def postprocess(edge_map: np.ndarray, *, size: int, threshold: float, min_edge: int,
                nms: bool = True, thinning: bool = True, raw: bool = False, twins: int = 0) -> np.ndarray:
    """A fused HED map (HxW, 1 = edge) to a size x size drawing, running the steps above in the authors' order
    (and merge_twins with radius `twins` px at the end, where asked)."""
    e = resize_map(edge_map, size)
    if raw:
        return map_to_gray(e)
    if nms:
        e = edge_nms(e, orientation(e), floor=max(MATLAB_EPS, threshold))
    mask = threshold_map(e, threshold)
    if thinning:
        mask = thin(mask)
    mask = remove_small_edges(mask, min_edge)
    if twins:
        mask = remove_small_edges(merge_twins(mask, twins), min_edge)
    return to_drawing(mask)


def finish_one(edge_map: np.ndarray, dst: str, options: dict) -> None:
    """postprocess(edge_map, **options), written atomically as PNG to dst (what a pipeline worker runs;
    this module imports no torch, so workers start fast)."""
    save_png(postprocess(edge_map, **options), Path(dst))
