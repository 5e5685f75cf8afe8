"""How a Painter runs its generator, on the runtime core.runtime.resolve_runtime chose (docs/speed.md has the
measurements; engines.runners the engine-neutral parts):

- `torch` in fp32 (the network as trained, eager: the reference), or in bf16: engines.runners.bf16_copy, with
  activations in channels_last;
- `onnxruntime` in fp32 (the default on CPUs without native bf16): an exported model's model.onnx (see
  inference.export), or the checkpoint's graph, cached under the root by the weights' hash.

Both take an NxCxHxW float32 tensor in [-1, 1] (any batch and any size the U-Net accepts) and give Nx3xHxW.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from icanvas.core.errors import BadInput
from icanvas.core.runtime import resolve_precision
from icanvas.engines.runners import IMAGE_AXES, OnnxRunner, bf16_copy, to_onnx

ONNX_INPUT, ONNX_OUTPUT = "sketch", "picture"
NO_VARIATIONS = ("engine onnxruntime paints one picture per sketch, no variations (the ONNX graph has no "
                 "dropout): use engine torch on the checkpoint or installed model")


@contextmanager
def _dropout_on(model: nn.Module) -> Iterator[None]:
    """Dropout active, batch norm still per image: a different picture per seed."""
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    for m in drops:
        m.train()
    try:
        yield
    finally:
        for m in drops:
            m.eval()


class TorchModel:
    """A generator ready for inference (per-image batch norm) run by PyTorch in `precision` (auto|fp32|bf16).

    fp32 runs the module it is given, as trained (the reference; it follows changes to its weights). bf16 runs
    its own copy made here: bf16 weights, channels_last activations and, on the CPU, SmallMapConv."""

    engine = "torch"
    variations = True

    def __init__(self, model: nn.Module, precision: str = "auto") -> None:
        self.device = next(model.parameters()).device
        self.precision = resolve_precision(precision, self.device)
        if self.precision == "bf16":
            self.dtype, self.memory_format = torch.bfloat16, torch.channels_last
            self.model = bf16_copy(model)
        else:
            self.dtype, self.memory_format = torch.float32, torch.contiguous_format
            self.model = model

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor, variation: int | None = None) -> torch.Tensor:
        x = x.to(self.device, self.dtype).contiguous(memory_format=self.memory_format)
        if variation is None:
            return self.model(x)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), _dropout_on(self.model):
            torch.manual_seed(variation)
            return self.model(x)


class OnnxModel:
    """A generator's ONNX graph run by ONNX Runtime (engines.runners.OnnxRunner). The graph has no dropout (it is
    exported for inference), so it paints the deterministic picture only."""

    engine = "onnxruntime"
    precision = "fp32"
    variations = False
    device = torch.device("cpu")

    def __init__(self, runner: OnnxRunner) -> None:
        self.runner = runner

    def __call__(self, x: torch.Tensor, variation: int | None = None) -> torch.Tensor:
        if variation is not None:
            raise BadInput(f"{self.runner.name}: {NO_VARIATIONS}")
        return self.runner(x)


def generator_onnx(model: nn.Module, input_nc: int, size: int, metadata: dict[str, str] | None = None) -> bytes:
    """An inference generator (per-image batch norm, eval mode) as an ONNX graph with dynamic batch, height
    and width (InstanceNormalization for the per-image norm)."""
    return to_onnx(model, torch.zeros(2, input_nc, size, size), [ONNX_INPUT], [ONNX_OUTPUT],
                   {ONNX_INPUT: IMAGE_AXES, ONNX_OUTPUT: IMAGE_AXES}, metadata)
