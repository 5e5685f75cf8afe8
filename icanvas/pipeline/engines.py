"""How a Painter runs its generator: an engine and a precision (docs/speed.md has the measurements).

- `torch` in fp32 (the network as trained, eager: the reference), or in bf16: a bf16 copy of the weights made
  once (autocast would convert the 54M weights of unet_256 at every call), activations in channels_last, and
  on the CPU the convolutions over small maps (the U-Net's inner levels) as matrix products: see SmallMapConv.
- `onnxruntime` in fp32, on an ONNX graph: an exported model's model.onnx (see pipeline.export), or the
  checkpoint exported in memory at load. Optional (`pip install 'icanvas[onnx]'`): on a CPU with bf16 it does
  not beat torch bf16, so torch stays the default.

Both take an NxCxHxW float32 tensor in [-1, 1] (any batch and any size the U-Net accepts) and give Nx3xHxW.
"""

from __future__ import annotations

import copy
import importlib
import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from icanvas.core.errors import BadInput
from icanvas.core.runtime import resolve_precision

ENGINES = ("auto", "torch", "onnxruntime")
ONNX_OPSET = 17
ONNX_INPUT, ONNX_OUTPUT = "sketch", "picture"
ONNX_AXES = {0: "batch", 2: "height", 3: "width"}   # dynamic: any batch, any size
NO_VARIATIONS = ("engine onnxruntime paints one picture per sketch, no variations (the ONNX graph has no "
                 "dropout): use engine torch on the checkpoint or installed model")


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise BadInput(f"engine {engine}: expected {', '.join(ENGINES)}")
    return engine


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


SMALL_MAP = 512   # batch x height x width up to which a convolution runs as a matrix product (measured)


class SmallMapConv(nn.Module):
    """A Conv2d or ConvTranspose2d that runs inputs of at most SMALL_MAP pixels (batch x height x width) as one
    matrix product, larger ones as itself, with the same weights.

    PyTorch's CPU (oneDNN) convolutions re-arrange their weights at every call; on unet_256's inner levels
    (512-1024 channels over 1x1..16x16 maps, most of its 54M weights) that costs several times the arithmetic,
    while a matrix product reads the weights as they lie (docs/speed.md)."""

    def __init__(self, conv: nn.Conv2d | nn.ConvTranspose2d) -> None:
        super().__init__()
        self.conv = conv
        self.transposed = isinstance(conv, nn.ConvTranspose2d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if n * h * w > SMALL_MAP:
            return self.conv(x)
        conv, (kh, kw), (sh, sw), (ph, pw) = self.conv, self.conv.kernel_size, self.conv.stride, self.conv.padding
        if self.transposed:   # weight Cin x Cout x kh x kw: each input pixel paints a kh x kw patch, overlaps add
            rows = x.permute(0, 2, 3, 1).reshape(n * h * w, c) @ conv.weight.reshape(c, -1)
            size = ((h - 1) * sh - 2 * ph + kh, (w - 1) * sw - 2 * pw + kw)
            cols = rows.view(n, h * w, -1).transpose(1, 2).float()    # the overlaps add up in fp32
            y = F.fold(cols, size, (kh, kw), padding=(ph, pw), stride=(sh, sw)).to(x.dtype)
        else:                 # weight Cout x Cin x kh x kw: im2col, then one product
            cols = F.unfold(x, (kh, kw), padding=(ph, pw), stride=(sh, sw))
            rows = cols.transpose(1, 2).reshape(-1, cols.shape[1]) @ conv.weight.reshape(conv.out_channels, -1).t()
            y = rows.view(n, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1, -1).permute(0, 3, 1, 2)
        return y if conv.bias is None else y + conv.bias.view(1, -1, 1, 1)


def _plain(conv: nn.Module) -> bool:
    """A convolution SmallMapConv reproduces: no groups, no dilation, zero padding given in pixels."""
    return (isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and conv.groups == 1 and conv.dilation == (1, 1)
            and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
            and getattr(conv, "output_padding", (0, 0)) == (0, 0))


def with_small_maps(model: nn.Module) -> nn.Module:
    """`model` with its plain convolutions wrapped in SmallMapConv (in place)."""
    for module in list(model.modules()):
        for name, child in module.named_children():
            if _plain(child):
                setattr(module, name, SmallMapConv(child))
    return model


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
            model = copy.deepcopy(model).to(self.dtype)
            # measured on CPUs; GPUs' convolutions do not re-arrange their weights per call
            self.model = with_small_maps(model) if self.device.type == "cpu" else model
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


def _optional(module: str, needed_by: str):
    """An optional dependency (the `onnx` extra), or a BadInput that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise BadInput(f"{needed_by}: needs the Python package {module} (pip install 'icanvas[onnx]')") from None


class OnnxModel:
    """An ONNX generator run by ONNX Runtime on the CPU, in fp32, one session built at load. The graph has no
    dropout (it is exported for inference), so it paints the deterministic picture only."""

    engine = "onnxruntime"
    precision = "fp32"
    variations = False
    device = torch.device("cpu")

    def __init__(self, model: Path | bytes, name: str) -> None:
        ort = _optional("onnxruntime", "engine onnxruntime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()   # the same threads as torch would use
        try:
            self.session = ort.InferenceSession(str(model) if isinstance(model, Path) else model, options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001  ORT's errors (Fail, InvalidProtobuf...) derive from Exception
            raise BadInput(f"{name}: ONNX model does not load ({type(exc).__name__}: {exc})") from None
        self.input = self.session.get_inputs()[0].name
        self.name = name

    def __call__(self, x: torch.Tensor, variation: int | None = None) -> torch.Tensor:
        if variation is not None:
            raise BadInput(f"{self.name}: {NO_VARIATIONS}")
        return torch.from_numpy(self.session.run(None, {self.input: x.float().cpu().numpy()})[0])


def to_onnx(model: nn.Module, input_nc: int, size: int) -> bytes:
    """An inference generator (per-image batch norm, eval mode) as an ONNX graph with dynamic batch, height
    and width, weights inside.

    The TorchScript exporter, not torch.export's: on the same unet_256 it exports in ~5 s against ~28 s, a tiny
    U-Net in 0.1 s against 10-17 s, and gives the same graph (InstanceNormalization for the per-image norm)."""
    _optional("onnx", "ONNX export")
    model = copy.deepcopy(model).float().cpu().eval()
    example = torch.zeros(2, input_nc, size, size)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # "legacy exporter" and "instance_norm exported with train=True": the per-image statistics we want
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), buf, dynamo=False, opset_version=ONNX_OPSET,
                          input_names=[ONNX_INPUT], output_names=[ONNX_OUTPUT],
                          dynamic_axes={ONNX_INPUT: ONNX_AXES, ONNX_OUTPUT: ONNX_AXES})
    return buf.getvalue()
