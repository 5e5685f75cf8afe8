"""A training run's settings: TrainConfig, the theme defaults, run names, and what a resume may change.

`plan_run` turns what a user asked for (a theme or a pairs folder, a run name, resume or not, the settings given)
into the TrainConfig that `trainer.train` runs; a resume takes the stored settings and may change only those that
do not define the model or its data stream.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from icanvas.core.errors import BadInput, NotFound
from icanvas.core.paths import pairs_dir, run_dir, runs_dir
from icanvas.core.themes import get_theme
from icanvas.pix2pix.networks import GeneratorConfig
from icanvas.sketch.augment import RECIPES

STATE_NAME = "resume.pt"
CONFIG_NAME = "config.json"
CUSTOM = "custom"     # the theme label of a run trained on a pairs folder


@dataclass
class TrainConfig:
    """Every setting of a run; stored in config.json."""

    data: str                      # pairs folder with train/ (and val/)
    run_dir: str                   # <root>/runs/<theme>/<run>
    theme: str = "custom"
    run: str = ""
    epochs: int = 10
    batch_size: int = 1
    size: int = 256
    lr: float = 2e-4
    beta1: float = 0.5
    lambda_l1: float = 100.0
    lambda_mark: float = 0.0       # with hints: weight of L1 to the crayon's colour under its marks (Pix2Pix.step)
    chosen_colours: bool = False   # with the fill: samples coloured as line drawings are (pix2pix.dataset)
    zoom: float = 1.0              # random zoom in or out of each pair, up to this factor (1: pix2pix's crop alone)
    average: bool = False          # checkpoints hold G's weights averaged over the decay (trainer.full_rate_epochs)
    ngf: int = 64
    ndf: int = 64
    seed: int = 0
    sketch_augment: bool = False   # off by default: no recipe beat plain pix2pix on doodles (docs/sketch-gap.md)
    augment: str = "hand"          # the sketch augmentation recipe (sketch.augment.RECIPES), with sketch_augment
    hints: bool = False            # colour hints simulated from the photo, as a second input (pix2pix.inputs)
    hint_fill: bool = True         # with hints: also their fill over the sketch's regions (sketch.fill)
    fill_prior: bool = True        # with the fill: the generator paints over it (networks.UnetGenerator.forward)
    device: str = "auto"           # auto, cpu, cuda
    amp: bool | None = None        # bfloat16 autocast; None: where it is native (CUDA, CPUs with BF16)
    workers: int = 0
    save_every: int = 1
    max_steps: int | None = None
    time_budget: float | None = None   # seconds: after the first epoch, as many epochs as fit (at most `epochs`)
    planned_epochs: int | None = None  # what the time budget planned (a resume keeps the plan)
    val_limit: int = 100           # validation pairs scored each epoch (the first ones, by name)
    samples: int = 4               # validation sketches in samples/epoch_NNNN.png

    # Settings that define the model and its data stream: a resumed run must keep them.
    FIXED = ("data", "batch_size", "size", "lr", "beta1", "lambda_l1", "lambda_mark", "ngf", "ndf", "seed",
             "sketch_augment", "augment", "hints", "hint_fill", "fill_prior", "chosen_colours", "zoom",
             "average")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})



def check_settings(cfg: TrainConfig) -> None:
    """BadInput naming the setting when a value cannot train."""
    if min(cfg.epochs, cfg.batch_size, cfg.save_every, cfg.max_steps or 1, cfg.workers + 1, cfg.val_limit + 1) < 1:
        raise BadInput("epochs, batch_size, save_every and max_steps must be at least 1, "
                       "workers and val_limit at least 0")
    if cfg.time_budget is not None and not cfg.time_budget > 0:
        raise BadInput(f"time budget {cfg.time_budget}: must be a number of seconds above 0")
    if cfg.augment not in RECIPES:
        raise BadInput(f"augment {cfg.augment!r}: expected one of {', '.join(RECIPES)}")
    if cfg.lambda_mark and not (cfg.hints and cfg.lambda_mark > 0):
        raise BadInput(f"lambda_mark {cfg.lambda_mark}: must be 0 or more, and above 0 only with hints")
    if not 1.0 <= cfg.zoom <= 2.0:
        raise BadInput(f"zoom {cfg.zoom}: must be from 1 (no zoom) to 2")
    if cfg.chosen_colours and not (cfg.hints and cfg.hint_fill):
        raise BadInput("chosen colours: only with hints and their fill (the chosen colours lie in the fill)")
    try:
        GeneratorConfig.for_training(cfg.size, cfg.ngf, cfg.hints, cfg.hint_fill, cfg.fill_prior)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def stored_config(run_dir: Path) -> TrainConfig:
    """The settings a run was started with (its config.json)."""
    path = Path(run_dir) / CONFIG_NAME
    if not path.is_file():
        raise NotFound(f"{path}: no such run to resume")
    try:
        # runs from before fill_prior existed painted from nothing
        return TrainConfig.from_dict({"fill_prior": False, **json.loads(path.read_text())["settings"]})
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInput(f"{path}: unreadable run settings ({exc})") from None


def check_resumable(cfg: TrainConfig) -> None:
    """A resumed run keeps the settings that define the model and its data stream (TrainConfig.FIXED; the data
    folder may move with the root)."""
    stored = stored_config(Path(cfg.run_dir))
    for key in TrainConfig.FIXED:
        if key == "data":
            continue
        if getattr(cfg, key) != getattr(stored, key):
            raise BadInput(f"{key} {getattr(cfg, key)}: run '{stored.run or cfg.run}' was trained with "
                           f"{getattr(stored, key)}, and a resumed run must keep it")


def latest_run(runs: Path) -> str:
    """The run of a theme whose resumable state was written last."""
    states = sorted(Path(runs).glob(f"*/checkpoints/{STATE_NAME}"), key=lambda p: p.stat().st_mtime)
    if not states:
        raise NotFound(f"{runs}: no run to resume")
    return states[-1].parent.parent.name


def theme_defaults(theme: str) -> dict[str, Any]:
    """The settings a theme trains with unless told otherwise (see core.themes)."""
    t = get_theme(theme)
    return {"batch_size": t.batch_size, "epochs": t.epochs, "size": t.size}


def plan_run(root: Path, *, theme: str | None = None, data: Path | None = None, run: str | None = None,
             resume: bool = False, settings: dict[str, Any] | None = None,
             agree: Callable[[str], str] = lambda name: name) -> TrainConfig:
    """The run's TrainConfig: the theme's defaults + `settings`, or with resume the stored settings + those of
    `settings` that a resume may change. A new run is named by the clock unless `run` is given; `agree` makes
    every process use the same name (torchrun: rank 0's)."""
    given = dict(settings or {})
    label = theme or CUSTOM
    runs = runs_dir(root, label)
    if resume:
        name = run or latest_run(runs)
        cfg = stored_config(run_dir(root, label, name))
        cfg.run_dir = str(runs / name)      # where the run is now, even if the root has moved since
        if data is not None:
            given["data"] = str(Path(data).resolve())
        elif theme is not None:
            cfg.data = str(pairs_dir(root, theme))
        for key, value in given.items():
            if key in TrainConfig.FIXED and value != getattr(cfg, key):
                raise BadInput(f"{key} {value}: run '{name}' was trained with {getattr(cfg, key)}, and a resumed "
                               "run must keep it")
            setattr(cfg, key, value)
        cfg.max_steps = given.get("max_steps")   # a step limit belongs to one invocation
        return cfg
    if theme is not None:
        defaults = theme_defaults(theme)
        data = data or pairs_dir(root, theme)
    elif data is None:
        raise BadInput("give a theme (its pairs and settings) or a pairs folder with train/ and val/")
    else:
        defaults = {}
    name = agree(run or time.strftime("%Y%m%d-%H%M%S"))
    return TrainConfig(data=str(Path(data).resolve()), run_dir=str(run_dir(root, label, name)), theme=label, run=name,
                       **{**defaults, **given})
