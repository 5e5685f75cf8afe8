"""`icanvas compare` as a library call: read the sketches and pairs, score every checkpoint, write the report,
and, when asked, install the winner (the selection policy)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

from icanvas.core.errors import BadInput, Failure
from icanvas.core.images import find_images
from icanvas.core.paths import runs_dir
from icanvas.core.progress import OnProgress, steps
from icanvas.core.runtime import resolve_device
from icanvas.data.pairing import pair_files
from icanvas.edges.pipeline import EdgeDetector, EdgeSettings
from icanvas.eval.compare import (
    CheckpointResult,
    Comparison,
    compare_checkpoints,
    find_checkpoints,
    load_pairs,
    load_photos,
    load_sketches,
)
from icanvas.eval.realism import MIN_PHOTOS, RealismScorer
from icanvas.eval.report import write_report
from icanvas.pix2pix.checkpoints import install_model


@dataclass
class CompareResult:
    comparison: Comparison
    checkpoints: int
    sketches: int
    pairs: int
    skipped: list[Failure]               # sketches and pairs that could not be used
    selected: str | None                 # the installed model folder, if one was installed
    report_dir: Path
    files: dict[str, str]                # grid, html, metrics


def usable(winner: CheckpointResult) -> bool:
    """The selection policy: the best checkpoint is installed only if at least one of its pictures passed the
    degenerate-picture guard (see eval.compare.picture_problem)."""
    return winner.degenerate < len(winner.sketches)


def compare_runs(root: Path, runs: Sequence[Path], sketches: Path, *, pairs: Path | None = None,
                 max_pairs: int = 50, photos: Path | None = None, rank_by: str = "both", out: Path | None = None,
                 select: bool = False, device: str = "auto", precision: str = "auto", engine: str = "auto",
                 progress: Callable[[str], None] | None = None,
                 on_progress: OnProgress = lambda done, total: None) -> CompareResult:
    """Score the checkpoints of `runs` on the drawings in `sketches` (and the first max_pairs A|B pairs in
    `pairs`), realism against `photos` (default: the photo halves of those pairs), rank by `rank_by` (see
    eval.compare.RULES), write the report to `out` (default <root>/runs/<theme>/compare) and, with select,
    install the winner under <root>/models/<theme>/; BadInput when nothing usable is there to compare or to
    install. The generators run in `precision` on `engine` (see Painter.from_pretrained)."""
    checkpoints = find_checkpoints(runs)
    good, skipped = load_sketches(find_images([sketches]))
    if not good:
        raise BadInput(f"{sketches}: no usable sketches (need at least one drawing)")
    pair_list, bad_pairs = load_pairs(pair_files(pairs)[:max_pairs]) if pairs is not None else ([], [])
    if pairs is not None and not pair_list:
        raise BadInput(f"{pairs}: no usable A|B pair images")
    skipped += bad_pairs
    dev = resolve_device(device)

    @lru_cache(maxsize=None)
    def detector(size: int) -> EdgeDetector:
        return EdgeDetector(root, EdgeSettings(size=size), dev, progress=progress)

    if photos is not None:
        photo_list, bad_photos = load_photos(find_images([photos]))
        skipped += bad_photos
        source = str(photos)
    else:
        photo_list, source = [b for _, b in pair_list], f"{pairs} (photo halves)"

    @lru_cache(maxsize=None)
    def realism_for(size: int) -> RealismScorer:
        return RealismScorer(detector(size).net, photo_list, size, source)

    with_realism = photos is not None or len(photo_list) >= MIN_PHOTOS
    step = steps(len(checkpoints) * (len(good) + len(pair_list)), on_progress)
    comparison = compare_checkpoints(checkpoints, good, lambda size: detector(size).batch, pairs=pair_list,
                                     realism_for=realism_for if with_realism else None, rank_by=rank_by,
                                     device=dev, precision=precision, engine=engine, on_step=step)
    winner = comparison.winner
    selected = None
    if select and usable(winner):
        selected = str(install_model(root, Path(winner.path), metrics=winner.summary()))
    report_dir = out or runs_dir(root, winner.theme) / "compare"
    files = write_report(report_dir, comparison, selected)
    if select and not usable(winner):
        raise BadInput(f"no checkpoint made a usable picture from the sketches (every picture was rejected: "
                       f"{winner.sketches[0].problem}, ...); nothing installed, see {files['html']}")
    return CompareResult(comparison, len(checkpoints), len(good), len(pair_list), skipped, selected, report_dir,
                         files)
