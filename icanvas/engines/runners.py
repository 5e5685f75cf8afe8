"""What runs a network, whichever it is (the generator, HED, HED's VGG16 features): the engine-neutral parts of
the runtime policy in core.runtime.resolve_runtime (docs/speed.md has the measurements).

- a bf16 copy of a torch module for CPUs and GPUs that compute bf16 natively: bf16 weights made once (autocast
  would convert them at every call) and, on the CPU, convolutions over small maps as matrix products
  (SmallMapConv);
- an ONNX graph of a torch module (`to_onnx`, fp32, dynamic batch, height and width), cached on disk under the
  root, keyed by the weights' hash (`cached_graph`), and an ONNX Runtime session over it (`OnnxRunner`).
"""

from __future__ import annotations

import copy
import hashlib
import io
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from icanvas.core.errors import BadInput
from icanvas.core.io import write_bytes_atomic
from icanvas.core.runtime import warn

ONNX_OPSET = 17
IMAGE_AXES = {0: "batch", 2: "height", 3: "width"}   # an NxCxHxW tensor's dynamic axes: any batch, any size
GRAPH_FOLDER = ("cache", "graphs")   # under the root
WEIGHTS_KEY = "icanvas.weights"      # a cached graph's metadata: the hash of the weights it was made from

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


def bf16_copy(model: nn.Module) -> nn.Module:
    """A bf16 copy of a module for inference; on the CPU with SmallMapConv (GPUs' convolutions do not
    re-arrange their weights per call)."""
    device = next(model.parameters()).device
    model = copy.deepcopy(model).to(torch.bfloat16)
    return with_small_maps(model) if device.type == "cpu" else model


def weights_hash(model: nn.Module) -> str:
    """A hash of a module's parameters and buffers (names, shapes, values): what its ONNX graph is cached by."""
    h = hashlib.blake2b(digest_size=16)
    for name, tensor in model.state_dict().items():
        h.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def to_onnx(model: nn.Module, example: torch.Tensor, inputs: list[str], outputs: list[str],
            axes: dict[str, dict[int, str]], metadata: dict[str, str] | None = None) -> bytes:
    """An fp32 inference copy of `model` (eval mode) as an ONNX graph, weights inside, with the dynamic axes
    given. The TorchScript exporter, not torch.export's: on unet_256 it exports in ~5 s against ~28 s, a tiny
    U-Net in 0.1 s against 10-17 s, and gives the same graph."""
    try:
        import onnx
    except ImportError:
        raise BadInput("ONNX export: needs the Python package onnx (pip install onnx)") from None
    model = copy.deepcopy(model).float().cpu().eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # "legacy exporter" and "instance_norm exported with train=True": the per-image statistics we want
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example.float().cpu(),), buf, dynamo=False, opset_version=ONNX_OPSET,
                          input_names=inputs, output_names=outputs, dynamic_axes=axes)
    if not metadata:
        return buf.getvalue()
    graph = onnx.load_from_string(buf.getvalue())
    for key, value in metadata.items():
        graph.metadata_props.add(key=key, value=value)
    return graph.SerializeToString()


class OnnxRunner:
    """An ONNX graph run by ONNX Runtime on the CPU in fp32, one session built at load, with the threads torch
    would use. runner(x) gives the first output as a tensor; runner.run(x) all of them."""

    engine = "onnxruntime"
    precision = "fp32"
    device = torch.device("cpu")

    def __init__(self, graph: Path | bytes, name: str) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise BadInput(f"{name}: engine onnxruntime needs the Python package onnxruntime "
                           "(pip install onnxruntime)") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.log_severity_level = 3   # errors only: no "unused initializer" chatter on stderr
        try:
            self.session = ort.InferenceSession(str(graph) if isinstance(graph, Path) else graph, options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001  ORT's errors (Fail, InvalidProtobuf...) derive from Exception
            raise BadInput(f"{name}: ONNX model does not load ({type(exc).__name__}: {exc})") from None
        self.input = self.session.get_inputs()[0].name
        self.name = name

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def run(self, x: torch.Tensor) -> list[np.ndarray]:
        return self.session.run(None, {self.input: x.float().cpu().numpy()})

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.run(x)[0])


def cached_graph(root: Path | None, kind: str, model: nn.Module,
                 export: Callable[[dict[str, str]], bytes]) -> OnnxRunner:
    """An ONNX Runtime session over `model`'s graph, from <root>/cache/graphs/<kind>-<hash>.onnx where it is
    there and was made from these very weights, else exported now (export(metadata) -> graph bytes) and cached
    there (root None: not cached). A cached file that does not load or names other weights is made again, with
    one warning line; a cache that cannot be written is skipped the same way. BadInput where ONNX Runtime
    cannot run the graph at all."""
    key = weights_hash(model)
    metadata = {WEIGHTS_KEY: key, "icanvas.torch": torch.__version__}
    path = Path(root).joinpath(*GRAPH_FOLDER, f"{kind}-{key[:20]}.onnx") if root is not None else None
    stale = None
    if path is not None and path.is_file():
        try:
            runner = OnnxRunner(path, str(path))
            if runner.metadata.get(WEIGHTS_KEY) == key:
                return runner
            stale = f"{path}: a cached graph of other weights"
        except BadInput as exc:
            stale = str(exc)
    graph = export(metadata)
    runner = OnnxRunner(graph, kind)   # where ONNX Runtime itself is broken, this says so (and nothing is cached)
    if stale:
        warn(f"{stale}; made it again")
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(path, graph)
        except OSError as exc:
            warn(f"{path}: cannot cache the graph ({exc.strerror or exc}); it is made again at the next start")
    return runner
