"""pix2pix networks as junyanz/pytorch-CycleGAN-and-pix2pix defines them: U-Net generator, PatchGAN critic."""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from icanvas.pix2pix.inputs import hint_input_nc


@dataclass(frozen=True)
class GeneratorConfig:
    size: int = 256          # input/output side; the U-Net has log2(size) down-samplings
    ngf: int = 64            # filters in the outermost layer
    input_nc: int = 3        # sketches are fed as 3 equal channels, as pix2pix does (hint models: see inputs)
    output_nc: int = 3
    norm: str = "batch"
    hints: bool = False      # reads colour hint layers beside the sketch (pix2pix.inputs)
    hint_fill: bool = False  # ... and their fill over the drawing's regions (sketch.fill)
    fill_prior: bool = False  # ... and paints over that fill rather than from nothing (UnetGenerator.forward)

    def __post_init__(self) -> None:
        """Types and bounds, so that a hostile model.json fails here, in one clear line, and cannot ask for a
        network that exhausts memory."""
        for name, low, high in (("size", 32, 1024), ("ngf", 1, 128), ("input_nc", 1, 16), ("output_nc", 3, 3)):
            value = getattr(self, name)
            if type(value) is not int or not low <= value <= high:
                raise ValueError(f"generator {name} {value!r}: expected an integer in [{low}, {high}]")
        if self.size & (self.size - 1):
            raise ValueError(f"generator size {self.size}: expected a power of two")
        if self.norm not in ("batch", "instance"):
            raise ValueError(f"generator norm {self.norm!r}: expected 'batch' or 'instance'")
        for name in ("hints", "hint_fill", "fill_prior"):
            if type(getattr(self, name)) is not bool:
                raise ValueError(f"generator {name} {getattr(self, name)!r}: expected true or false")
        if self.hints and self.input_nc != hint_input_nc(self.hint_fill):
            raise ValueError(f"generator input_nc {self.input_nc}: this model with hints reads "
                             f"{hint_input_nc(self.hint_fill)}")
        if self.fill_prior and not (self.hints and self.hint_fill):
            raise ValueError("generator fill_prior: only a model that reads the hints' fill can paint over it")

    @classmethod
    def for_training(cls, size: int, ngf: int, hints: bool, hint_fill: bool,
                     fill_prior: bool = False) -> "GeneratorConfig":
        return cls(size=size, ngf=ngf, input_nc=hint_input_nc(hint_fill) if hints else 3, hints=hints,
                   hint_fill=hints and hint_fill, fill_prior=hints and hint_fill and fill_prior)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


PRIOR_LIMIT = 0.96   # fill colours are clamped here before atanh: white paper stays finite (atanh(0.96) = 1.95)


def _norm_layer(norm: str):
    if norm == "batch":
        return nn.BatchNorm2d
    if norm == "instance":
        return lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)
    raise ValueError(f"unknown norm '{norm}' (batch or instance)")


class UnetBlock(nn.Module):
    """One level of the U-Net: down-sample, the inner levels, up-sample, and the skip connection around them."""

    def __init__(self, outer_nc: int, inner_nc: int, *, input_nc: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", dropout: bool = False) -> None:
        super().__init__()
        self.outermost = outermost
        norm_layer = _norm_layer(norm)
        use_bias = norm == "instance"  # batch norm has its own shift
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu, uprelu = nn.LeakyReLU(0.2, True), nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            layers = [downrelu, downconv, uprelu, upconv, norm_layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            layers = [downrelu, downconv, norm_layer(inner_nc), submodule, uprelu, upconv, norm_layer(outer_nc)]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """unet_256 at size 256, unet_128 at 128: log2(size) levels, dropout in the three innermost decoders."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        num_downs = int(round(math.log2(config.size)))
        if 2 ** num_downs != config.size or num_downs < 5:
            raise ValueError(f"size must be a power of two >= 32, got {config.size}")
        self.config = config
        ngf, norm = config.ngf, config.norm
        block = UnetBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=True)
        block = UnetBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetBlock(ngf, ngf * 2, submodule=block, norm=norm)
        # A model that paints over the fill has two heads (forward): its own colours and a change to the fill's.
        heads = 2 if config.fill_prior else 1
        self.model = UnetBlock(config.output_nc * heads, ngf, input_nc=config.input_nc, submodule=block,
                               outermost=True, norm=norm)
        if config.fill_prior:   # the Tanh moves to forward, after the heads are joined
            self.model.model[-1] = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.config.fill_prior:
            return self.model(x)
        # Where the hints' fill (pix2pix.inputs: its colour and mask are the last four channels) lies, the picture
        # starts from the fill's colour and the second head changes it (shading, texture, lines), so a crayon's
        # colour costs nothing to learn; elsewhere the first head paints, as a plain model does. Two heads, not
        # one, so that the first never learns to paint nothing where a fill usually lies.
        colour, mask = x[:, -4:-1], x[:, -1:]
        own, change = self.model(x).chunk(2, dim=1)
        colour = colour.clamp(-PRIOR_LIMIT, PRIOR_LIMIT)
        over_fill = 0.5 * torch.log((1 + colour) / (1 - colour)) + change   # atanh, which ONNX export lacks
        return torch.tanh(own + mask * (over_fill - own))


class PatchDiscriminator(nn.Module):
    """The 70x70 PatchGAN ('basic', n_layers=3): one real/fake logit per overlapping patch."""

    def __init__(self, input_nc: int = 6, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        norm_layer = _norm_layer(norm)
        use_bias = norm == "instance"
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=use_bias),
                       norm_layer(ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """pix2pix's 'normal' init: conv weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


class ImageNorm(nn.Module):
    """A batch norm's scale and shift over each image's own statistics (instance norm with its affine)."""

    def __init__(self, bn: nn.Module) -> None:
        super().__init__()
        self.eps = bn.eps
        self.weight = bn.weight
        self.bias = bn.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)


def per_image_statistics(net: nn.Module) -> nn.Module:
    """A twin of `net` in eval mode whose batch norms normalise every image by its own statistics.

    This is how pix2pix's authors test (batch norm on the statistics of a test batch of one), and it holds steady
    where the running statistics of a short GAN training do not (validation L1 swung 0.24..0.80 across epochs in
    eval mode, 0.27..0.28 this way). Per image, not per batch, so a picture never depends on its batch mates.

    The twin shares `net`'s parameters and buffers (no copy of the weights): built once, it follows training.
    """
    shared = {id(t): t for t in itertools.chain(net.parameters(), net.buffers())}
    twin = copy.deepcopy(net, shared)
    for module in list(twin.modules()):
        for name, child in module.named_children():
            if isinstance(child, (nn.BatchNorm2d, nn.SyncBatchNorm)):
                setattr(module, name, ImageNorm(child))
    return twin.eval()
