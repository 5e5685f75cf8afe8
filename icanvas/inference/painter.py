"""The one inference object: `Painter` loads a generator, reads a drawing for it and paints.

`generate`, `compare` and `serve` reach a generator only through a Painter, so one place decides the device,
the precision and the engine (as diffusers' pipelines do):

    painter = Painter.from_pretrained("demo", root=root)      # a theme's installed model, on the policy's runtime
    painter = Painter.from_pretrained(Path("runs/demo/r/checkpoints/epoch_0010.safetensors"), precision="fp32")
    painter = Painter.from_pretrained(Path("exported/demo"))   # an `icanvas export` folder: ONNX Runtime
    picture = painter(load_rgb("drawing.png"))                 # normalise, colour blank parts, paint
    painter(load_rgb("drawing.png"), variation=3)               # another colouring of the same drawing
    painter.engine, painter.precision                          # what it picked: "torch" "bf16", "onnxruntime" "fp32"
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from icanvas.core.errors import BadInput, NotFound
from icanvas.core.paths import model_dir, resolve_root
from icanvas.core.runtime import DEFAULT_THEME_ENV, default_theme, resolve_runtime, warn
from icanvas.core.themes import THEMES
from icanvas.engines.runners import OnnxRunner, cached_graph
from icanvas.inference.generator_engines import OnnxModel, TorchModel, generator_onnx
from icanvas.pix2pix.checkpoints import (
    ONNX_NAME,
    WEIGHTS_NAME,
    ModelInfo,
    installed_themes,
    load_generator,
    read_info,
    run_colour_book,
)
from icanvas.pix2pix.inputs import encode_input, hint_layers
from icanvas.pix2pix.networks import GeneratorConfig
from icanvas.sketch.colouring import BOOK_NAME, ColourBook, auto_colour, method_for
from icanvas.sketch.hints import empty_hints
from icanvas.sketch.normalize import Drawing, NormalizeOptions, normalize_drawing, normalize_sketch

PLAIN = GeneratorConfig()   # sketches_to_tensor's default: a plain model reading 3 equal channels


def locate_model(source: str | Path | None, root: str | Path | None = None) -> Path:
    """What Painter.from_pretrained and export accept, as a path: a checkpoint file or model folder (a Path, or
    a str that names one or looks like a path), a theme name (its installed model under root), or None (see
    resolve_model)."""
    if isinstance(source, str) and not Path(source).exists() and "/" not in source and not Path(source).suffix:
        return resolve_model(resolve_root(root), theme=source)   # a name, not a path that is missing
    if source is None:
        return resolve_model(resolve_root(root))
    return resolve_model(resolve_root(root), checkpoint=Path(source))


def resolve_model(root: Path, theme: str | None = None, checkpoint: Path | None = None) -> Path:
    """The checkpoint file or installed model folder to use: the checkpoint, else the theme's installed model,
    else the only installed model, else $ICANVAS_THEME's; otherwise a NotFound that lists what is installed."""
    if checkpoint is not None:
        if not Path(checkpoint).exists():
            raise NotFound(f"{checkpoint}: no such checkpoint")
        return Path(checkpoint)
    installed = installed_themes(root)
    if theme is None:
        if len(installed) == 1:
            theme = installed[0]
        elif default_theme():
            theme = default_theme()
        else:
            listed = ", ".join(installed) if installed else "none"
            raise NotFound(f"which model? pass --theme or --checkpoint (installed themes in {root / 'models'}: "
                           f"{listed}; ${DEFAULT_THEME_ENV} sets a default)")
    if theme in installed:
        return model_dir(root, theme)
    if theme not in THEMES:
        raise NotFound(f"unknown theme '{theme}': choose one of {', '.join(THEMES)}")
    raise NotFound(f"no model installed for theme '{theme}' in {model_dir(root, theme)}: train or fetch one: "
                   f"'icanvas train --theme {theme}', then 'icanvas compare <run> --sketches DIR --select'")


def sketches_to_tensor(sketches: Sequence[np.ndarray | Drawing],
                       config: GeneratorConfig = PLAIN) -> torch.Tensor:
    """Normalised drawings (Drawing, or bare HxW uint8 lines: 255 = paper, 0 = line), all the same size, to the
    Nx{input_nc}xHxW input of a generator with this config (pix2pix.inputs): a model with hints reads their
    colour, a plain one only the lines."""
    drawings = [s if isinstance(s, Drawing) else Drawing(np.asarray(s, dtype=np.uint8)) for s in sketches]
    lines = np.stack([d.lines for d in drawings])
    x = torch.from_numpy(lines).float().div_(127.5).sub_(1.0).unsqueeze(1)
    layers = None
    if config.hints and any(d.coloured for d in drawings):
        size = lines.shape[1:]
        layers = torch.from_numpy(np.stack([
            hint_layers(d.lines, d.hints if d.hints is not None else empty_hints(*size), config.hint_fill, d.chosen)
            for d in drawings])).permute(0, 3, 1, 2).float().div_(255.0)
    return encode_input(x, layers, config).contiguous()


def tensor_to_images(y: torch.Tensor) -> list[np.ndarray]:
    """Nx3xHxW in [-1, 1] to a list of HxWx3 uint8 RGB arrays."""
    arr = ((y.detach().float().clamp(-1, 1) + 1.0) * 127.5 + 0.5).to(torch.uint8)
    return list(arr.permute(0, 2, 3, 1).cpu().numpy())


class Painter:
    """A generator ready for inference (see pix2pix.networks.per_image_statistics) with what it needs to read
    a drawing (its size and training sketch style) and how it runs (see inference.generator_engines): `engine`
    (torch or onnxruntime), `precision` (fp32 or bf16) and `device`.

    Painter(model, info, source, precision=...) runs a torch module as given in fp32, or a bf16 copy of it made
    here (then build a new Painter to follow later changes to its weights); Painter(OnnxModel(...), ...) runs
    an ONNX graph. Painter.from_pretrained loads and picks both.

    A hint model with a colour book (sketch.colouring) colours line drawings: the parts a child left blank get
    chosen colours before painting, and a variation is another colouring (the generator itself then runs
    deterministically, on any engine)."""

    def __init__(self, model: nn.Module | OnnxModel, info: ModelInfo, source: Path, *,
                 precision: str = "auto", book: ColourBook | None = None,
                 dropout: nn.Module | None = None) -> None:
        if isinstance(model, OnnxModel):
            if precision == "bf16":
                raise BadInput(f"{source}: precision bf16: engine onnxruntime runs fp32 only (use --engine torch)")
            self.runner: TorchModel | OnnxModel = model
        else:
            self.runner = TorchModel(model, precision)
        self.info = info
        self.source = Path(source)
        self.book = book if info.generator.hints else None
        # the torch module beside an ONNX graph, for dropout variations (a model without a colour book)
        self.dropout = TorchModel(dropout, "fp32") if dropout is not None and self.book is None else None

    @classmethod
    def from_pretrained(cls, source: str | Path | None = None, *, root: str | Path | None = None,
                        device: str | torch.device = "auto", precision: str = "auto",
                        engine: str = "auto", auto_colour: bool = True,
                        colouring: str | None = None) -> "Painter":
        """Load a model. source: a checkpoint file, an installed model folder or an exported one, a theme name
        (its model installed under root), or None (the only installed model, else $ICANVAS_THEME's): see
        locate_model. root: default as everywhere (--root, $ICANVAS_HOME, ~/.icanvas).

        device, precision (auto|fp32|bf16) and engine (auto|torch|onnxruntime): core.runtime.resolve_runtime;
        auto is torch bf16 where bf16 is native, else ONNX Runtime fp32 on the CPU, on the checkpoint's graph
        cached under root (made at the first load, ~5 s; a graph that cannot be made falls back to torch fp32
        with a warning). An exported folder (only model.onnx) runs on onnxruntime.

        auto_colour: colour the blank parts of drawings where the model has a colour book (False: paint them as
        the model does from lines alone); colouring: the book's method (sketch.colouring.METHODS)."""
        path = locate_model(source, root)
        book = _colour_book(path, colouring) if auto_colour else None
        if path.is_dir() and not (path / WEIGHTS_NAME).is_file() and (path / ONNX_NAME).is_file():
            if engine == "torch":
                raise BadInput(f"{path}: an exported model (model.onnx, no {WEIGHTS_NAME}) runs on engine "
                               "onnxruntime only")
            resolve_runtime("cpu" if device == "auto" else device, precision, "onnxruntime")   # checks them
            onnx = OnnxModel(OnnxRunner(path / ONNX_NAME, str(path)))
            return cls(onnx, read_info(path), path, book=book)
        runtime = resolve_runtime(device, precision, engine)
        model, info = load_generator(path, runtime.device)
        if runtime.engine == "torch":
            return cls(model, info, path, precision=runtime.precision, book=book)
        g = info.generator
        try:
            graph = cached_graph(resolve_root(root), "generator", model,
                                 lambda metadata: generator_onnx(model, g.input_nc, g.size, metadata))
        except BadInput as exc:
            if engine != "auto":
                raise
            warn(f"{exc}; running torch fp32")
            return cls(model, info, path, precision="fp32", book=book)
        return cls(OnnxModel(graph), info, path, book=book, dropout=model)

    @property
    def size(self) -> int:
        return self.info.generator.size

    @property
    def model(self) -> nn.Module | OnnxModel:
        """What runs: the torch module (the bf16 copy in bf16) or the ONNX session."""
        return self.runner.model if isinstance(self.runner, TorchModel) else self.runner

    @property
    def device(self) -> torch.device:
        return self.runner.device

    @property
    def engine(self) -> str:
        return self.runner.engine

    @property
    def precision(self) -> str:
        return self.runner.precision

    @property
    def variations(self) -> bool:
        """Whether paint(variation=seed) works: colourings where the model colours line drawings, else dropout
        (which an exported ONNX graph does not have)."""
        return self.book is not None or self.runner.variations or self.dropout is not None

    def runtime(self) -> dict[str, str]:
        """How this painter runs, for --json summaries and /readyz."""
        return {"engine": self.engine, "precision": self.precision, "device": str(self.device),
                "colouring": self.book.method if self.book is not None else "off"}

    @property
    def hints(self) -> bool:
        """Whether this model reads crayon colour (a hint model: see pix2pix.inputs)."""
        return self.info.generator.hints

    def read(self, rgb: np.ndarray, options: NormalizeOptions = NormalizeOptions(),
             crayons: np.ndarray | None = None) -> Drawing:
        """A drawing as sent (HxWx3 uint8) to what this model reads (see sketch.normalize): its lines, and for a
        model with hints its crayon colour (options.hints=False ignores colour), read from the drawing or, where
        given, from `crayons`, a crayon layer sent apart (HxWx4 RGBA). For a plain model every stroke, coloured or
        not, is a line and a crayon layer is ignored."""
        if self.hints:
            return normalize_drawing(rgb, self.size, self.info.sketch_style, options, crayons)
        return Drawing(normalize_sketch(rgb, self.size, self.info.sketch_style, options))

    def colour(self, drawing: Drawing, variation: int | None = None) -> Drawing:
        """The drawing with colours chosen for the parts the child left blank (sketch.colouring.auto_colour;
        variation None: the best colouring, a seed: another, reproducibly), where this painter colours line
        drawings; else the drawing as it is."""
        if self.book is None:
            return drawing
        return replace(drawing, chosen=auto_colour(drawing.lines, self.book, drawing.hints, variation))

    def normalize(self, rgb: np.ndarray, options: NormalizeOptions = NormalizeOptions()) -> np.ndarray:
        """The lines this model sees in a drawing (see read)."""
        return self.read(rgb, options).lines

    def encode(self, sketches: Sequence[np.ndarray | Drawing], variation: int | None = None) -> torch.Tensor:
        """The generator's input (Nx{input_nc}xHxW) for normalised drawings (read) or bare lines (normalize):
        all the work before the network (colouring drawings not coloured yet, with `variation`: see colour; the
        fill of their colours), which serve does in the request's thread."""
        if self.book is not None:
            sketches = [self.colour(s if isinstance(s, Drawing) else Drawing(np.asarray(s, np.uint8)), variation)
                        if not (isinstance(s, Drawing) and s.chosen is not None) else s for s in sketches]
        return sketches_to_tensor(sketches, self.info.generator)

    def run(self, x: torch.Tensor, variation: int | None = None) -> list[np.ndarray]:
        """Pictures for generator inputs (encode), one forward pass. variation: a dropout seed for a model
        without a colour book (whose variations are colourings, chosen in encode); ignored otherwise."""
        if self.book is not None or variation is None:
            return tensor_to_images(self.runner(x))
        return tensor_to_images((self.dropout or self.runner)(x, variation))

    def paint(self, sketches: Sequence[np.ndarray | Drawing], variation: int | None = None,
              batch_size: int = 8) -> list[np.ndarray]:
        """Pictures (HxWx3 uint8 at the model size) for normalised drawings (read) or bare lines (normalize),
        batch_size per forward pass.

        variation None gives the one best picture; an integer seed a different, reproducible one: another
        colouring where this painter colours line drawings, else dropout switched on (BadInput where the model
        has no dropout: see `variations`)."""
        out: list[np.ndarray] = []
        for start in range(0, len(sketches), batch_size):
            out += self.run(self.encode(sketches[start:start + batch_size], variation), variation)
        return out

    def __call__(self, rgb: np.ndarray, options: NormalizeOptions = NormalizeOptions(),
                 variation: int | None = None) -> np.ndarray:
        """One drawing in, one picture out."""
        return self.paint([self.read(rgb, options)], variation)[0]


def _colour_book(path: Path, method: str | None) -> ColourBook | None:
    """The colour book of a model folder (declared in model.json: missing or corrupt is a BadInput naming the
    file) or of a run checkpoint (its run's, where it has one); None for models without one."""
    if path.is_dir():
        declared = read_info(path).colouring
        if not declared:
            return None
        return ColourBook.load(path / declared.get("file", BOOK_NAME), method or declared.get("method"))
    book = run_colour_book(path)
    return ColourBook.load(book, method or method_for(read_info(path).theme)) if book.is_file() else None
