"""Two CPU processes (gloo): batch norm over the global batch, equal weights on both ranks, only rank 0 writes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from icanvas.data.pairing import plan_paired, write_pairs
from icanvas.pix2pix.networks import GeneratorConfig, UnetGenerator, init_weights


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, data: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE="2")
    torch.set_num_threads(1)
    from icanvas.pix2pix import distributed
    from icanvas.pix2pix.trainer import TrainConfig, train

    world = distributed.setup("cpu")
    try:
        # Our CPU SyncBatchNorm on half of a batch equals plain batch norm on the whole batch, gradients too.
        torch.manual_seed(0)
        full = torch.randn(4, 3, 5, 5, requires_grad=True)
        reference = torch.nn.BatchNorm2d(3)
        out_full = reference(full)
        out_full.pow(2).sum().backward()
        half = full.detach()[2 * rank:2 * rank + 2].clone().requires_grad_(True)
        synced = distributed.CpuSyncBatchNorm(3)
        out_half = synced(half)
        (out_half.pow(2).sum()).backward()
        bn = {"out": out_full.detach()[2 * rank:2 * rank + 2] - out_half.detach(),
              "grad": full.grad[2 * rank:2 * rank + 2] - half.grad,
              "running_var": reference.running_var - synced.running_var}

        cfg = TrainConfig(data=data, run_dir=str(Path(out) / "run"), size=32, ngf=8, ndf=8, batch_size=2,
                          epochs=1, sketch_augment=False, val_limit=2)
        result = train(cfg, world=world)
        net = {f"G.{k}": v.contiguous() for k, v in result.generator.state_dict().items()}
        save_file({**net, **{f"bn.{k}": v.contiguous() for k, v in bn.items()}}, str(Path(out) / f"rank{rank}.st"))
    finally:
        distributed.teardown(world)


def _pairs(shared_dir: Path, out: Path) -> Path:
    jobs, _ = plan_paired(shared_dir / "data" / "edges2shoes_120")
    write_pairs([j for j in jobs if j.split == "train"][:8] + [j for j in jobs if j.split == "val"][:2], [], out,
                size=32)
    return out


def test_two_processes_end_with_equal_weights(shared_dir, tmp_path):
    data = _pairs(shared_dir, tmp_path / "pairs")
    mp.spawn(_rank, args=(_free_port(), str(data), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = load_file(tmp_path / "rank0.st"), load_file(tmp_path / "rank1.st")
    for r in (r0, r1):
        for name in ("out", "grad", "running_var"):
            assert r[f"bn.{name}"].abs().max() < 1e-5, name
    weights = [k for k in r0 if k.startswith("G.")]
    assert any("running_mean" in k for k in weights)
    assert all(torch.equal(r0[k], r1[k]) for k in weights)
    # Training moved every parameter, batch-norm scales too (the optimiser holds the synchronised modules' own).
    torch.manual_seed(0)
    initial = init_weights(UnetGenerator(GeneratorConfig(size=32, ngf=8))).state_dict()
    params = [k for k in initial if k.endswith(("weight", "bias"))]
    assert all(not torch.equal(initial[k], r0[f"G.{k}"]) for k in params)
    assert (tmp_path / "run" / "checkpoints" / "epoch_0001.safetensors").is_file()


def test_torchrun_cli_rank_zero_writes(shared_dir, tmp_path):
    data = _pairs(shared_dir, tmp_path / "pairs")
    root = tmp_path / "root"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(_free_port()), "-m", "icanvas", "--root", str(root), "train", "--data", str(data), "--size", "32",
           "--ngf", "8", "--ndf", "8", "--batch-size", "2", "--epochs", "2", "--no-sketch-augment", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr
    summaries = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1 and summaries[0]["step"] == 4     # one summary (rank 0); 8 pairs / (2 x 2) x 2
    run = Path(summaries[0]["run_dir"])
    config = json.loads((run / "config.json").read_text())
    assert config["world_size"] == 2
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "epoch_0001.safetensors", "epoch_0002.safetensors", "resume.pt"]
    assert len(list((root / "runs" / "custom").iterdir())) == 1   # both ranks agreed on the run name
