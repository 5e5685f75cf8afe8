"""Generator weights as safetensors with a JSON description beside them; the registry of installed models.

A run checkpoint `runs/<theme>/<run>/checkpoints/epoch_NNNN.safetensors` holds the generator's weights with
its ModelInfo (JSON) in the safetensors metadata. An installed model `models/<theme>/` holds
`generator.safetensors` + `model.json`, or `model.onnx` + `model.json` where it is an exported model (see
icanvas.inference.export). None of them is unpickled.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from icanvas import __version__
from icanvas.core.errors import BadInput, IcanvasError, NotFound
from icanvas.core.io import atomic_path, write_bytes_atomic, write_json_atomic
from icanvas.core.paths import check_name, model_dir
from icanvas.pix2pix.networks import GeneratorConfig, UnetGenerator, per_image_statistics
from icanvas.sketch.colouring import BOOK_NAME, ColourBook, method_for

META_KEY = "icanvas_model"
WEIGHTS_NAME = "generator.safetensors"
INFO_NAME = "model.json"
ONNX_NAME = "model.onnx"     # an `icanvas export` folder: model.onnx + model.json (see inference.export)


@dataclass
class ModelInfo:
    """Everything needed to run a generator, plus where it came from."""

    theme: str
    generator: GeneratorConfig
    run: str | None = None
    epoch: int | None = None
    sketch_style: dict = field(default_factory=dict)   # how the training sketches look (see sketch.lines)
    metrics: dict = field(default_factory=dict)        # scores at selection time
    colouring: dict = field(default_factory=dict)      # the colour book beside the weights (sketch.colouring)
    icanvas_version: str = __version__

    def to_dict(self) -> dict:
        d = asdict(self)
        d["generator"] = self.generator.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelInfo":
        """ModelInfo from JSON, checked: ValueError or TypeError names what is wrong."""
        if not isinstance(d, dict) or not isinstance(d.get("generator", {}), dict):
            raise TypeError("expected a JSON object with a 'generator' object")
        d = dict(d)
        d["generator"] = GeneratorConfig.from_dict(d.get("generator", {}))
        info = cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
        check_name("theme", info.theme)
        kinds = {"run": (str, type(None)), "epoch": (int, type(None)), "sketch_style": dict, "metrics": dict,
                 "colouring": dict}
        for name, kind in kinds.items():
            if not isinstance(getattr(info, name), kind) or isinstance(getattr(info, name), bool):
                raise TypeError(f"{name} {getattr(info, name)!r}: wrong type")
        return info


def _state(generator: torch.nn.Module) -> dict[str, torch.Tensor]:
    module = getattr(generator, "module", generator)  # unwrap DistributedDataParallel
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def save_generator(path: Path, generator: torch.nn.Module, info: ModelInfo) -> Path:
    """Write the weights and their ModelInfo into one safetensors file, atomically."""
    with atomic_path(Path(path), durable=True) as tmp:
        save_file(_state(generator), str(tmp), metadata={META_KEY: json.dumps(info.to_dict())})
    return Path(path)


def read_info(path: Path) -> ModelInfo:
    """The ModelInfo of a checkpoint file or an installed model folder, checked, without loading the weights."""
    path = Path(path)
    try:
        if path.is_dir():
            meta = (path / INFO_NAME).read_text()
        else:
            with safe_open(str(path), framework="pt") as f:
                meta = (f.metadata() or {}).get(META_KEY)
    except FileNotFoundError:
        raise NotFound(f"{path}: no such model or checkpoint") from None
    except (SafetensorError, OSError) as exc:
        raise BadInput(f"{path}: unreadable model ({exc})") from None
    if meta is None:
        raise BadInput(f"{path}: not an icanvas generator checkpoint (no '{META_KEY}' metadata)")
    try:
        return ModelInfo.from_dict(json.loads(meta))
    except (ValueError, TypeError, KeyError, IcanvasError) as exc:
        raise BadInput(f"{path}: unreadable model ({exc})") from None


def load_generator(path: Path, device: str | torch.device = "cpu", *,
                   for_inference: bool = True) -> tuple[torch.nn.Module, ModelInfo]:
    """A generator from a checkpoint file or an installed model folder: ready for inference (eval mode,
    per-image batch norm: see per_image_statistics), or with for_inference=False the plain network as trained
    (train mode, batch norm), e.g. to fine-tune it."""
    path = Path(path)
    if not path.exists():
        raise NotFound(f"{path}: no such model or checkpoint")
    info = read_info(path)
    weights = path / WEIGHTS_NAME if path.is_dir() else path
    net = UnetGenerator(info.generator)
    try:
        net.load_state_dict(load_file(str(weights)))
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise BadInput(f"{weights}: weights do not load ({exc})") from None
    net = net.to(device)
    return (per_image_statistics(net) if for_inference else net), info


def run_colour_book(checkpoint: Path) -> Path:
    """Where a run checkpoint's colour book lies: in its run folder (runs/<theme>/<run>/colours.safetensors)."""
    return Path(checkpoint).parent.parent / BOOK_NAME


def install_model(root: Path, checkpoint: Path, *, metrics: dict | None = None, theme: str | None = None) -> Path:
    """Copy a run checkpoint to models/<theme>/ as generator.safetensors + model.json, with its run's colour
    book (colours.safetensors) where the run has one."""
    info = read_info(checkpoint)
    if metrics is not None:
        info.metrics = metrics
    if theme is not None:
        info.theme = theme
    target = model_dir(root, info.theme)
    target.mkdir(parents=True, exist_ok=True)
    weights = load_file(str(checkpoint))
    with atomic_path(target / WEIGHTS_NAME, durable=True) as tmp:
        save_file(weights, str(tmp), metadata={META_KEY: json.dumps(info.to_dict())})
    book = run_colour_book(checkpoint)
    if book.is_file():
        info.colouring = {"file": BOOK_NAME, "method": method_for(info.theme),
                          "exemplars": len(ColourBook.load(book))}
        write_bytes_atomic(target / BOOK_NAME, book.read_bytes())
    else:
        info.colouring = {}
        (target / BOOK_NAME).unlink(missing_ok=True)
    write_json_atomic(target / INFO_NAME, info.to_dict())
    return target


def installed_themes(root: Path) -> list[str]:
    """Themes with an installed model under <root>/models/: model.json with the weights or an exported model."""
    base = Path(root) / "models"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir()
                  if (p / INFO_NAME).is_file() and ((p / WEIGHTS_NAME).is_file() or (p / ONNX_NAME).is_file()))
