"""Automatic colouring: one colour for each part of a drawing the child left blank, chosen from the theme's photos.

A bare line drawing does not say which skin, hair, shirt or background to paint, and a generator trained with L1
paints their average (mud). A hint model paints clean, committed pictures over crayon colour, so for the parts
without any, icanvas chooses colours and hands the painter an ordinary hint layer: a dab of colour in each blank
part, which the fill (sketch.fill) spreads over the part exactly as it spreads a child's crayon.

The colours come from the theme's training pairs, collected once at training into a `ColourBook` that travels
with the model (colours.safetensors beside the weights; never a download):

- exemplar (the default): each training drawing's layout (the distance to its lines, coarse) and its photo
  flattened over the drawing's own parts. A drawing is laid over each at a few scales and shifts and takes the
  colours of the nearest (a seed picks among the nearest few): each blank region gets the flattened colour at its
  heart, so the regions of one drawing go together (one photo's colours). Where the child coloured parts, the
  exemplars whose colours agree with the child's are preferred.
- palette: every region (the paper between closed lines) of every training drawing, with its place and size and
  its photo's median colour; a blank region takes the colour of the training region nearest in place and size
  (a seed: of one of the nearest few), each region on its own, preferring the drawings that agree with the
  child's crayon.

benchmarks/colouring.py measures both on hand-drawn doodles: exemplar was more realistic on shoes, palette on
the demo's faces, whose skin, hair, shirt and background are drawn independently (docs/colouring.md); the theme
table says which a theme uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file
from scipy import ndimage
from skimage.color import rgb2lab

from icanvas.core.errors import BadInput
from icanvas.core.io import atomic_path
from icanvas.core.themes import THEMES
from icanvas.sketch.fill import Parts, fill_hints, parts_of
from icanvas.sketch.hints import empty_hints
from icanvas.sketch.lines import LINE_LEVEL, ink_of

BOOK_NAME = "colours.safetensors"
METHODS = ("exemplar", "palette")
DEFAULT_METHOD = "exemplar"   # the theme table may choose another for its theme (core.themes.Theme.colouring)
LAYOUT = 32          # side of the layout embedding
REACH = LAYOUT / 4   # distances to the lines are truncated here (a line farther than this is simply absent)
FLAT = 64            # side of a stored flattened photo
NEAREST = 6          # a seed chooses among this many nearest exemplars or parts
SHORTLIST = 32       # exemplars nearest as the drawing lies, tried at every placement
DAB = 0.04           # radius of a chosen colour's dab, as a share of the side (at most the part's depth)
SCALES = (0.8, 0.9, 1.0, 1.12)   # placements of a drawing over an exemplar: scale about the centre,
SHIFTS = (-0.12, -0.06, 0.0, 0.06, 0.12)   # and shifts as a share of the side
COLOUR_WEIGHT = 1.0  # exemplar ranking: chamfer cost (over its median) + this x disagreement with the child
AGREE = 20.0         # palette: a training region agrees with the child's crayon within this CIEDE76
DISAGREE = 0.5       # ... and the other drawings' regions count as this much farther
PLACE_WEIGHTS = np.array([1.0, 1.0, 1.0, 2.0], np.float32)   # palette: a region at the frame takes one from there


@dataclass(frozen=True)
class ColourBook:
    """What a theme's training pairs say about colour (see the module docstring)."""

    layouts: np.ndarray        # N x LAYOUT^2 float32
    pictures: np.ndarray       # N x FLAT x FLAT x 3 uint8: each photo flattened over its drawing's parts
    part_places: np.ndarray    # M x 4 float32, every region of every drawing: centre y, centre x,
                               # sqrt(area share), touches the frame
    part_colours: np.ndarray   # M x 3 uint8: the photo's median over each
    part_owners: np.ndarray    # M int32: the training drawing each region is of (0..N-1)
    method: str = DEFAULT_METHOD

    def __len__(self) -> int:
        return len(self.layouts)

    def save(self, path: Path) -> Path:
        """Write the book as safetensors (plain arrays, nothing to unpickle), atomically."""
        tensors = {"layouts": self.layouts, "pictures": self.pictures, "part_places": self.part_places,
                   "part_colours": self.part_colours, "part_owners": self.part_owners}
        with atomic_path(Path(path), durable=True) as tmp:
            save_file(tensors, str(tmp), metadata={"method": self.method, "layout": str(LAYOUT),
                                                  "flat": str(FLAT)})
        return Path(path)

    @classmethod
    def load(cls, path: Path, method: str | None = None) -> "ColourBook":
        """A saved book, checked; BadInput naming the file and what is wrong (a missing, truncated or foreign
        file is never half-trusted)."""
        path = Path(path)
        if not path.is_file():
            raise BadInput(f"{path}: the model's colour data is missing (run with --no-auto-colour, or reinstall "
                           "the model)")
        try:
            arrays = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise BadInput(f"{path}: unreadable colour data ({exc})") from None
        shapes = {"layouts": (None, LAYOUT * LAYOUT), "pictures": (None, FLAT, FLAT, 3),
                  "part_places": (None, 4), "part_colours": (None, 3), "part_owners": (None,)}
        for name, shape in shapes.items():
            a = arrays.get(name)
            if a is None or a.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, a.shape)):
                raise BadInput(f"{path}: unreadable colour data ({name}: expected shape {shape}, "
                               f"got {None if a is None else a.shape})")
        n, m = len(arrays["layouts"]), len(arrays["part_places"])
        owners = arrays["part_owners"]
        if n == 0 or len(arrays["pictures"]) != n or m == 0 or len(arrays["part_colours"]) != m \
                or len(owners) != m or owners.min() < 0 or owners.max() >= n:
            raise BadInput(f"{path}: unreadable colour data (inconsistent or empty tables)")
        method = method or DEFAULT_METHOD
        if method not in METHODS:
            raise BadInput(f"colouring method '{method}': choose one of {', '.join(METHODS)}")
        return cls(arrays["layouts"].astype(np.float32), arrays["pictures"].astype(np.uint8),
                   arrays["part_places"].astype(np.float32), arrays["part_colours"].astype(np.uint8),
                   owners.astype(np.int32), method)


def method_for(theme: str) -> str:
    """The colouring a theme's models use (core.themes.Theme.colouring; DEFAULT_METHOD for other themes)."""
    return THEMES[theme].colouring if theme in THEMES else DEFAULT_METHOD


# ---- what a drawing looks like to the book --------------------------------------------------------------------

def _ink(lines: np.ndarray) -> np.ndarray:
    return (ink_of(lines) > LINE_LEVEL).astype(np.float32)


def _layouts_of_inks(inks: Iterable[np.ndarray]) -> np.ndarray:
    """The layouts (K x LAYOUT^2) of ink maps (float, 1 = line): see layout_of. No ink: all 1 (no line near)."""
    out = []
    for ink in inks:
        paper = (cv2.resize(ink, (LAYOUT, LAYOUT), interpolation=cv2.INTER_AREA) <= 0.05).astype(np.uint8)
        out.append(cv2.distanceTransform(paper, cv2.DIST_L2, 3) if not paper.all() else np.full_like(paper, REACH,
                                                                                                  np.float32))
    return (np.minimum(np.stack(out), REACH) / REACH).reshape(len(out), -1).astype(np.float32)


def layout_of(lines: np.ndarray) -> np.ndarray:
    """The layout embedding of a drawing (HxW uint8, 255 paper): the distance to its lines on a LAYOUT grid,
    truncated at REACH and scaled to 0..1 (LAYOUT^2 float32). Two drawings with lines in the same places are near,
    whatever the lines' width or faintness."""
    return _layouts_of_inks([_ink(lines)])[0]


def part_places(parts: np.ndarray, count: int) -> np.ndarray:
    """For parts 1..count of a label image: centre y and x (0..1), sqrt of the area share, touches the frame."""
    h, w = parts.shape
    index = np.arange(1, count + 1)
    area = ndimage.sum_labels(np.ones_like(parts), parts, index)
    ys, xs = np.mgrid[0:h, 0:w]
    cy = ndimage.sum_labels(ys, parts, index) / np.maximum(area, 1) / max(h - 1, 1)
    cx = ndimage.sum_labels(xs, parts, index) / np.maximum(area, 1) / max(w - 1, 1)
    frame = np.zeros(count + 1, bool)
    frame[np.unique(np.concatenate([parts[[0, -1], :].ravel(), parts[:, [0, -1]].ravel()]))] = True
    return np.stack([cy, cx, np.sqrt(area / (h * w)), frame[index]], 1).astype(np.float32)


def _medians(photo: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """The photo's median colour over each of labels 1..count (count x 3 uint8)."""
    index = np.arange(1, count + 1)
    colours = np.stack([ndimage.median(photo[..., c], labels, index) for c in range(3)], 1)
    return np.clip(np.round(colours), 0, 255).astype(np.uint8).reshape(count, 3)


def _flatten(photo: np.ndarray, parts: np.ndarray, count: int) -> np.ndarray:
    """The photo with each part its median colour and each line pixel its nearest part's."""
    _, nearest = ndimage.distance_transform_edt(parts == 0, return_indices=True)
    return _medians(photo, parts, count)[parts[nearest[0], nearest[1]] - 1]


def build_colour_book(pairs: Iterable[tuple[np.ndarray, np.ndarray]], size: int) -> ColourBook:
    """A book from training pairs (sketch HxW uint8 255 paper, photo HxWx3 uint8), read at the model size."""
    layouts, pictures, places, colours, owners = [], [], [], [], []
    for sketch, photo in pairs:
        sketch = cv2.resize(sketch, (size, size), interpolation=cv2.INTER_AREA)
        photo = cv2.resize(np.ascontiguousarray(photo[..., :3]), (size, size), interpolation=cv2.INTER_AREA)
        found = parts_of(sketch)
        parts, count = found.labels, found.count
        if count == 0:
            continue
        flat = _flatten(photo, parts, count)
        layouts.append(layout_of(sketch))
        pictures.append(cv2.resize(flat, (FLAT, FLAT), interpolation=cv2.INTER_NEAREST))
        regions, region_count = ndimage.label(found.paper)
        places.append(part_places(regions, region_count))
        colours.append(_medians(photo, regions, region_count))
        owners.append(np.full(region_count, len(layouts) - 1, np.int32))
    if not layouts:
        raise BadInput("no training pair has a part to take colour from (blank drawings?)")
    return ColourBook(np.stack(layouts), np.stack(pictures), np.concatenate(places), np.concatenate(colours),
                      np.concatenate(owners))


# ---- choosing colours -----------------------------------------------------------------------------------------

def _hearts(regions: np.ndarray, count: int, picture: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """For regions 1..count: the colour of `picture` (same HxW, flat colours) at the heart of each (count x 3):
    the mode with each pixel weighted by the square of its depth in the region, so that the middle of a face
    decides its colour, not the exemplar's hair along its rim where the layouts differ."""
    codes = (picture[..., 0].astype(np.int64) << 16) | (picture[..., 1].astype(np.int64) << 8) | picture[..., 2]
    values, inverse = np.unique(codes.ravel(), return_inverse=True)
    k = len(values)
    votes = np.bincount(regions.ravel() * k + inverse.ravel(), weights=(depth ** 2).ravel(),
                        minlength=(count + 1) * k).reshape(count + 1, k)
    best = values[votes[1:].argmax(1)]
    return np.stack([(best >> 16) & 255, (best >> 8) & 255, best & 255], 1).astype(np.uint8)


def _placements(side: int) -> list[np.ndarray]:
    """Where a drawing may sit over an exemplar: 2x3 affine maps from the drawing's pixels to the exemplar's
    (a child draws the head smaller or higher than the photos have it)."""
    c = (side - 1) / 2
    return [np.float32([[s, 0, c - s * c + dx * side], [0, s, c - s * c + dy * side]])
            for s, dy, dx in sorted(((s, dy, dx) for s in SCALES for dy in SHIFTS for dx in SHIFTS[1:-1]),
                                    key=lambda p: (p != (1.0, 0.0, 0.0)))]    # as the drawing lies, first


def _alignments(book: ColourBook, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(chamfer cost of each exemplar at its best placement, N; that placement's index, N). The cost is the mean
    distance from the drawing's lines to the exemplar's plus half the reverse: the drawing's few lines should lie
    on the photo's, which may have more. Every exemplar is scored as the drawing lies; the SHORTLIST nearest then
    at every placement (the rest keep their first cost, placement 0: as the drawing lies)."""
    ink = cv2.resize(_ink(lines), (2 * LAYOUT, 2 * LAYOUT), interpolation=cv2.INTER_AREA)
    placements = _placements(2 * LAYOUT)
    ours = _layouts_of_inks(cv2.warpAffine(ink, a, ink.shape[::-1], flags=cv2.INTER_LINEAR)
                            for a in placements)                                        # P x L
    cost = _chamfer(ours[:1], book.layouts)[0]
    best = np.zeros(len(cost), np.int64)
    shortlist = np.argsort(cost)[:SHORTLIST]
    costs = _chamfer(ours, book.layouts[shortlist])                                     # P x S
    best[shortlist] = costs.argmin(0)
    cost[shortlist] = costs.min(0)
    return cost, best


def _chamfer(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Chamfer costs (P x N) between layouts (P x L, N x L; 0 on a line)."""
    ours_ink, theirs_ink = (ours == 0).astype(np.float32), (theirs == 0).astype(np.float32)
    forward = (ours_ink @ theirs.T) / np.maximum(ours_ink.sum(1, keepdims=True), 1)
    backward = (ours @ theirs_ink.T) / np.maximum(theirs_ink.sum(1)[None], 1)
    return forward + 0.5 * backward


def _pick(order: np.ndarray, seed: int | None) -> int:
    """The nearest for no seed; else one of the NEAREST nearest, the same for the same seed."""
    if seed is None:
        return int(order[0])
    return int(np.random.default_rng([seed, 77]).choice(order[:NEAREST]))


def _exemplar_colours(book: ColourBook, lines: np.ndarray, regions: np.ndarray, count: int, depth: np.ndarray,
                      hints: np.ndarray | None, seed: int | None) -> np.ndarray:
    h, w = lines.shape
    cost, placement = _alignments(book, lines)
    cost = cost / max(float(np.median(cost)), 1e-6)
    placements = _placements(w)

    def picture(k: int) -> np.ndarray:   # exemplar k's flattened photo under the drawing, as placed
        big = cv2.resize(book.pictures[k], (w, h), interpolation=cv2.INTER_NEAREST)
        return cv2.warpAffine(big, placements[placement[k]], (w, h),
                              flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)

    mask = hints[..., 3] > 127 if hints is not None else None
    if mask is not None and mask.any():   # prefer exemplars that agree with the child's colours where given
        shortlist = np.argsort(cost)[:4 * NEAREST]
        child = rgb2lab(hints[..., :3][mask][None].astype(np.float32) / 255.0)[0]
        disagreement = [np.median(np.linalg.norm(
            child - rgb2lab(picture(k)[mask][None].astype(np.float32) / 255.0)[0], axis=1)) / 100.0
            for k in shortlist]
        order = shortlist[np.argsort(cost[shortlist] + COLOUR_WEIGHT * np.asarray(disagreement))]
    else:
        order = np.argsort(cost)
    return _hearts(regions, count, picture(_pick(order, seed)), depth)


def _palette_colours(book: ColourBook, regions: np.ndarray, blank: np.ndarray, count: int,
                     hints: np.ndarray | None, seed: int | None) -> np.ndarray:
    distances = np.abs(book.part_places[None] - part_places(blank, count)[:, None]) @ PLACE_WEIGHTS   # count x M
    # where the child coloured, prefer the training drawings whose region there had the child's colour
    mask = (hints[..., 3] > 127) & (regions > 0) if hints is not None else None
    if mask is not None and mask.any():
        ids = np.unique(regions[mask])
        coloured = np.where(np.isin(regions, ids), np.searchsorted(ids, regions) + 1, 0)   # labelled 1..K
        crayon = np.where(mask, coloured, 0)
        agree = np.zeros(len(book), bool)
        for where, colour in zip(part_places(coloured, len(ids)), _medians(hints[..., :3], crayon, len(ids))):
            near = _nearest(np.abs(book.part_places - where) @ PLACE_WEIGHTS, 8 * NEAREST)
            lab = rgb2lab(np.concatenate([colour[None], book.part_colours[near]])[None] / 255.0)[0]
            agree[book.part_owners[near[np.linalg.norm(lab[1:] - lab[0], axis=1) < AGREE]]] = True
        if agree.any():
            distances = distances + np.where(agree[book.part_owners], 0.0, DISAGREE)[None]
    out = np.zeros((count, 3), np.uint8)
    for i, order in enumerate(_nearest(distances, NEAREST)):
        out[i] = book.part_colours[_pick(order, None if seed is None else seed * 1000 + i)]
    return out


def _nearest(distances: np.ndarray, k: int) -> np.ndarray:
    """The indices of the k smallest distances along the last axis, nearest first, without sorting the whole book
    (a scribble has scores of small loops, each looked up)."""
    k = min(k, distances.shape[-1])
    near = np.argpartition(distances, k - 1, axis=-1)[..., :k]
    return np.take_along_axis(near, np.take_along_axis(distances, near, -1).argsort(-1, kind="stable"), -1)


def auto_colour(lines: np.ndarray, book: ColourBook, hints: np.ndarray | None = None,
                seed: int | None = None) -> np.ndarray:
    """Colours for the blank parts of a drawing (HxW uint8, 255 paper), as a hint layer (HxWx4 uint8) of dabs
    that the fill spreads as it spreads a child's crayon.

    One colour per region (the paper between closed lines: a face, a shirt, the background), so a face the fill
    splits at a neck is still one skin; a dab of it in each of the region's parts (sketch.fill.parts_of) that
    the child's crayon (`hints`, a hint layer of the same size) does not colour: the parts its fill covers keep
    the child's colour (a background coloured in one corner is the child's blue all round), and the colours
    chosen for the rest go with it. seed None: the one best colouring; an integer:
    one of several plausible ones, the same for the same seed. A drawing with no paper between its lines, or
    coloured all over, gets an empty layer."""
    h, w = lines.shape
    layer = empty_hints(h, w)
    found = parts_of(lines)
    parts, count = found.labels, found.count
    if count == 0:
        return layer
    given = np.zeros(count + 1, bool)
    if hints is not None and (hints[..., 3] > 127).any():   # the parts mostly under the child's crayon or its fill
        covered = (fill_hints(lines, hints)[..., 3] > 127) | (hints[..., 3] > 127)
        share = ndimage.mean(covered, parts, np.arange(1, count + 1))
        given[1:] = share > 0.5
        given[np.unique(parts[hints[..., 3] > 127])] = True
    if given[1:].all():
        return layer
    regions, region_count = ndimage.label(found.paper)
    blank = np.where(given[parts], 0, regions)   # what is left to colour, region by region
    depth = found.distance
    if book.method == "palette":
        colours = _palette_colours(book, regions, blank, region_count, hints, seed)
    else:
        colours = _exemplar_colours(book, lines, blank, region_count, depth, hints, seed)
    return _dabs(found, regions, colours, given)


def _dabs(found: Parts, regions: np.ndarray, colours: np.ndarray, given: np.ndarray) -> np.ndarray:
    """A hint layer: a dab of its region's colour (colours: one per region 1.., count x 3) at the deepest point
    of each part not `given` (bool per part label), as wide as the part allows."""
    h, w = regions.shape
    layer = empty_hints(h, w)
    parts, depth = found.labels, found.distance
    radius_cap = max(1.0, DAB * min(h, w))
    for i, (y, x) in enumerate(ndimage.maximum_position(depth, parts, np.arange(1, found.count + 1))):
        if given[i + 1]:
            continue
        reach = int(radius_cap) + 1
        window = (slice(max(0, y - reach), min(h, y + reach + 1)), slice(max(0, x - reach), min(w, x + reach + 1)))
        yy, xx = np.ogrid[window[0], window[1]]
        radius = max(1.0, min(depth[y, x] - 1.0, radius_cap))
        dab = ((yy - y) ** 2 + (xx - x) ** 2 <= radius ** 2) & (parts[window] == i + 1)
        layer[window][dab] = (*colours[regions[y, x] - 1], 255)
    return layer


def photo_colouring(lines: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """The colouring a drawing (HxW uint8, 255 paper) would get from its own photo (HxWx3 uint8, the same size):
    each region the photo's median colour over it, as dabs like auto_colour's. Training shows it to a hint model
    (pix2pix.dataset) as the kind of colouring auto_colour hands it for a line drawing."""
    found = parts_of(lines)
    if found.count == 0:
        return empty_hints(*lines.shape)
    regions, count = ndimage.label(found.paper)
    return _dabs(found, regions, _medians(photo, regions, count), np.zeros(found.count + 1, bool))
