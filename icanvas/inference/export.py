"""`icanvas export` as a library call: a run checkpoint or an installed model to a folder ONNX Runtime runs.

    DIR/model.onnx   the generator as Painter runs it (per-image batch norm, no dropout), fp32, opset 17:
                     input "sketch" Nx{input_nc}xHxW in [-1, 1], output "picture" Nx3xHxW in [-1, 1], with
                     dynamic batch, height and width (the U-Net needs H and W multiples of its size)
    DIR/model.json   the ModelInfo, plus "export": {"format": "onnx", ...}

`Painter.from_pretrained(DIR)` (so `generate --checkpoint DIR`) runs it on ONNX Runtime; a DIR at
<root>/models/<theme>/ is served like an installed model. The weights are read from safetensors: nothing is
unpickled.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from icanvas.core.errors import BadInput
from icanvas.core.io import write_bytes_atomic, write_json_atomic
from icanvas.engines.runners import IMAGE_AXES, ONNX_OPSET, OnnxRunner
from icanvas.inference.generator_engines import ONNX_INPUT, ONNX_OUTPUT, generator_onnx
from icanvas.inference.painter import locate_model
from icanvas.pix2pix.checkpoints import INFO_NAME, ONNX_NAME, WEIGHTS_NAME, load_generator, run_colour_book
from icanvas.sketch.colouring import BOOK_NAME, ColourBook

PARITY = 1e-3   # largest difference to torch fp32 (on [-1, 1]) an export may have; measured: about 1e-6


@dataclass
class ExportResult:
    source: Path
    out: Path
    files: list[str]
    max_abs_diff: float     # ONNX Runtime against torch fp32, on two random inputs at the model size


def _parity(graph: bytes, generator: torch.nn.Module, input_nc: int, size: int, name: str) -> float:
    x = torch.rand(2, input_nc, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        expected = generator(x)
    return float((OnnxRunner(graph, name)(x) - expected).abs().max())


def _shape(channels: int) -> list:
    return [IMAGE_AXES.get(i, channels) for i in range(4)]


def export_model(source: str | Path | None, out: Path, *, root: str | Path | None = None,
                 force: bool = False) -> ExportResult:
    """Export `source` (a checkpoint file, an installed model folder or a theme name: see
    painter.locate_model) to out/model.onnx + out/model.json, after checking ONNX Runtime's pictures against
    torch's. BadInput if out exists (unless force: its two files are replaced) or cannot be written."""
    path = locate_model(source, root)
    if path.is_dir() and not (path / WEIGHTS_NAME).is_file():
        raise BadInput(f"{path}: no {WEIGHTS_NAME} to export (an exported model already?)")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"{out}: exists and is not a folder")
    if out.exists() and not force:
        raise BadInput(f"{out}: already exists (--force replaces the export in it)")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)   # first, so that an unwritable place fails before the work
    except OSError as exc:
        raise BadInput(f"{out}: cannot create the folder ({exc.strerror or exc})") from None
    try:
        generator, info = load_generator(path, "cpu")
        g = info.generator
        graph = generator_onnx(generator, g.input_nc, g.size)
        diff = _parity(graph, generator, g.input_nc, g.size, str(path))
        if not np.isfinite(diff) or diff > PARITY:
            raise BadInput(f"{path}: the ONNX graph's pictures differ from torch's by {diff:.2g} (more than "
                           f"{PARITY:g}); nothing written")
        book = _colour_book_file(path, info.colouring)
        info.colouring = {**info.colouring, "file": BOOK_NAME} if book is not None else {}
        meta = {**info.to_dict(), "export": {
            "format": "onnx", "file": ONNX_NAME, "opset": ONNX_OPSET, "precision": "fp32",
            "input": {"name": ONNX_INPUT, "shape": _shape(g.input_nc), "range": [-1, 1]},
            "output": {"name": ONNX_OUTPUT, "shape": _shape(g.output_nc), "range": [-1, 1]},
            "batch_norm": "per image (InstanceNormalization with the batch norm's scale and shift)",
            "variations": book is not None, "source": str(path), "torch": torch.__version__, "max_abs_diff": diff}}
        try:
            write_bytes_atomic(out / ONNX_NAME, graph)
            if book is not None:
                write_bytes_atomic(out / BOOK_NAME, book.read_bytes())
            write_json_atomic(out / INFO_NAME, meta)
        except OSError as exc:
            raise BadInput(f"{out}: cannot write the export ({exc.strerror or exc})") from None
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    files = [out / ONNX_NAME] + ([out / BOOK_NAME] if book is not None else []) + [out / INFO_NAME]
    return ExportResult(path, out, [str(f) for f in files], diff)


def _colour_book_file(path: Path, colouring: dict) -> Path | None:
    """The colour book that goes with a model folder (named in its model.json: `colouring`) or a run checkpoint
    (its run's, if any), checked (missing or corrupt: BadInput naming the file); None if there is none."""
    if path.is_dir():
        book = path / colouring.get("file", BOOK_NAME) if colouring else None
    else:
        book = run_colour_book(path)
        book = book if book.is_file() else None
    if book is not None:
        ColourBook.load(book)
    return book
