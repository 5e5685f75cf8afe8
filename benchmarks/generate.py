"""`icanvas generate` speed: time per picture for each engine and precision against torch fp32 eager, in one run.

One unet_256 (ngf 64, random weights: speed does not depend on training). The baseline, "torch fp32 eager",
is the network as icanvas ran it before engines and precisions (the per-image module, fp32, eager). Against it:
Painter.from_pretrained as generate loads it, in torch fp32, torch bf16 (bf16 copy, small-map matrix products:
see icanvas/inference/generator_engines.py) and ONNX Runtime fp32 (where onnxruntime is installed; the checkpoint is
exported in memory at load). Each paints normalised sketches at batch 1 and 8, the tensor in and the uint8
pictures out included. The configurations take turns within every round, so a busy machine slows all alike:
read the ratios. p99 is over rounds x 8 pictures at batch 1 and over rounds batches at batch 8 (then it is about
the slowest batch).

    python benchmarks/generate.py                    # 5 rounds at batch 1 and 8 on the CPU
    python benchmarks/generate.py --rounds 2 --batch 1 --json
    python benchmarks/generate.py --variants          # also the paths not taken: bf16 autocast channels_last,
                                                      # bf16 without the small-map products, fp32 channels_last;
                                                      # --compile adds torch.compile (it compiles for minutes)
    python benchmarks/generate.py --device cuda

The figures, with the commit, the machine and the date, go to benchmarks/results/generate-<date>-<time>.json
(see benchmarks/results.py).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from icanvas.core.runtime import cpu_has_bf16, resolve_device, resolve_runtime
from icanvas.inference.painter import Painter, sketches_to_tensor, tensor_to_images
from icanvas.pix2pix.checkpoints import ModelInfo, load_generator, save_generator
from icanvas.pix2pix.networks import GeneratorConfig, UnetGenerator, init_weights
from results import write_result

BASELINE = "torch fp32 eager"
Paint = Callable[[list[np.ndarray]], list[np.ndarray]]


def sketches(n: int, size: int) -> list[np.ndarray]:
    """Line drawings as the model sees them: white paper, a few black strokes."""
    import cv2

    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        img = np.full((size, size), 255, np.uint8)
        for _ in range(12):
            a, b = rng.integers(0, size, 2), rng.integers(0, size, 2)
            cv2.line(img, tuple(int(v) for v in a), tuple(int(v) for v in b), 0, 2)
        out.append(img)
    return out


def runner(module: torch.nn.Module, config: GeneratorConfig, device: torch.device, *,
           dtype: torch.dtype = torch.float32,
           fmt: torch.memory_format = torch.contiguous_format, autocast: bool = False) -> Paint:
    """Paint with a bare module, with the same tensor in and pictures out as Painter.paint."""
    @torch.inference_mode()
    def paint(batch: list[np.ndarray]) -> list[np.ndarray]:
        x = sketches_to_tensor(batch, config).to(device, dtype).contiguous(memory_format=fmt)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            return tensor_to_images(module(x))
    return paint


def variants(plain: torch.nn.Module, config: GeneratorConfig, device: torch.device,
             compile_too: bool) -> dict[str, Paint]:
    """The paths measured and not taken."""
    cl = copy.deepcopy(plain).to(memory_format=torch.channels_last)
    bf16_cl = copy.deepcopy(plain).to(torch.bfloat16, memory_format=torch.channels_last)
    out = {"torch bf16 autocast channels_last": runner(cl, config, device, fmt=torch.channels_last, autocast=True),
           "torch bf16 channels_last, no small-map products": runner(bf16_cl, config, device, dtype=torch.bfloat16,
                                                                     fmt=torch.channels_last),
           "torch fp32 channels_last": runner(cl, config, device, fmt=torch.channels_last)}
    if compile_too:
        out["torch.compile fp32"] = runner(torch.compile(copy.deepcopy(plain), dynamic=True), config, device)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--variants", action="store_true", help="also the paths not taken (see above)")
    ap.add_argument("--compile", action="store_true", help="with --variants: also torch.compile (minutes)")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = ap.parse_args()

    device = resolve_device(args.device)
    inputs = sketches(max(args.batch), args.size)
    paints: dict[str, Paint] = {}
    load_s: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        config = GeneratorConfig(size=args.size, ngf=args.ngf)
        checkpoint = save_generator(Path(tmp) / "unet.safetensors", init_weights(UnetGenerator(config)),
                                    ModelInfo(theme="demo", generator=config))
        plain, _ = load_generator(checkpoint, device)
        paints[BASELINE] = runner(plain, config, device)
        engines = [("torch", "fp32")]
        if device.type == "cuda" or cpu_has_bf16():   # emulated bf16 (AVX2) is many times slower: not a path
            engines.append(("torch", "bf16"))
        if importlib.util.find_spec("onnxruntime") and device.type == "cpu":
            engines.append(("onnxruntime", "fp32"))
        for engine, precision in engines:
            start = time.perf_counter()
            painter = Painter.from_pretrained(checkpoint, root=tmp, device=device, precision=precision,
                                              engine=engine)
            load_s[f"{engine} {precision}"] = time.perf_counter() - start
            paints[f"{engine} {precision}"] = lambda batch, p=painter: p.paint(batch, batch_size=len(batch))
    if args.variants:
        paints.update(variants(plain, config, device, args.compile))

    reference = paints[BASELINE](inputs)
    quality, warm_s = {}, {}
    for name, paint in paints.items():
        start = time.perf_counter()
        for b in args.batch:               # warm up every shape (and compile, for torch.compile)
            paint(inputs[:b])
        warm_s[name] = time.perf_counter() - start
        diff = np.abs(np.stack(paint(inputs)).astype(int) - np.stack(reference).astype(int))
        quality[name] = {"max_abs_diff_levels": int(diff.max()), "mean_abs_diff_levels": float(diff.mean())}
        print(f"{name}: load {load_s.get(name, 0):.1f} s, warm-up {warm_s[name]:.1f} s, pictures within "
              f"{diff.max()} levels of fp32 (mean {diff.mean():.2f})", file=sys.stderr)

    times = {(name, b): [] for name in paints for b in args.batch}
    for rnd in range(args.rounds):
        order = list(paints) if rnd % 2 == 0 else list(reversed(paints))
        for b in args.batch:
            for name in order:
                for _ in range(max(1, 8 // b)):        # as many pictures per round at every batch size
                    start = time.perf_counter()
                    paints[name](inputs[:b])
                    times[(name, b)].append((time.perf_counter() - start) * 1000 / b)
        print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)

    rows = {}
    for (name, b), ms in times.items():
        rows[f"{name} batch {b}"] = {"p50_ms_per_picture": float(np.percentile(ms, 50)),
                                     "p99_ms_per_picture": float(np.percentile(ms, 99)), "samples": len(ms)}
    ratios = {f"{name} batch {b}": rows[f"{BASELINE} batch {b}"]["p50_ms_per_picture"]
              / rows[f"{name} batch {b}"]["p50_ms_per_picture"] for name in paints for b in args.batch}
    result = {"model": f"unet_{args.size} ngf {args.ngf}", "device": str(device), "rounds": args.rounds,
              "cpu_threads": torch.get_num_threads(), "auto": resolve_runtime(device).describe(),
              "rows": rows, "speedup_over_torch_fp32_p50": ratios, "load_s": load_s, "warm_up_s": warm_s,
              "pictures_vs_fp32": quality}
    path = write_result("generate", result)
    print(f"results: {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    width = max(len(k) for k in rows) + 2
    print(f"{'configuration':<{width}}{'p50 ms':>9}{'p99 ms':>9}{'vs fp32':>9}")
    for key, r in rows.items():
        print(f"{key:<{width}}{r['p50_ms_per_picture']:>9.1f}{r['p99_ms_per_picture']:>9.1f}{ratios[key]:>8.2f}x")
    print(f"auto on this machine: {result['auto']['engine']} {result['auto']['precision']}")
    print("pictures against torch fp32 eager, in 8-bit levels: " + ", ".join(
        f"{name} max {q['max_abs_diff_levels']}, mean {q['mean_abs_diff_levels']:.2f}" for name, q in quality.items()
        if name != BASELINE))


if __name__ == "__main__":
    main()
