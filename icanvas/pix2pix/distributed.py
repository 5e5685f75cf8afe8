"""Many processes, one training run: torchrun's environment, synchronised batch norm, and small collectives.

`torchrun --nproc_per_node N -m icanvas train ...` sets RANK, LOCAL_RANK and WORLD_SIZE; a plain `icanvas train`
runs as a world of one and never touches torch.distributed.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from icanvas.core.runtime import World, torchrun_world


def setup(device: str = "auto") -> World:
    """Join the process group torchrun describes (nccl on GPUs, gloo on CPUs), or a world of one."""
    on_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    device_kind = "cuda" if on_gpu else "cpu"
    world = torchrun_world()
    if not world.distributed:
        return World()
    if not dist.is_initialized():
        if device_kind == "cuda":
            torch.cuda.set_device(world.local_rank)  # one GPU per process, before NCCL starts
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return World(rank=dist.get_rank(), local_rank=world.local_rank, size=world.size)


def teardown(world: World) -> None:
    if world.distributed and dist.is_initialized():
        # Wait for rank 0's last writes: a rank that tears gloo down while its peer is still busy can abort
        # ("terminate called without an active exception").
        dist.barrier()
        dist.destroy_process_group()


def broadcast_str(value: str, world: World) -> str:
    """Rank 0's value on every rank (e.g. a run name made from the clock)."""
    if not world.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def any_rank(flag: bool, world: World, device: torch.device) -> bool:
    """True on every rank if it is True on any: all ranks stop at the same step."""
    if not world.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks whose gradient is again a sum over ranks (every rank's loss depends on every rank's input)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _AllReduceSum.apply(grad)


class CpuSyncBatchNorm(nn.BatchNorm2d):
    """Batch norm over the whole global batch for CPU processes (torch's SyncBatchNorm is GPU-only).

    Same parameters and buffers as BatchNorm2d, so checkpoints do not change. Two-pass statistics (mean, then
    the centred sum of squares) for the same accuracy as a single process.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        count = torch.tensor([x.numel() / c], dtype=x.dtype, device=x.device)
        totals = _AllReduceSum.apply(torch.cat([x.sum((0, 2, 3)), count]))
        n = totals[c].detach()
        mean = totals[:c] / n
        centred = x - mean.view(1, c, 1, 1)
        var = _AllReduceSum.apply((centred * centred).sum((0, 2, 3))) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean, alpha=m)
                self.running_var.mul_(1 - m).add_(var * n / (n - 1).clamp(min=1), alpha=m)
        y = centred * torch.rsqrt(var + self.eps).view(1, c, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1)
        return y


def sync_batch_norm(net: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm2d in `net` synchronised across processes: torch's SyncBatchNorm on GPUs, ours on CPUs."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(net)
    for name, child in net.named_children():
        if type(child) is nn.BatchNorm2d:
            synced = CpuSyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                      child.track_running_stats)
            for key, value in [*child.named_parameters(recurse=False), *child.named_buffers(recurse=False)]:
                setattr(synced, key, value)   # the very same tensors: optimisers and checkpoints still see them
            setattr(net, name, synced)
        else:
            sync_batch_norm(child, device)
    return net
