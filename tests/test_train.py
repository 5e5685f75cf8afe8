"""`icanvas train`: it learns, it resumes to the same weights, Ctrl-C saves, and the files reload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from icanvas.core.errors import BadInput
from icanvas.data.pairing import pair_files, plan_paired, write_pairs
from icanvas.inference.painter import Painter
from icanvas.pix2pix.checkpoints import ModelInfo, load_generator, read_info, save_generator
from icanvas.pix2pix.config import stored_config
from icanvas.pix2pix.dataset import PairDataset, to_model_input
from icanvas.pix2pix.networks import GeneratorConfig, UnetGenerator, init_weights, per_image_statistics
from icanvas.pix2pix.trainer import TrainConfig, lr_factor, train

TINY = ["--size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "2", "--no-sketch-augment", "--val-limit", "4"]


pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models: see conftest.one_thread


def _shoe_pairs(shared: Path, out: Path, *, train: int, val: int, size: int) -> Path:
    jobs, _ = plan_paired(shared / "data" / "edges2shoes_120")
    chosen = [j for j in jobs if j.split == "train"][:train] + [j for j in jobs if j.split == "val"][:val]
    write_pairs(chosen, [], out, size=size)
    return out


@pytest.fixture(scope="module")
def shoes32(shared_dir, tmp_path_factory) -> Path:
    return _shoe_pairs(shared_dir, tmp_path_factory.mktemp("shoes32"), train=8, val=2, size=32)


def test_learning_rate_is_constant_then_decays_linearly():
    assert [round(lr_factor(e, 10), 4) for e in range(10)] == [1, 1, 1, 1, 1, 0.8333, 0.6667, 0.5, 0.3333, 0.1667]
    assert lr_factor(0, 1) == 1.0


def test_per_image_statistics_normalise_each_image_by_itself_and_leave_the_net_alone():
    torch.manual_seed(0)
    net = init_weights(UnetGenerator(GeneratorConfig(size=32, ngf=8)))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = torch.randn(3, 3, 32, 32)
    own = per_image_statistics(net)
    with torch.no_grad():
        alone = own(x[:1])
        assert torch.allclose(own(x)[:1], alone, atol=1e-5)   # a picture does not depend on its batch mates
        assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())   # running stats untouched
        net.train()
        for m in net.modules():
            if isinstance(m, torch.nn.Dropout):
                m.eval()
        reference = net(x[:1])   # train-mode batch norm on this image alone
    assert torch.allclose(alone, reference, atol=1e-5)


def test_the_per_image_twin_is_built_once_and_follows_training():
    torch.manual_seed(0)
    net = init_weights(UnetGenerator(GeneratorConfig(size=32, ngf=8)))
    twin = per_image_statistics(net)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = twin(x)
        for p in net.parameters():   # what an optimiser step does: in place
            p.add_(0.05)
        after = twin(x)
    assert {id(p) for p in twin.parameters()} <= {id(p) for p in net.parameters()}   # no copy of the weights
    assert not torch.allclose(before, after)
    assert net.training and not twin.training


def test_load_generator_gives_the_raw_network_for_fine_tuning(tmp_path):
    torch.manual_seed(0)
    net = init_weights(UnetGenerator(GeneratorConfig(size=32, ngf=8)))
    path = save_generator(tmp_path / "g.safetensors", net, ModelInfo(theme="demo", generator=net.config))
    raw, info = load_generator(path, for_inference=False)
    assert isinstance(raw, UnetGenerator) and raw.training and info.theme == "demo"
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in raw.modules())
    assert all(torch.equal(a, b) for a, b in zip(raw.state_dict().values(), net.state_dict().values()))


def test_overfits_four_pairs_and_checkpoint_reloads(shared_dir, tmp_path):
    data = _shoe_pairs(shared_dir, tmp_path / "four", train=4, val=0, size=64)
    ds = PairDataset(pair_files(data / "train"), 64, random=False)
    sketch, photo = to_model_input(torch.stack([ds[i] for i in range(4)]), torch.device("cpu"))
    torch.manual_seed(0)
    untrained = init_weights(UnetGenerator(GeneratorConfig(size=64, ngf=8))).eval()
    with torch.no_grad():
        before = (untrained(sketch) - photo).abs().mean().item()

    cfg = TrainConfig(data=str(data), run_dir=str(tmp_path / "run"), theme="shoes", run="run", size=64, ngf=8,
                      ndf=8, batch_size=4, epochs=300, save_every=1000, sketch_augment=False)
    result = train(cfg)
    assert result.step == 300 and result.epochs_done == 300 and result.stopped is None
    model, info = load_generator(result.checkpoint)
    with torch.no_grad():
        after = (model(sketch) - photo).abs().mean().item()
    assert before > 0.6
    assert after < 0.35 and after < 0.45 * before, (before, after)

    # The checkpoint gives the very pictures the trained network gives, and says what it is.
    sketches = [s.numpy() for s in torch.stack([ds[i] for i in range(4)])[..., 0]]
    trained = Painter(per_image_statistics(result.generator), info, result.checkpoint)
    loaded = Painter.from_pretrained(result.checkpoint, device="cpu")
    assert all(np.array_equal(a, b) for a, b in zip(loaded.paint(sketches), trained.paint(sketches)))
    assert (info.theme, info.epoch, info.generator.size, info.generator.ngf) == ("shoes", 300, 64, 8)
    grid = np.asarray(Image.open(tmp_path / "run" / "samples" / "epoch_0300.png"))
    assert grid.shape == (4 * 64, 3 * 64, 3)     # sketch | generated | photo, one row per sample
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 300 and metrics[-1]["lr"] < metrics[0]["lr"]
    assert metrics[-1]["loss_G_L1"] < 0.5 * metrics[0]["loss_G_L1"]


def _weights(run: Path) -> tuple[dict, dict]:
    state = torch.load(run / "checkpoints" / "resume.pt", weights_only=True)
    return load_file(run / "checkpoints" / "epoch_0002.safetensors"), state["D"]


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_gives_the_same_weights(cli, root, shoes32):
    straight = cli("--root", root, "-q", "train", "--data", shoes32, *TINY, "--epochs", "2", "--run", "straight")
    assert straight.exit_code == 0, straight.stderr
    first = cli("--root", root, "-q", "train", "--data", shoes32, *TINY, "--epochs", "1", "--run", "split")
    assert first.exit_code == 0, first.stderr
    # --resume with no --run continues the latest run; --epochs raises the goal.
    second = cli("--root", root, "train", "--data", shoes32, "--resume", "--epochs", "2", "--json")
    assert second.exit_code == 0, second.stderr
    summary = json.loads(second.stdout)
    assert (summary["run"], summary["epochs_done"], summary["step"]) == ("split", 2, 8)
    runs = root / "runs" / "custom"
    g1, d1 = _weights(runs / "straight")
    g2, d2 = _weights(runs / "split")
    assert _same(g1, g2) and _same(d1, d2)

    config = json.loads((runs / "split" / "config.json").read_text())
    assert config["settings"]["epochs"] == 2 and config["resumed"][0]["epoch"] == 1
    assert config["icanvas_version"] and config["data"]["train_pairs"] == 8
    lines = [json.loads(x) for x in (runs / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2]
    assert all(0 < m["val_l1"] < 2 for m in lines)

    # Stopped mid-epoch (as Ctrl-C does), then resumed: still the same weights.
    calls = []
    cfg = TrainConfig(data=str(shoes32), run_dir=str(runs / "stopped"), size=32, ngf=8, ndf=8, batch_size=2,
                      epochs=2, sketch_augment=False, val_limit=4)
    stopped = train(cfg, should_stop=lambda: calls.append(1) or len(calls) >= 3)
    assert (stopped.stopped, stopped.step) == ("interrupted", 3)
    assert train(cfg, resume=True).step == 8
    g3, d3 = _weights(runs / "stopped")
    assert _same(g1, g3) and _same(d1, d3)


def test_average_holds_the_mean_of_the_decay_epochs_and_resumes_to_the_same(shoes32, tmp_path):
    def run(name: str, **settings) -> TrainConfig:
        return TrainConfig(data=str(shoes32), run_dir=str(tmp_path / name), size=32, ngf=8, ndf=8, batch_size=2,
                           epochs=4, sketch_augment=False, val_limit=4, **settings)

    plain = run("plain")
    train(plain)
    averaged = run("averaged", average=True)
    result = train(averaged)
    epochs = [load_file(tmp_path / "plain" / "checkpoints" / f"epoch_{e:04d}.safetensors") for e in range(1, 5)]
    got = [load_file(tmp_path / "averaged" / "checkpoints" / f"epoch_{e:04d}.safetensors") for e in range(1, 5)]
    # Before the last epoch at the full learning rate (2 of 4) the weights themselves; from it on their mean
    # over epochs 2.., while training itself goes on as without (the same G and D in the resumable state).
    assert _same(got[0], epochs[0]) and _same(got[1], epochs[1])
    for k, mean in got[3].items():
        if mean.is_floating_point():
            assert torch.allclose(mean, torch.stack([e[k] for e in epochs[1:]]).mean(0), atol=1e-6), k
        else:   # batch-norm counters
            assert torch.equal(mean, epochs[3][k]), k
    assert not _same(got[3], epochs[3])
    plain_state, averaged_state = (torch.load(tmp_path / n / "checkpoints" / "resume.pt", weights_only=True)
                                   for n in ("plain", "averaged"))
    assert _same(plain_state["G"], averaged_state["G"]) and averaged_state["averaged"] == 3
    assert _same({k: v.contiguous() for k, v in result.generator.state_dict().items()}, got[3])
    assert read_info(tmp_path / "averaged" / "checkpoints" / "epoch_0004.safetensors").metrics["averaged_epochs"] == 3

    # Stopped in epoch 3 (the mean begun), then resumed: the same mean.
    calls = []
    stopped = run("stopped", average=True)
    assert train(stopped, should_stop=lambda: calls.append(1) or len(calls) >= 10).stopped == "interrupted"
    train(stopped, resume=True)
    assert _same(load_file(tmp_path / "stopped" / "checkpoints" / "epoch_0004.safetensors"), got[3])


def test_resume_refuses_a_changed_model(cli, root, shoes32):
    assert cli("--root", root, "-q", "train", "--data", shoes32, *TINY, "--epochs", "1", "--run", "r").exit_code == 0
    changed = cli("--root", root, "train", "--data", shoes32, "--run", "r", "--resume", "--size", "64")
    assert changed.exit_code == 2 and "error: size 64: run 'r' was trained with 32" in changed.stderr
    # called from Python, the same refusal (not a RuntimeError from loading weights of another shape)
    cfg = stored_config(root / "runs" / "custom" / "r")
    cfg.size = 64
    with pytest.raises(BadInput, match="size 64: run 'r' was trained with 32"):
        train(cfg, resume=True)
    again = cli("--root", root, "train", "--data", shoes32, *TINY, "--run", "r")
    assert again.exit_code == 2 and "--resume" in again.stderr
    nothing = cli("--root", root, "train", "--theme", "demo", "--resume")
    assert nothing.exit_code == 2 and "no run to resume" in nothing.stderr
    missing = cli("--root", root, "train", "--theme", "demo", *TINY)
    assert missing.exit_code == 2 and "icanvas pair" in missing.stderr and "Traceback" not in missing.stderr


def test_ctrl_c_saves_a_resumable_checkpoint(root, shoes32):
    cmd = [sys.executable, "-m", "icanvas", "--root", str(root), "train", "--data", str(shoes32), *TINY,
           "--epochs", "1000", "--save-every", "1000", "--run", "c"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    metrics = root / "runs" / "custom" / "c" / "metrics.jsonl"
    deadline = time.time() + 120
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 2) and time.time() < deadline:
        time.sleep(0.2)   # two epochs done: training is under way
    assert proc.poll() is None and metrics.is_file(), proc.stderr.read() if proc.poll() is not None else "slow"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    state = torch.load(root / "runs" / "custom" / "c" / "checkpoints" / "resume.pt", weights_only=True)
    assert state["step"] >= 8
    assert not list((root / "runs").rglob("*.tmp"))


def test_a_crash_while_saving_keeps_the_previous_checkpoint(shoes32, tmp_path, monkeypatch):
    cfg = TrainConfig(data=str(shoes32), run_dir=str(tmp_path / "run"), size=32, ngf=8, ndf=8, batch_size=4,
                      epochs=1, sketch_augment=False, val_limit=2)
    train(cfg)

    def dies_half_way(obj, path):
        Path(path).write_bytes(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr("icanvas.pix2pix.trainer.torch.save", dies_half_way)
    cfg.epochs = 2
    with pytest.raises(OSError):
        train(cfg, resume=True)
    state = torch.load(tmp_path / "run" / "checkpoints" / "resume.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (1, 2)
    assert not [p for p in (tmp_path / "run").rglob("*") if p.name.endswith(".tmp")]


def test_a_time_budget_trains_the_whole_epochs_that_fit_and_a_rerun_keeps_the_plan(cli, root, shoes32):
    # a budget shorter than one epoch: the first epoch is all that fits, and it is a finished run
    tight = cli("--root", root, "train", "--data", shoes32, *TINY, "--epochs", "5", "--run", "tight",
                "--time-budget", "0.01", "--json")
    assert tight.exit_code == 0, tight.stderr
    summary = json.loads(tight.stdout)
    assert (summary["epochs_done"], summary["epochs"], summary["planned_epochs"]) == (1, 1, 1)
    run = root / "runs" / "custom" / "tight"
    assert (run / "checkpoints" / "epoch_0001.safetensors").is_file()
    assert json.loads((run / "config.json").read_text())["settings"]["planned_epochs"] == 1
    again = cli("--root", root, "train", "--data", shoes32, "--epochs", "5", "--run", "tight", "--resume",
                "--time-budget", "0.01", "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["step"] == summary["step"]          # re-running trains nothing more
    # a generous budget: every epoch asked for
    roomy = cli("--root", root, "-q", "train", "--data", shoes32, *TINY, "--epochs", "2", "--run", "roomy",
                "--time-budget", "100000", "--json")
    assert json.loads(roomy.stdout)["epochs_done"] == 2
    bad = cli("--root", root, "train", "--data", shoes32, *TINY, "--time-budget", "0")
    assert bad.exit_code == 2 and "time budget 0" in bad.stderr
    no_crayon = cli("--root", root, "train", "--data", shoes32, *TINY, "--lambda-mark", "10")
    assert no_crayon.exit_code == 2 and "lambda_mark 10.0" in no_crayon.stderr and "with hints" in no_crayon.stderr
    unchosen = cli("--root", root, "train", "--data", shoes32, *TINY, "--chosen-colours")
    assert unchosen.exit_code == 2 and "chosen colours: only with hints" in unchosen.stderr
    zoomed_out = cli("--root", root, "train", "--data", shoes32, *TINY, "--zoom", "0.5")
    assert zoomed_out.exit_code == 2 and "zoom 0.5: must be from 1" in zoomed_out.stderr
