"""`icanvas serve`: requests/s and latency of the default service against fp32 eager, batched and unbatched.

Starts four servers on 127.0.0.1 with the same plain unet_256 generator (ngf 64, random weights: speed does not
depend on training): the default runtime (auto: torch bf16 where the CPU computes bf16 natively, else ONNX
Runtime fp32) and `--engine torch --precision fp32` (the service as it ran before: fp32 eager, the baseline),
each with --max-batch 8 (batched)
and --max-batch 1, and sends each the same drawings at concurrency 1, 4 and 8. The configurations take turns
(interleaved rounds), so a busy machine slows all alike; the ratios are what to read.

    python benchmarks/serve.py                  # 2 rounds, 16 requests per concurrency level and configuration
    python benchmarks/serve.py --rounds 3 --requests 24 --json

The figures, with the commit, the machine and the date, go to benchmarks/results/serve-<date>-<time>.json (see
benchmarks/results.py).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import torch

from icanvas.core.images import encode_png, load_rgb
from icanvas.inference.painter import Painter
from icanvas.pix2pix.checkpoints import ModelInfo, install_model, save_generator
from icanvas.pix2pix.networks import GeneratorConfig, UnetGenerator, init_weights
from results import write_result

CONCURRENCY = (1, 4, 8)
CONFIGS = {"default": ("auto", "auto"), "fp32": ("torch", "fp32")}   # name: --engine, --precision; fp32: baseline
BATCHING = {" batched": 8, " max-batch 1": 1}           # name: --max-batch


def install_unet256(root: Path, ngf: int) -> None:
    torch.manual_seed(0)
    config = GeneratorConfig(size=256, ngf=ngf)
    net = init_weights(UnetGenerator(config))
    checkpoint = save_generator(root / "unet256.safetensors", net, ModelInfo(theme="demo", generator=config))
    install_model(root, checkpoint)


def drawings(n: int = 8) -> list[bytes]:
    """Faces of different sizes, drawn as a child would (black strokes on white), as PNG."""
    import cv2

    out = []
    for k in range(n):
        img = np.full((384, 384, 3), 255, np.uint8)
        r = 120 + 10 * k
        cv2.circle(img, (192, 192), r, (0, 0, 0), 6)
        cv2.circle(img, (150, 160), 12, (0, 0, 0), -1)
        cv2.circle(img, (234, 160), 12, (0, 0, 0), -1)
        cv2.ellipse(img, (192, 220), (60, 30 + 3 * k), 0, 10, 170, (0, 0, 0), 6)
        out.append(encode_png(img))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, root: Path, max_batch: int, max_wait_ms: float, runtime: tuple[str, str]) -> None:
        engine, precision = runtime
        self.url = f"http://127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "icanvas", "--root", str(root), "--quiet", "serve", "--port",
             self.url.rsplit(":", 1)[1], "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms),
             "--device", "cpu", "--engine", engine, "--precision", precision], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server with --max-batch {max_batch} --engine {engine} --precision {precision} "
                           "did not start")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def load(url: str, sketches: list[bytes], requests: int, concurrency: int) -> tuple[float, list[float], list[int]]:
    """Send `requests` requests from `concurrency` clients; (wall seconds, latencies, batch sizes)."""
    latencies: list[float] = []
    batches: list[int] = []
    counter = iter(range(requests))
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=300) as c:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                start = time.perf_counter()
                r = c.post("/v1/generate", files={"sketch": ("d.png", sketches[i % len(sketches)], "image/png")},
                           data={"theme": "demo"})
                elapsed = time.perf_counter() - start
                r.raise_for_status()
                with lock:
                    latencies.append(elapsed)
                    batches.append(int(r.headers["x-batch-size"]))

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, latencies, batches


def model_ceiling(root: Path, sketches: list[bytes], reps: int = 4) -> float:
    """How much faster per image the generator alone runs in batches of 8 than one by one: the most that
    batching can give on this machine. Best of `reps` for each, as other work on the machine only slows."""
    painter = Painter.from_pretrained(root / "models" / "demo", root=root, device="cpu")
    batch = [painter.normalize(load_rgb(s)) for s in sketches[:8]]
    for _ in range(2):  # warm up both shapes
        painter.paint(batch[:1])
        painter.paint(batch, batch_size=len(batch))
    single, eight = [], []
    for _ in range(reps):
        start = time.perf_counter()
        for s in batch:
            painter.paint([s])
        single.append(time.perf_counter() - start)
        start = time.perf_counter()
        painter.paint(batch, batch_size=len(batch))
        eight.append(time.perf_counter() - start)
    return min(single) / min(eight)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--requests", type=int, default=16, help="requests per round, level and configuration")
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--max-wait-ms", type=float, default=10.0)
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = ap.parse_args()

    sketches = drawings()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        install_unet256(root, args.ngf)
        servers = {f"{name}{batching}": Server(root, max_batch, args.max_wait_ms, runtime)
                   for name, runtime in CONFIGS.items() for batching, max_batch in BATCHING.items()}
        try:
            for server in servers.values():  # warm up: the first forward passes of each batch size allocate
                load(server.url, sketches, 16, 8)
            stats = {(name, c): {"wall": 0.0, "lat": [], "batch": []} for name in servers for c in CONCURRENCY}
            for rnd in range(args.rounds):
                for c in CONCURRENCY:
                    order = list(servers) if rnd % 2 == 0 else list(reversed(servers))
                    for name in order:
                        wall, lat, batch = load(servers[name].url, sketches, args.requests, c)
                        s = stats[(name, c)]
                        s["wall"] += wall
                        s["lat"] += lat
                        s["batch"] += batch
                        print(f"round {rnd + 1} c={c} {name}: {len(lat) / wall:.2f} req/s", file=sys.stderr)
        finally:
            for server in servers.values():
                server.stop()
        ceiling = model_ceiling(root, sketches)

    rows = {}
    for (name, c), s in stats.items():
        lat = np.array(s["lat"]) * 1000
        rows[f"{name} c={c}"] = {"requests_per_s": len(lat) / s["wall"], "p50_ms": float(np.percentile(lat, 50)),
                                 "p99_ms": float(np.percentile(lat, 99)), "mean_batch": float(np.mean(s["batch"]))}
    def rate(name: str, c: int) -> float:
        return rows[f"{name} c={c}"]["requests_per_s"]

    over_fp32 = {f"{batching.strip()} c={c}": rate(f"default{batching}", c) / rate(f"fp32{batching}", c)
                 for batching in BATCHING for c in CONCURRENCY}
    batched = {f"{name} c={c}": rate(f"{name} batched", c) / rate(f"{name} max-batch 1", c)
               for name in CONFIGS for c in CONCURRENCY}
    result = {"model": f"unet_256 ngf {args.ngf}", "cpu_threads": torch.get_num_threads(), "cores": os.cpu_count(),
              "rounds": args.rounds, "requests": args.requests, "max_wait_ms": args.max_wait_ms, "rows": rows,
              "default_over_fp32_requests_per_s": over_fp32, "batched_over_single_requests_per_s": batched,
              "model_alone_batch8_over_batch1": ceiling}
    path = write_result("serve", result)
    print(f"results: {path}", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'configuration':<26}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'batch':>7}")
    for key, r in rows.items():
        print(f"{key:<26}{r['requests_per_s']:>8.2f}{r['p50_ms']:>9.0f}{r['p99_ms']:>9.0f}{r['mean_batch']:>7.2f}")
    for key, ratio in over_fp32.items():
        print(f"default / fp32 requests/s, {key}: {ratio:.2f}x")
    for key, ratio in batched.items():
        print(f"batched / max-batch 1 requests/s, {key}: {ratio:.2f}x")
    print(f"the generator alone (default precision), images/s in batches of 8 / one by one: {ceiling:.2f}x "
          "(the ceiling for batching)")


if __name__ == "__main__":
    main()
