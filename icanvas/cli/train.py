"""`icanvas train`: pix2pix for a theme, with a live display; Ctrl-C saves a resumable state."""

from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from icanvas.cli.common import AppState, device_option, finish, say, state, stderr_console

if TYPE_CHECKING:
    from icanvas.pix2pix.trainer import StepReport


@contextmanager
def _graceful_stop(st: AppState) -> Iterator[list[bool]]:
    """The first Ctrl-C (or SIGTERM) asks the run to save and stop after the current step; a second one aborts."""
    flag = [False]

    def handler(signum, frame):
        if flag[0]:
            raise KeyboardInterrupt
        flag[0] = True
        say(st, "[yellow]stopping after this step: saving a resumable checkpoint (Ctrl-C again to abort)[/yellow]")

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _progress(st: AppState, quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        TextColumn("{task.fields[losses]}"),
        console=stderr_console(), disable=quiet, transient=False,
    )


def train(
    ctx: typer.Context,
    theme: Optional[str] = typer.Option(None, "--theme", "-t", help="Train on <root>/data/THEME/pairs with the "
                                        "theme's batch size and epochs; runs go to <root>/runs/THEME/."),
    data: Optional[Path] = typer.Option(None, "--data", help="A pairs folder (train/, val/) instead of the theme's."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs in all (a resume trains up to this)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Pairs per step and process."),
    size: Optional[int] = typer.Option(None, "--size", help="Image side: 256 (unet_256), 128 (unet_128), 64..."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Adam learning rate (default 2e-4)."),
    lambda_l1: Optional[float] = typer.Option(None, "--lambda-l1", help="Weight of the L1 loss (default 100)."),
    ngf: Optional[int] = typer.Option(None, "--ngf", help="Generator width: filters of the first layer "
                                      "(default 64)."),
    ndf: Optional[int] = typer.Option(None, "--ndf", help="Discriminator width (default 64)."),
    device: Optional[str] = typer.Option(None, "--device", callback=device_option, help="auto, cpu or cuda (default auto: cuda if "
                                         "there is one)."),
    amp: Optional[bool] = typer.Option(None, "--amp/--no-amp", help="bfloat16 autocast (default: on where it is "
                                       "native: CUDA, CPUs with AVX-512 BF16 or AMX; --no-amp for exact fp32)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Data-loading processes (default 0: in the "
                                          "main process)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of weights, data order and augmentation "
                                       "(default 0)."),
    run: Optional[str] = typer.Option(None, "--run", help="Run name (default: date-time); with --resume, the run to "
                                      "continue (default: the theme's latest)."),
    resume: bool = typer.Option(False, "--resume", help="Continue a run from its last checkpoint, up to --epochs."),
    save_every: Optional[int] = typer.Option(None, "--save-every", help="Checkpoint every N epochs (default 1)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop (with a checkpoint) after N steps."),
    time_budget: Optional[float] = typer.Option(None, "--time-budget", metavar="SECONDS",
                                                help="Train as many whole epochs as fit in SECONDS (at most "
                                                     "--epochs), planned after the first; a resume keeps the plan."),
    sketch_augment: Optional[bool] = typer.Option(None, "--sketch-augment/--no-sketch-augment",
                                                  help="Make training edges look hand-drawn (default off: no "
                                                       "recipe beat plain pix2pix on doodles, docs/sketch-gap.md)."),
    augment: Optional[str] = typer.Option(None, "--augment", help="With --sketch-augment, the recipe: hand, "
                                          "simplify, interior, twins or doodle (docs/sketch-gap.md)."),
    hints: Optional[bool] = typer.Option(None, "--hints/--no-hints", help="Also learn from colour hints simulated "
                                         "from the photos, so a crayon's colour steers the picture (default off)."),
    lambda_mark: Optional[float] = typer.Option(None, "--lambda-mark", help="With --hints, weight of an L1 loss "
                                                "to the crayon's colour under its marks (default 0)."),
    chosen_colours: Optional[bool] = typer.Option(None, "--chosen-colours/--no-chosen-colours", help="With "
                                                  "--hints, also show samples coloured as icanvas colours a line "
                                                  "drawing, from their own photo (default off; docs/colouring.md)."),
    zoom: Optional[float] = typer.Option(None, "--zoom", help="Zoom each pair in or out at random, up to this "
                                         "factor, so parts are painted from the lines, not from where they "
                                         "usually lie (default 1: none; docs/colouring.md)."),
    average: Optional[bool] = typer.Option(None, "--average/--no-average", help="Checkpoints from the last epoch "
                                           "at the full learning rate on hold the mean of the generator's weights at "
                                           "the end of each epoch since: cleaner pictures than one epoch's at the "
                                           "same realism (docs/colouring.md)."),
    val_limit: Optional[int] = typer.Option(None, "--val-limit", help="Validation pairs scored per epoch "
                                            "(default 100)."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout."),
) -> None:
    """Train a pix2pix generator (U-Net + PatchGAN) for a theme.

    Under torchrun, DistributedDataParallel over all processes."""
    st = state(ctx)
    # Imported here, not at the top: they load torch, and every other command should start fast.
    from icanvas.pix2pix import distributed
    from icanvas.pix2pix.config import plan_run
    from icanvas.pix2pix.trainer import train as train_run

    given = {k: v for k, v in dict(epochs=epochs, batch_size=batch_size, size=size, lr=lr, lambda_l1=lambda_l1,
                                   ngf=ngf, ndf=ndf, device=device, amp=amp, workers=workers, seed=seed,
                                   save_every=save_every, max_steps=max_steps, time_budget=time_budget,
                                   sketch_augment=sketch_augment,
                                   augment=augment, hints=hints, lambda_mark=lambda_mark, chosen_colours=chosen_colours,
                                   zoom=zoom, average=average, val_limit=val_limit).items() if v is not None}
    world = distributed.setup(device or "auto")
    try:
        cfg = plan_run(st.root, theme=theme, data=data, run=run, resume=resume, settings=given,
                       agree=lambda name: distributed.broadcast_str(name, world))
        progress = _progress(st, quiet=st.quiet or not world.is_main)
        task = None

        def show(r: StepReport) -> None:
            nonlocal task
            if task is None:  # the display starts with training, after the checks that may fail
                progress.start()
                task = progress.add_task("train", total=r.total_steps, epoch="", rate="", losses="")
            losses = "  ".join(f"{k} {v:.3f}" for k, v in r.losses.items())
            progress.update(task, completed=r.step, total=r.total_steps, epoch=f"{r.epoch}/{r.epochs}",
                            rate=f"{r.images_per_s:.1f} images/s", losses=losses)

        try:
            with _graceful_stop(st) as stop:
                result = train_run(cfg, world=world, resume=resume, on_step=show, should_stop=lambda: stop[0])
        finally:
            progress.stop()
    finally:
        distributed.teardown(world)
    if not world.is_main:
        return
    summary = {"run": cfg.run, "run_dir": str(result.run_dir), "epochs_done": result.epochs_done,
               "epochs": cfg.epochs, "planned_epochs": cfg.planned_epochs, "step": result.step,
               "checkpoint": result.checkpoint,
               "val_l1": result.val_l1,
               "images_per_s": result.images_per_s, "stopped": result.stopped, "skipped_files": result.bad_files}
    val = f", validation L1 {result.val_l1:.4f}" if result.val_l1 is not None else ""
    rate = f", {result.images_per_s:.1f} images/s" if result.images_per_s else ""
    where = result.checkpoint or result.run_dir
    source = f"--theme {cfg.theme}" if cfg.theme != "custom" else f"--data {cfg.data}"
    if result.stopped:
        line = (f"stopped ({result.stopped}) in epoch {result.epochs_done + 1}/{cfg.epochs} at step {result.step}"
                f"{val}{rate} -> {where}; continue with: icanvas train {source} --run {cfg.run} --resume")
    else:
        line = f"trained {result.epochs_done}/{cfg.epochs} epochs, {result.step} steps{val}{rate} -> {where}"
        if cfg.planned_epochs is not None:
            line += f" (the epochs that fit --time-budget {cfg.time_budget:g} s)"
    if result.bad_files:
        line += f" ({len(result.bad_files)} unreadable pairs skipped)"
    finish(st, summary, line, json_out=json_out)
    if result.stopped == "interrupted":
        raise typer.Exit(130)
