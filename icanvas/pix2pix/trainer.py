"""pix2pix training as its authors define it, one process or many (torchrun), resumable to the same result.

One step, in junyanz's optimize_parameters order: G makes fake B from A; D learns to tell (A, B) from
(A, fake B) with the loss halved; then G learns to fool D plus lambda x L1 to B (and, with lambda_mark, the
crayon's colour under its marks: pix2pix.inputs.mark_loss). Adam (lr 2e-4, betas 0.5,
0.999), learning rate constant for the first half of the epochs and then linearly decayed toward zero.

Resuming gives the same weights as an uninterrupted run because all randomness is a function of the settings:
the data of sample i in epoch e comes from a generator seeded by (seed, e, i) (see pix2pix.dataset.PairDataset), and
dropout is re-seeded from (seed, step, rank) before every step. The resumable state is plain tensors and
numbers (torch.load(weights_only=True)): both networks, both optimisers, epoch, batch and step, and with
TrainConfig.average the mean of G's weights so far.
"""

from __future__ import annotations

import copy
import json
import math
import signal
import time
from contextlib import nullcontext
from functools import partial
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from icanvas import __version__
from icanvas.core.errors import BadInput, NotFound
from icanvas.core.images import save_png
from icanvas.core.io import atomic_path, write_bytes_atomic, write_json_atomic
from icanvas.core.runtime import resolve_device, resolve_precision
from icanvas.data.pairing import pair_files, read_pair
from icanvas.pix2pix.checkpoints import ModelInfo, save_generator
from icanvas.pix2pix.config import CONFIG_NAME, STATE_NAME, TrainConfig, check_resumable, check_settings
from icanvas.pix2pix.dataset import EpochSampler, PairDataset, memory_format, to_model_input
from icanvas.pix2pix.distributed import World, any_rank, broadcast_str, sync_batch_norm
from icanvas.pix2pix.inputs import mark_loss
from icanvas.pix2pix.networks import (
    GeneratorConfig,
    PatchDiscriminator,
    UnetGenerator,
    init_weights,
    per_image_statistics,
)
from icanvas.sketch.augment import augment_sketch
from icanvas.sketch.colouring import BOOK_NAME, build_colour_book
from icanvas.sketch.hints import simulate_hints
from icanvas.sketch.lines import measure_style

METRICS_NAME = "metrics.jsonl"
STYLE_SAMPLE = 200   # training sketches measured for the sketch style


@dataclass
class StepReport:
    """What the live display shows, at most 4 times a second (losses are the epoch's running means)."""

    epoch: int                     # 1-based
    epochs: int
    step: int                      # global optimisation steps done
    total_steps: int
    batch: int                     # batches done in this epoch
    batches: int
    losses: dict[str, float]
    images_per_s: float


@dataclass
class TrainResult:
    run_dir: Path
    epochs_done: int
    step: int
    checkpoint: Path | None        # the last epoch_NNNN.safetensors written
    val_l1: float | None           # as generate/compare/serve run the generator (icanvas.inference.painter)
    images_per_s: float | None
    stopped: str | None = None     # None (finished), "interrupted" or "max-steps"
    bad_files: list[str] = field(default_factory=list)
    generator: nn.Module | None = field(default=None, repr=False)


def full_rate_epochs(epochs: int) -> int:
    """How many epochs of a run train at the full learning rate: the first half (pix2pix's 'linear' policy)."""
    return (epochs + 1) // 2


def lr_factor(epoch: int, epochs: int) -> float:
    """pix2pix's 'linear' policy for 0-based `epoch`: 1 for the first half, then down toward 0 at the end."""
    constant = full_rate_epochs(epochs)
    if epoch < constant:
        return 1.0
    return 1.0 - (epoch - constant + 1) / (epochs - constant + 1)


def step_seed(seed: int, step: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])


def _check_files(files: list[Path]) -> tuple[list[Path], list[str]]:
    """Keep the A|B files whose header says they are pairs; list the others with the reason."""
    good, bad = [], []
    for f in files:
        try:
            with Image.open(f) as im:
                w, h = im.size
            if w != 2 * h:
                raise ValueError(f"{w}x{h} is not an A|B pair")
            good.append(f)
        except Exception as exc:  # PIL raises many types for bad headers
            bad.append(f"{f}: {exc}")
    return good, bad


def _quiet_worker(_: int) -> None:
    """DataLoader workers leave Ctrl-C to the main process, which checkpoints before it stops; one thread each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


class Pix2Pix:
    """The two networks, their optimisers and one training step."""

    def __init__(self, cfg: TrainConfig, device: torch.device, world: World) -> None:
        self.cfg, self.device, self.world = cfg, device, world
        torch.manual_seed(cfg.seed)  # same initial weights on every rank
        self.gen_config = GeneratorConfig.for_training(cfg.size, cfg.ngf, cfg.hints, cfg.hint_fill,
                                                         cfg.fill_prior)
        fmt = memory_format(device)
        self.G = init_weights(UnetGenerator(self.gen_config)).to(device, memory_format=fmt)
        # D judges the photo against everything G read: the sketch, and the hints where the model takes them.
        self.D = init_weights(PatchDiscriminator(self.gen_config.input_nc + 3, cfg.ndf)).to(device,
                                                                                          memory_format=fmt)
        if world.distributed:
            self.G, self.D = sync_batch_norm(self.G, device), sync_batch_norm(self.D, device)
        # Fused Adam: one kernel for all parameters, several times faster than the per-tensor loop on the CPU.
        adam = dict(lr=cfg.lr, betas=(cfg.beta1, 0.999), fused=True)
        self.opt_G = torch.optim.Adam(self.G.parameters(), **adam)
        self.opt_D = torch.optim.Adam(self.D.parameters(), **adam)
        self.G_train, self.D_train = self.G, self.D
        if world.distributed:
            ids = [device.index] if device.type == "cuda" else None
            # Synchronised batch norm keeps the buffers equal, so DDP need not broadcast them every forward.
            self.G_train = DistributedDataParallel(self.G, device_ids=ids, forward_sync_buffers=False)
            self.D_train = DistributedDataParallel(self.D, device_ids=ids, forward_sync_buffers=False)
        self.G_eval = per_image_statistics(self.G)   # shares G's weights: built once, follows training
        # With cfg.average: the mean of G's weights at the end of each epoch from the last at the full learning
        # rate on (full_rate_epochs: the mean runs over the decay), which checkpoints hold and validation scores
        # once it has begun. On the demo's doodles it is as realistic as a later epoch without the blurred
        # features that epoch paints where a drawing has none (docs/colouring.md).
        self.G_mean: nn.Module | None = None
        self.averaged = 0
        # bf16 where it is native (CUDA, CPUs with AVX-512 BF16 or AMX): measured no worse than fp32 beyond the
        # seed spread on the demo (docs/training.md), and 1.2-1.7x faster on this CPU kind.
        use_amp = cfg.amp if cfg.amp is not None else resolve_precision("auto", device) == "bf16"
        self.autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if use_amp else nullcontext

    def set_lr(self, factor: float) -> None:
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group["lr"] = self.cfg.lr * factor

    def step(self, real_A: torch.Tensor, real_B: torch.Tensor) -> torch.Tensor:
        """One optimize_parameters; returns (G_GAN, G_L1, D_real, D_fake) as a detached tensor (no sync)."""
        with self.autocast():
            fake_B = self.G_train(real_A)
        # D: real pairs -> 1, fake pairs -> 0, loss halved.
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        with self.autocast():
            pred_fake = self.D_train(torch.cat([real_A, fake_B.detach()], 1)).float()
            pred_real = self.D_train(torch.cat([real_A, real_B], 1)).float()
        loss_D_fake = F.binary_cross_entropy_with_logits(pred_fake, torch.zeros_like(pred_fake))
        loss_D_real = F.binary_cross_entropy_with_logits(pred_real, torch.ones_like(pred_real))
        ((loss_D_fake + loss_D_real) * 0.5).backward()
        self.opt_D.step()
        # G: fool D (D frozen; its plain module, so DDP expects no D gradients) + lambda x L1.
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with self.autocast():
            pred_fake = self.D(torch.cat([real_A, fake_B], 1)).float()
        loss_G_GAN = F.binary_cross_entropy_with_logits(pred_fake, torch.ones_like(pred_fake))
        loss_G_L1 = F.l1_loss(fake_B.float(), real_B)
        loss_G = loss_G_GAN + self.cfg.lambda_l1 * loss_G_L1
        if self.cfg.lambda_mark:
            loss_G = loss_G + self.cfg.lambda_mark * mark_loss(fake_B.float(), real_A)
        loss_G.backward()
        self.opt_G.step()
        return torch.stack([loss_G_GAN, loss_G_L1, loss_D_real, loss_D_fake]).detach()

    @property
    def G_out(self) -> nn.Module:
        """The generator that checkpoints hold: G, or the mean of its weights once that has begun."""
        return self.G if self.G_mean is None else self.G_mean

    @torch.no_grad()
    def average_in(self) -> None:
        """Take G's weights as they are now into their mean (batch-norm counters are copied, not averaged)."""
        if self.G_mean is None:
            self.G_mean = copy.deepcopy(self.G).requires_grad_(False)
            self.G_eval = per_image_statistics(self.G_mean)
        else:
            for mean, now in zip(self.G_mean.state_dict().values(), self.G.state_dict().values()):
                if mean.is_floating_point():
                    mean.lerp_(now, 1.0 / (self.averaged + 1))
                else:
                    mean.copy_(now)
        self.averaged += 1

    @torch.no_grad()
    def generate(self, sketch: torch.Tensor) -> torch.Tensor:
        """Pictures as generate/compare/serve make them: no dropout, each image's own batch-norm statistics."""
        with self.autocast():
            return self.G_eval(sketch).float()

    def state(self, epoch: int, batch: int, step: int) -> dict:
        return {"format": 1, "epoch": epoch, "batch": batch, "step": step,
                "G": self.G.state_dict(), "D": self.D.state_dict(),
                "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
                **({"G_mean": self.G_mean.state_dict(), "averaged": self.averaged} if self.G_mean is not None else {})}

    def load_state(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        if "G_mean" in state:   # the mean had begun: a copy of G to load it into
            self.average_in()
            self.G_mean.load_state_dict(state["G_mean"])
            self.averaged = int(state["averaged"])
        # Adam's moments in the parameters' layout (a run saved on a GPU is channels-last, here maybe not).
        for opt in (self.opt_G, self.opt_D):
            for param, slots in opt.state.items():
                for key, value in slots.items():
                    if value.shape == param.shape and value.stride() != param.stride():
                        slots[key] = torch.empty_like(param).copy_(value)


LOSS_NAMES = ("G_GAN", "G_L1", "D_real", "D_fake")


class _Validation:
    """Fixed validation pairs: the L1 of generated to real photos, and the sample grid. A model with hints is
    scored without colour (val_l1, comparable with any model) and with the same simulated hints every epoch
    (val_l1_hints); its grid shows the hints on the sketch."""

    def __init__(self, files: list[Path], size: int, batch: int, device: torch.device, hints=None,
                 hint_fill: bool = False) -> None:
        ds = PairDataset(files, size, random=False, hints=hints, hint_fill=hint_fill)
        self.batches = [torch.stack([ds[i] for i in range(s, min(s + batch, len(ds)))])
                        for s in range(0, len(ds), batch)]
        self.device = device
        self.has_hints = hints is not None

    def l1(self, model: Pix2Pix, with_hints: bool = False) -> float | None:
        """Mean L1 of generated to real photos, on the [-1, 1] scale of the training loss."""
        if not self.batches:
            return None
        total, n = 0.0, 0
        for batch in self.batches:
            sketch, photo = to_model_input(batch if with_hints else batch[..., :4], self.device, model.gen_config)
            total += (model.generate(sketch) - photo).abs().mean((1, 2, 3)).sum().item()
            n += len(batch)
        return total / n

    def scores(self, model: Pix2Pix) -> dict:
        scores = {"val_l1": self.l1(model)}
        if self.has_hints:
            scores["val_l1_hints"] = self.l1(model, with_hints=True)
        return scores

    def grid(self, model: Pix2Pix, count: int) -> np.ndarray | None:
        """Rows of sketch (with its hints) | generated | photo for the first `count` validation pairs."""
        if not self.batches or count <= 0:
            return None
        batch = torch.cat(self.batches)[:count]
        sketch, photo = to_model_input(batch, self.device, model.gen_config)
        fake = model.generate(sketch)
        drawn = sketch[:, :1].expand(-1, 3, -1, -1)
        if self.has_hints:  # the crayon colour over the sketch, where the mask says
            drawn = torch.where(sketch[:, 4:5] > 0.5, sketch[:, 1:4], drawn)
        row = torch.cat([drawn, fake, photo], dim=3)                      # N x 3 x H x 3W
        img = ((row.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8)
        return img.permute(0, 2, 3, 1).reshape(-1, row.shape[3], 3).cpu().numpy()


def _write_config(run_dir: Path, cfg: TrainConfig, model: Pix2Pix, device: torch.device, world: World,
                  data: dict, sketch_style: dict, resumed_from: dict | None) -> None:
    """config.json: every setting, the versions, the data and the sketch style; a resume adds to 'resumed'."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    config = {"settings": cfg.to_dict(), "icanvas_version": __version__, "torch_version": torch.__version__,
              "device": str(device), "world_size": world.size, "generator": model.gen_config.to_dict(),
              "data": data, "sketch_style": sketch_style, "started": now}
    path = run_dir / CONFIG_NAME
    if resumed_from is not None and path.is_file():
        old = json.loads(path.read_text())
        config["started"] = old.get("started", now)
        config["resumed"] = old.get("resumed", []) + [{"at": now, **resumed_from}]
    write_json_atomic(path, config)


def _read_metrics(path: Path, up_to_epoch: int) -> list[str]:
    """metrics.jsonl lines of epochs a resume does not redo (complete epochs <= up_to_epoch)."""
    if not path.is_file():
        return []
    keep = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut by a crash
        if rec.get("epoch", 0) <= up_to_epoch and not rec.get("partial"):
            keep.append(line)
    return keep


def load_state(run_dir: Path) -> dict:
    path = Path(run_dir) / "checkpoints" / STATE_NAME
    if not path.is_file():
        raise NotFound(f"{path}: no resumable state in this run")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BadInput(f"{path}: unreadable resumable state ({exc})") from None


def train(cfg: TrainConfig, *, world: World = World(), resume: bool = False,
          on_step: Callable[[StepReport], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train (or, with resume, continue) the run in cfg.run_dir. Only rank 0 writes files.

    should_stop is polled after every step (e.g. Ctrl-C): the run then saves a resumable state and returns.
    """
    run_dir, data = Path(cfg.run_dir), Path(cfg.data)
    check_settings(cfg)
    if resume:
        check_resumable(cfg)
    device = resolve_device(cfg.device)
    train_files, bad = _check_files(pair_files(data / "train"))
    if not train_files:
        raise NotFound(f"{data / 'train'}: no training pairs (run: icanvas pair)")
    val_files, bad_val = _check_files(pair_files(data / "val"))
    bad += bad_val
    val_files = val_files[:cfg.val_limit]
    augment = partial(augment_sketch, recipe=cfg.augment) if cfg.sketch_augment else None
    hints = simulate_hints if cfg.hints else None
    fill = cfg.hints and cfg.hint_fill
    train_ds = PairDataset(train_files, cfg.size, seed=cfg.seed, sketch_augment=augment, hints=hints, hint_fill=fill,
                           chosen_colours=cfg.chosen_colours, zoom=cfg.zoom)
    validation = _Validation(val_files, cfg.size, cfg.batch_size, device, hints, fill)
    showcase = validation if val_files else _Validation(train_files[:cfg.samples], cfg.size, cfg.samples, device,
                                                        hints, fill)

    if not resume and (run_dir / "checkpoints" / STATE_NAME).exists():
        raise BadInput(f"{run_dir}: this run exists already (continue it with --resume, or pick another --run)")
    model = Pix2Pix(cfg, device, world)
    epoch, batch_done, step = 0, 0, 0
    if resume:
        state = load_state(run_dir)
        try:
            model.load_state(state)
            epoch, batch_done, step = int(state["epoch"]), int(state["batch"]), int(state["step"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise BadInput(f"{run_dir / 'checkpoints' / STATE_NAME}: the resumable state does not fit this run "
                           f"({type(exc).__name__}: {str(exc)[:200]})") from None

    # How the training sketches look at the model size, for generate's normalisation (icanvas.sketch.lines).
    style_ds = PairDataset(train_files[:STYLE_SAMPLE], cfg.size, random=False)
    sketch_style = measure_style(style_ds[i][:, :, 0].numpy() for i in range(len(style_ds)))
    ckpt_dir, samples_dir = run_dir / "checkpoints", run_dir / "samples"
    metrics_path = run_dir / METRICS_NAME
    if world.is_main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        samples_dir.mkdir(parents=True, exist_ok=True)
        data_info = {"folder": str(data), "train_pairs": len(train_files), "val_pairs": len(val_files),
                     "skipped_files": bad}
        _write_config(run_dir, cfg, model, device, world, data_info, sketch_style,
                      resumed_from={"epoch": epoch, "batch": batch_done, "step": step} if resume else None)
        if cfg.hints and not (run_dir / BOOK_NAME).is_file():   # the colours of line drawings (sketch.colouring)
            build_colour_book((read_pair(f) for f in train_files), cfg.size).save(run_dir / BOOK_NAME)
        kept = _read_metrics(metrics_path, epoch)  # a resume redoes what came after its state
        write_bytes_atomic(metrics_path, "".join(line + "\n" for line in kept).encode())

    if cfg.time_budget is not None and cfg.planned_epochs is not None:   # a resume keeps the budget's plan
        cfg.epochs = min(cfg.epochs, cfg.planned_epochs)
    per_rank = len(EpochSampler(len(train_ds), epoch=0, rank=world.rank, world=world.size))
    batches = math.ceil(per_rank / cfg.batch_size)
    total_steps = batches * cfg.epochs
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    result = TrainResult(run_dir, epoch, step, None, None, None, bad_files=bad)
    loader_rng = torch.Generator().manual_seed(cfg.seed)
    training_started, fresh = time.perf_counter(), epoch == 0 and batch_done == 0

    def plan_for_budget() -> None:
        """After the first epoch: the epochs that fit the time budget, at the rate of the first (rank 0's, on
        every rank). The learning rate of epoch 1 is the same for any plan, so the run is what a run planned
        with these epochs from the start would be."""
        nonlocal total_steps
        fit = int(broadcast_str(str(int(cfg.time_budget // (time.perf_counter() - training_started))), world))
        cfg.planned_epochs = cfg.epochs = max(1, min(cfg.epochs, fit))
        total_steps = batches * cfg.epochs if cfg.max_steps is None else min(batches * cfg.epochs, cfg.max_steps)
        if world.is_main:
            config = json.loads((run_dir / CONFIG_NAME).read_text())
            config["settings"].update(epochs=cfg.epochs, planned_epochs=cfg.planned_epochs)
            write_json_atomic(run_dir / CONFIG_NAME, config)

    def finish_epoch(record: dict) -> None:
        """Validation L1 and the metrics line (rank 0)."""
        if world.is_main:
            record.update(validation.scores(model))
            result.val_l1 = record["val_l1"]
            with open(metrics_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def save(epochs_done: int, next_batch: int) -> None:
        """Generator checkpoint, sample grid, then the resumable state (last: it never points at missing files).
        Mid-epoch (a stop), the checkpoint is named by its step, so that no file claims an epoch it did not
        finish: epoch_NNNN for finished epochs only."""
        if not world.is_main:
            return
        scores = {"val_l1": result.val_l1, "step": step, **({"averaged_epochs": model.averaged} if model.averaged
                                                              else {})}
        info = ModelInfo(theme=cfg.theme, generator=model.gen_config, run=cfg.run, epoch=epochs_done,
                         sketch_style=sketch_style, metrics=scores)
        name = f"epoch_{epochs_done:04d}" if next_batch == 0 else f"partial_step_{step:07d}"
        result.checkpoint = save_generator(ckpt_dir / f"{name}.safetensors", model.G_out, info)
        grid = showcase.grid(model, cfg.samples)
        if grid is not None:
            save_png(grid, samples_dir / f"{name}.png")
        with atomic_path(ckpt_dir / STATE_NAME, durable=True) as tmp:
            torch.save(model.state(epochs_done, next_batch, step), tmp)

    while epoch < cfg.epochs:
        model.set_lr(lr_factor(epoch, cfg.epochs))
        sampler = EpochSampler(len(train_ds), epoch=epoch, seed=cfg.seed, rank=world.rank, world=world.size,
                               start=batch_done * cfg.batch_size)
        loader = DataLoader(train_ds, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                            pin_memory=device.type == "cuda", worker_init_fn=_quiet_worker,
                            generator=loader_rng, prefetch_factor=4 if cfg.workers else None)
        sums, seen, wait, started = torch.zeros(4, device=device), 0, 0.0, time.perf_counter()
        stop, shown = None, 0.0
        it = iter(loader)
        while True:
            t0 = time.perf_counter()
            batch = next(it, None)
            wait += time.perf_counter() - t0
            if batch is None:
                break
            torch.manual_seed(step_seed(cfg.seed, step, world.rank))  # dropout masks, reproducible on resume
            real_A, real_B = to_model_input(batch, device, model.gen_config)
            sums += model.step(real_A, real_B) * len(batch)
            seen += len(batch)
            step += 1
            batch_done += 1
            now = time.perf_counter()
            if on_step is not None and world.is_main and (now - shown > 0.25 or batch_done == batches):
                shown = now  # at most 4 updates a second: reading the losses waits for the GPU
                on_step(StepReport(epoch + 1, cfg.epochs, step, total_steps, batch_done, batches,
                                   dict(zip(LOSS_NAMES, (sums / seen).tolist())), seen * world.size / (now - started)))
            if cfg.max_steps is not None and step >= cfg.max_steps:
                stop = "max-steps"
            elif any_rank(bool(should_stop and should_stop()), world, device):
                stop = "interrupted"
            if stop:
                break
        elapsed = time.perf_counter() - started
        record = {"epoch": epoch + 1, "step": step, "lr": model.opt_G.param_groups[0]["lr"],
                  **{f"loss_{k}": v for k, v in zip(LOSS_NAMES, (sums / max(seen, 1)).tolist())},
                  "images_per_s": seen * world.size / elapsed if elapsed > 0 else None,
                  "epoch_time_s": elapsed, "data_wait_share": wait / elapsed if elapsed > 0 else None,
                  "partial": stop is not None}
        result.images_per_s = record["images_per_s"]
        if stop:
            finish_epoch(record)
            save(epoch, batch_done)
            result.stopped = stop
            break
        epoch, batch_done = epoch + 1, 0
        if epoch == 1 and fresh and cfg.time_budget is not None and cfg.planned_epochs is None:
            plan_for_budget()
        if cfg.average and epoch >= full_rate_epochs(cfg.epochs):
            model.average_in()
        finish_epoch(record)
        if epoch % cfg.save_every == 0 or epoch == cfg.epochs:
            save(epoch, 0)
    result.epochs_done, result.step, result.generator = epoch, step, model.G_out
    return result
