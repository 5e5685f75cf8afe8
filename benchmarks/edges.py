"""Speed of `icanvas edges`, all figures from one run on the same photos.

    python benchmarks/edges.py --root ~/.icanvas [--data ../shared/data/edges2shoes_120] [-n 24] [--device cpu]

Prints HED ms/image (the default border, and bare 256 px for comparison with other HED ports), post-processing
ms/image and its share of HED time, whole-pipeline images/s (decode threads, batches, worker processes), and the
ratio of the pipeline to a plain one-image-at-a-time loop over the same functions. The figures, with the
commit, the machine and the date, go to benchmarks/results/edges-<date>-<time>.json (see benchmarks/results.py).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from icanvas.core.images import find_images, load_rgb, save_png
from icanvas.edges.pipeline import EdgeDetector, EdgeSettings, default_workers, prepare_photo, run_edges
from icanvas.edges.postprocess import postprocess
from results import write_result


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/edges2shoes_120")
    ap.add_argument("-n", type=int, default=24, help="number of photos")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=None, help="8 on a GPU, 4 on the CPU")
    ap.add_argument("--workers", type=int, default=None,
                    help="as icanvas edges: cores - 1 (up to 8) on a GPU; on a CPU 1, or 0 with <= 2 cores")
    args = ap.parse_args()

    settings = EdgeSettings()
    det = EdgeDetector(args.root, settings, args.device)
    batch = args.batch_size or (8 if det.device.type == "cuda" else 4)
    workers = default_workers(det.device) if args.workers is None else args.workers
    real = args.data is not None and args.data.is_dir()
    pics = photos(args.data, args.n)
    print(f"{len(pics)} photos, 256x256, device {det.device}, batch {batch}, workers {workers}, "
          f"border {settings.border}")

    det.hed_maps([prepare_photo(pics[0], settings)])  # warm-up
    prepared = [prepare_photo(p, settings) for p in pics]
    maps, hed_ms = timed(lambda p: det.hed_maps([p])[0], prepared)
    bare = replace(settings, border=0)
    det.settings = bare
    _, hed_bare_ms = timed(lambda p: det.hed_maps([prepare_photo(p, bare)])[0], pics)
    det.settings = replace(settings, border=128)
    _, hed_128_ms = timed(lambda p: det.hed_maps([prepare_photo(p, det.settings)])[0], pics[: max(2, len(pics) // 4)])
    det.settings = settings
    opts = settings.post_options()
    _, post_ms = timed(lambda m: postprocess(m, **opts), maps)

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photos"
        for i, p in enumerate(pics):
            save_png(p, src / f"{i:04d}.png")
        files = sorted(src.iterdir())

        def plain(path: Path) -> None:
            m = det.hed_maps([prepare_photo(load_rgb(path), settings)])[0]
            save_png(postprocess(m, **opts), Path(tmp) / "plain" / path.name)

        _, plain_ms = timed(plain, files)
        jobs = [(f, Path(tmp) / "pipe" / f.name) for f in files]
        start = time.perf_counter()
        report = run_edges(jobs, det, batch_size=batch, workers=workers)
        pipe_s = time.perf_counter() - start
        assert report.done == len(files), report.failed

    pipe_rate, plain_rate = len(files) / pipe_s, 1000 / plain_ms
    print(f"HED, border {settings.border} (default):   {hed_ms:8.1f} ms/image")
    print(f"HED, bare 256 px:             {hed_bare_ms:8.1f} ms/image  (border {settings.border} costs "
          f"{hed_ms / hed_bare_ms:.2f}x; border 128 costs {hed_128_ms / hed_bare_ms:.2f}x)")
    print(f"post-processing:              {post_ms:8.1f} ms/image  ({post_ms / hed_ms:.1%} of HED time)")
    print(f"plain loop (one at a time):   {plain_rate:8.2f} images/s")
    print(f"pipeline:                     {pipe_rate:8.2f} images/s  ({pipe_rate / plain_rate:.2f}x the plain loop)")
    path = write_result("edges", {
        "photos": len(pics), "data": str(args.data) if real else "synthetic 256x256 pictures",
        "device": str(det.device), "batch_size": batch, "workers": workers, "border": settings.border,
        "hed_ms": hed_ms, "hed_bare_ms": hed_bare_ms, "hed_border128_ms": hed_128_ms,
        "border_cost": hed_ms / hed_bare_ms, "border128_cost": hed_128_ms / hed_bare_ms,
        "postprocess_ms": post_ms, "postprocess_share_of_hed": post_ms / hed_ms,
        "plain_images_per_s": plain_rate, "pipeline_images_per_s": pipe_rate,
        "pipeline_over_plain": pipe_rate / plain_rate})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
