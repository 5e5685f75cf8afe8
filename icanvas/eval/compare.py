"""Which checkpoint draws best from hand drawings? The scores, the ranking rule and the selection policy.

Hand-drawn sketches have no photo to compare with, so their score is sketch fidelity: icanvas's own edge
pipeline runs on the generated picture and the tolerant F-measure says how well those edges follow the
normalised input sketch. A guard catches pictures that would score well without being pictures (near-uniform,
grey mush, or a copy of the input lines): they score 0. Held-out pairs (--pairs) add L1, PSNR and SSIM against
the real photo. The report (grid, HTML, JSON) is eval.report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from icanvas.core.errors import BadInput, Failure, IcanvasError, NotFound
from icanvas.core.images import load_rgb
from icanvas.data.pairing import read_pair
from icanvas.eval.colour import hint_colour_error
from icanvas.eval.fmeasure import edge_mask, tolerant_f
from icanvas.eval.realism import RealismScorer
from icanvas.inference.painter import Painter
from icanvas.pix2pix.checkpoints import WEIGHTS_NAME, ModelInfo
from icanvas.sketch.lines import LINE_LEVEL
from icanvas.sketch.normalize import normalize_sketch

RANK_BY = ("both", "fidelity", "realism")
RULES = {
    "both": "score = the mean of sketch fidelity F (mean over the hand-drawn sketches, a degenerate picture counts "
            "0), realism R (when photos are given) and mean SSIM on the held-out pairs (with --pairs)",
    "fidelity": "score = sketch fidelity F alone (mean over the hand-drawn sketches, a degenerate picture counts 0)",
    "realism": "score = realism R alone (KID(sketches) / (KID(sketches) + KID(pictures)), KID to the photos)",
}
TIE = ". Highest score wins; on a tie, the later epoch."
FIDELITY_TOLERANCE = 2.0   # px: an edge of the picture within this distance of a sketch line counts as on it

T = TypeVar("T")
EdgeFn = Callable[[list[np.ndarray]], list[np.ndarray]]   # pictures (HxWx3) -> drawings (HxW uint8, 0 = line)


# ---- which checkpoints --------------------------------------------------------------------------------------

def find_checkpoints(items: Sequence[Path]) -> list[Path]:
    """Weights files for each item: a checkpoint file, an installed model folder, a run folder (all its
    checkpoints/epoch_*.safetensors) or a checkpoints folder; in the order given, epochs ascending."""
    found: dict[Path, None] = {}
    for item in map(Path, items):
        if item.is_file():
            files = [item]
        elif (item / WEIGHTS_NAME).is_file():
            files = [item / WEIGHTS_NAME]
        elif item.is_dir():
            folder = item / "checkpoints" if (item / "checkpoints").is_dir() else item
            files = sorted(folder.glob("epoch_*.safetensors"))
            if not files:
                raise NotFound(f"{item}: no checkpoints (expected a run folder, its checkpoints/ folder, "
                               "a .safetensors file or an installed model folder)")
        else:
            raise NotFound(f"{item}: no such run or checkpoint")
        found.update(dict.fromkeys(files))
    return list(found)


def label_of(path: Path, info: ModelInfo) -> str:
    """A short column name: run/epoch_NNNN, or models/<theme>."""
    if path.name == WEIGHTS_NAME:
        return f"models/{info.theme}"
    return f"{info.run or path.parent.parent.name}/{path.stem}"


# ---- scores -------------------------------------------------------------------------------------------------

def picture_problem(picture: np.ndarray, sketch: np.ndarray) -> str | None:
    """Why a generated picture is degenerate ('uniform', 'grey', 'copy of the input'), or None if it is not.

    uniform: almost no contrast. grey: no colour and little contrast (pix2pix's grey mush). copy: no colour and
    the same lines on the same paper as the normalised sketch (the generator passed its input through)."""
    gray = cv2.cvtColor(np.ascontiguousarray(picture), cv2.COLOR_RGB2GRAY).astype(np.float32)
    chroma = float((picture.max(axis=2).astype(np.float32) - picture.min(axis=2)).mean())
    contrast = float(gray.std())
    if contrast < 8.0:
        return "uniform"
    if chroma < 12.0 and float(np.abs(gray - sketch.astype(np.float32)).mean()) < 16.0:
        return "copy of the input"
    if chroma < 12.0 and contrast < 24.0:
        return "grey"
    return None


@dataclass
class SketchScore:
    name: str
    precision: float
    recall: float
    f: float
    problem: str | None = None


def sketch_fidelity(name: str, picture: np.ndarray, sketch: np.ndarray, picture_edges: np.ndarray) -> SketchScore:
    """How well the picture's edges follow the sketch: tolerant F of edges vs sketch lines; 0 if degenerate."""
    problem = picture_problem(picture, sketch)
    score = tolerant_f(edge_mask(picture_edges), edge_mask(sketch, round(255 * (1 - LINE_LEVEL))),
                       FIDELITY_TOLERANCE)
    if problem:
        return SketchScore(name, score.precision, score.recall, 0.0, problem)
    return SketchScore(name, score.precision, score.recall, score.f)


def photo_scores(picture: np.ndarray, photo: np.ndarray) -> dict[str, float]:
    """L1 (mean absolute difference, 0..1), PSNR (dB) and SSIM of a picture against the real photo."""
    a, b = picture.astype(np.float64), photo.astype(np.float64)
    mse = float(((a - b) ** 2).mean())
    return {"l1": float(np.abs(a - b).mean() / 255.0),
            "psnr": float(10 * np.log10(255.0 ** 2 / mse)) if mse > 0 else 99.0,
            "ssim": float(structural_similarity(picture, photo, channel_axis=2, data_range=255))}


def _read_all(paths: Sequence[Path], read: Callable[[Path], T]) -> tuple[list[T], list[Failure]]:
    """read(path) for every path, read once for all checkpoints; the ones that fail are refused."""
    good, refused = [], []
    for path in paths:
        try:
            good.append(read(path))
        except IcanvasError as exc:
            refused.append(Failure.of(str(path), exc))
    return good, refused


def _sketch(path: Path) -> tuple[str, np.ndarray]:
    rgb = load_rgb(path)
    normalize_sketch(rgb, 64)   # raises BadInput for a blank canvas
    return path.stem, rgb


def load_sketches(paths: Sequence[Path]) -> tuple[list[tuple[str, np.ndarray]], list[Failure]]:
    """Decoded sketches (name, RGB) and the ones refused: unreadable, or no drawing on them."""
    return _read_all(paths, _sketch)


def load_photos(paths: Sequence[Path]) -> tuple[list[np.ndarray], list[Failure]]:
    """Decoded photos (RGB) and the ones refused."""
    return _read_all(paths, load_rgb)


def load_pairs(paths: Sequence[Path]) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[Failure]]:
    """Decoded A|B pairs (sketch, photo) and the ones refused."""
    return _read_all(paths, read_pair)


# ---- one run of the comparison --------------------------------------------------------------------------------

@dataclass
class CheckpointResult:
    label: str
    path: str
    theme: str
    run: str | None
    epoch: int | None
    size: int
    fidelity: float                      # mean F over sketches (degenerate = 0)
    precision: float
    recall: float
    degenerate: int                      # pictures the guard caught
    sketches: list[SketchScore] = field(default_factory=list)
    pairs: dict[str, float] = field(default_factory=dict)   # mean l1, psnr, ssim over the pairs (if any)
    realism: float | None = None         # R (see eval.realism), when photos are given
    kid: float | None = None             # KID of the pictures to the photos
    colour: float | None = None          # mean CIEDE2000 under the crayon, over coloured drawings (hint models)
    score: float = 0.0
    runtime: dict = field(default_factory=dict)   # how the pictures were made: engine, precision, device

    def summary(self) -> dict:
        """The scores without the per-sketch detail (stored with an installed model)."""
        return {k: v for k, v in asdict(self).items() if k not in ("sketches", "path")}


@dataclass
class Comparison:
    results: list[CheckpointResult]      # best first
    sketch_names: list[str]
    inputs: list[np.ndarray]             # the normalised drawings, colour shown (first checkpoint's size, style)
    pictures: dict[str, list[np.ndarray]]  # label -> one picture per sketch
    pairs: int = 0
    rank_by: str = "both"
    photos: dict | None = None           # the photo set realism was measured against: source, count

    @property
    def rule(self) -> str:
        return RULES[self.rank_by] + TIE

    @property
    def winner(self) -> CheckpointResult:
        return self.results[0]


def rank(results: list[CheckpointResult], rank_by: str = "both") -> list[CheckpointResult]:
    """Apply RULES[rank_by]: set each score, best first."""
    if rank_by not in RULES:
        raise BadInput(f"rank by {rank_by!r}: expected one of {', '.join(RANK_BY)}")
    if rank_by == "realism" and any(r.realism is None for r in results):
        raise BadInput("ranking by realism needs photos of the theme (held-out pairs or a photo folder) and "
                       "at least 2 sketches")
    for r in results:
        parts = {"fidelity": [r.fidelity], "realism": [r.realism],
                 "both": [r.fidelity, r.realism, r.pairs.get("ssim")]}[rank_by]
        r.score = round(float(np.mean([p for p in parts if p is not None])), 4)
    return sorted(results, key=lambda r: (-r.score, -(r.epoch or 0)))


def compare_checkpoints(checkpoints: Sequence[Path], sketches: Sequence[tuple[str, np.ndarray]],
                        edges_for: Callable[[int], EdgeFn], *,
                        pairs: Sequence[tuple[np.ndarray, np.ndarray]] = (),
                        realism_for: Callable[[int], RealismScorer] | None = None,
                        rank_by: str = "both", device: str = "cpu", precision: str = "auto",
                        engine: str = "auto", on_step: Callable[[], None] = lambda: None) -> Comparison:
    """Score every checkpoint on the hand-drawn sketches (name, RGB), the held-out pairs (sketch, photo) and,
    with realism_for(size) (a scorer for pictures of that size), how photo-like its pictures of the sketches are.

    edges_for(size) gives the edge pipeline at a model size (HED + post-processing in icanvas; tests may pass a
    cheaper one). Each checkpoint runs on device in precision on engine (see Painter.from_pretrained; auto is
    torch here: a checkpoint paints a few dozen pictures once, and its ONNX graph would cost more to make than it
    saves). on_step is called once per checkpoint and sketch/pair."""
    engine = "torch" if engine == "auto" else engine
    results, pictures, inputs, photos = [], {}, None, None
    names = [n for n, _ in sketches]
    for path in checkpoints:
        painter = Painter.from_pretrained(path, device=device, precision=precision, engine=engine)
        label = label_of(path, painter.info)
        drawings = [painter.colour(painter.read(rgb)) for _, rgb in sketches]   # blank parts coloured
        normalized = [d.lines for d in drawings]
        inputs = [d.preview() for d in drawings] if inputs is None else inputs
        made = painter.paint(drawings)
        errors = [hint_colour_error(p, d.hints) for p, d in zip(made, drawings)]   # None: a drawing without colour
        colour = [e for e in errors if e is not None]
        edges = edges_for(painter.size)(made)
        scores = [sketch_fidelity(n, p, s, e) for n, p, s, e in zip(names, made, normalized, edges)]
        for _ in scores:
            on_step()
        pair_means = _pair_means(painter, pairs, on_step) if pairs else {}
        scorer = realism_for(painter.size) if realism_for is not None else None
        # Realism is judged on the drawings without colour: a purple background the child asked for is right
        # even though no photo has one (colour dE judges the coloured drawings), unless too few are left.
        uncoloured = [i for i, e in enumerate(errors) if e is None]
        judged = uncoloured if len(uncoloured) >= 2 else list(range(len(made)))
        real = (scorer([made[i] for i in judged], [normalized[i] for i in judged])
                if scorer is not None and len(judged) >= 2 else None)
        photos = {"source": scorer.source, "count": scorer.photos} if scorer is not None else None
        info = painter.info
        results.append(CheckpointResult(
            label=label, path=str(path), theme=info.theme, run=info.run, epoch=info.epoch, size=painter.size,
            fidelity=_mean([s.f for s in scores]), precision=_mean([s.precision for s in scores]),
            recall=_mean([s.recall for s in scores]), degenerate=sum(s.problem is not None for s in scores),
            sketches=scores, pairs=pair_means, realism=real and real.score, kid=real and real.kid,
            colour=_mean(colour) if colour else None,
            runtime=painter.runtime()))
        pictures[label] = made
    return Comparison(rank(results, rank_by), names, inputs or [], pictures, len(pairs), rank_by, photos)


def _mean(values: list[float]) -> float:
    return round(float(np.mean(values)), 4) if values else 0.0


def _pair_means(painter: Painter, pairs: Sequence[tuple[np.ndarray, np.ndarray]],
                on_step: Callable[[], None]) -> dict[str, float]:
    """Mean L1/PSNR/SSIM on (sketch, photo) pairs; a pair's sketch is already a training sketch: only resized."""
    size, rows = painter.size, []
    for start in range(0, len(pairs), 8):
        loaded = pairs[start:start + 8]
        sketches = [cv2.resize(a, (size, size), interpolation=cv2.INTER_AREA) for a, _ in loaded]
        photos = [cv2.resize(b, (size, size), interpolation=cv2.INTER_AREA) for _, b in loaded]
        for made, photo in zip(painter.paint(sketches), photos):
            rows.append(photo_scores(made, photo))
            on_step()
    return {k: _mean([r[k] for r in rows]) for k in ("l1", "psnr", "ssim")}
