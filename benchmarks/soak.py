"""`icanvas serve` under a long mixed load: does it stay up, stay small and answer every good request exactly?

One server on 127.0.0.1 (a random-weight unet, 128 px, ngf 32 by default: the service, not the model, is under
test), `--concurrency` clients for `--seconds`, of whose requests `--hostile` are bad on purpose (random bytes, a
truncated PNG, a decompression bomb, a tiny image, an upload over the size limit, a missing field). Checked:
no 5xx; every good request gets the very picture its drawing gave alone before the load (within 1 level of 255:
batches may round differently); the server's resident memory after warm-up (the first tenth of the run) grows by
at most 5 % to the end.

    python benchmarks/soak.py                          # 10 minutes at concurrency 16, 20 % hostile
    python benchmarks/soak.py --seconds 15 --concurrency 8 --no-save --json   # the suite's short version

Figures go to benchmarks/results/soak-<date>-<time>.json (see benchmarks/results.py).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import torch
from PIL import Image

from icanvas.core.images import encode_png
from icanvas.pix2pix.checkpoints import ModelInfo, install_model, save_generator
from icanvas.pix2pix.networks import GeneratorConfig, UnetGenerator, init_weights
from results import write_result
from serve import drawings, free_port

UPLOAD_MB = 2


def hostile_uploads() -> list[tuple[str, dict, dict]]:
    """(what, files, form) of requests a service must refuse cleanly (4xx)."""
    good = drawings(1)[0]
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, "PNG")   # 400 MP in a few kB
    return [
        ("random bytes", {"sketch": ("x.png", os.urandom(5000), "image/png")}, {"theme": "demo"}),
        ("truncated png", {"sketch": ("x.png", good[:len(good) // 2], "image/png")}, {"theme": "demo"}),
        ("decompression bomb", {"sketch": ("x.png", bomb.getvalue(), "image/png")}, {"theme": "demo"}),
        ("tiny image", {"sketch": ("x.png", encode_png(np.zeros((4, 4, 3), np.uint8)), "image/png")},
         {"theme": "demo"}),
        ("too large", {"sketch": ("x.png", os.urandom(UPLOAD_MB * 1024 * 1024 + 10), "image/png")},
         {"theme": "demo"}),
        ("no theme", {"sketch": ("x.png", good, "image/png")}, {}),
        ("unknown theme", {"sketch": ("x.png", good, "image/png")}, {"theme": "../../etc"}),
    ]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def install_random_unet(root: Path, size: int, ngf: int) -> None:
    torch.manual_seed(0)
    config = GeneratorConfig(size=size, ngf=ngf)
    checkpoint = save_generator(root / "random.safetensors", init_weights(UnetGenerator(config)),
                                ModelInfo(theme="demo", generator=config))
    install_model(root, checkpoint)


def start_server(root: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`icanvas serve` on a free port of 127.0.0.1, ready; (process, url)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "icanvas", "--root", str(root), "--quiet", "serve", "--port",
                             str(port), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("the server did not start")
        time.sleep(0.2)


def soak(seconds: float, concurrency: int, hostile: float, size: int, ngf: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        install_random_unet(root, size, ngf)
        proc, url = start_server(root, "--max-upload-mb", str(UPLOAD_MB), "--max-queue", "256")
        try:
            good = drawings(8)
            with httpx.Client(base_url=url, timeout=120) as c:
                expected = [decode(c.post("/v1/generate", files={"sketch": ("d.png", g, "image/png")},
                                          data={"theme": "demo"}).content) for g in good]
            bad = hostile_uploads()
            return _load(url, proc.pid, good, expected, bad, seconds, concurrency, hostile)
        finally:
            proc.terminate()
            proc.wait(60)


def _load(url, pid, good, expected, bad, seconds, concurrency, hostile) -> dict:
    counts = {"good": 0, "good_exact": 0, "hostile": 0, "hostile_4xx": 0, "5xx": 0, "errors": 0}
    statuses: dict[str, dict[int, int]] = {}
    latencies: list[float] = []
    rss: list[tuple[float, int]] = []
    lock = threading.Lock()
    start = time.monotonic()
    end = start + seconds

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=url, timeout=120) as c:
            while time.monotonic() < end:
                try:
                    if rng.random() < hostile:
                        what, files, form = rng.choice(bad)
                        answer = c.post("/v1/generate", files=files, data=form)
                        with lock:
                            counts["hostile"] += 1
                            counts["hostile_4xx"] += 400 <= answer.status_code < 500
                            by = statuses.setdefault(what, {})
                            by[answer.status_code] = by.get(answer.status_code, 0) + 1
                    else:
                        i = rng.randrange(len(good))
                        t = time.perf_counter()
                        answer = c.post("/v1/generate", files={"sketch": ("d.png", good[i], "image/png")},
                                        data={"theme": "demo"})
                        exact = (answer.status_code == 200
                                 and np.abs(decode(answer.content) - expected[i]).max() <= 1)
                        with lock:
                            counts["good"] += 1
                            counts["good_exact"] += bool(exact)
                            latencies.append(time.perf_counter() - t)
                    with lock:
                        counts["5xx"] += answer.status_code >= 500
                except httpx.HTTPError:
                    with lock:
                        counts["errors"] += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    while time.monotonic() < end:
        rss.append((time.monotonic() - start, rss_kib(pid)))
        time.sleep(min(5.0, max(0.5, seconds / 60)))
    for t in threads:
        t.join(300)
    rss.append((time.monotonic() - start, rss_kib(pid)))
    warm = [kib for at, kib in rss if at >= seconds / 10]
    growth = (warm[-1] - warm[0]) / warm[0] if len(warm) > 1 and warm[0] else 0.0
    lat = np.array(latencies) * 1000 if latencies else np.zeros(1)
    return {"seconds": seconds, "concurrency": concurrency, "hostile_share": hostile, **counts,
            "good_per_s": counts["good"] / seconds, "good_p50_ms": float(np.percentile(lat, 50)),
            "good_p99_ms": float(np.percentile(lat, 99)), "hostile_statuses": statuses,
            "rss_kib": rss, "rss_growth_after_warm_up": growth,
            "passed": counts["5xx"] == 0 and counts["errors"] == 0 and counts["good"] == counts["good_exact"] > 0
                      and counts["hostile"] == counts["hostile_4xx"] and growth <= 0.05}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--hostile", type=float, default=0.2)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--ngf", type=int, default=32)
    ap.add_argument("--no-save", action="store_true", help="do not write a results file (the suite's run)")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args()
    figures = soak(args.seconds, args.concurrency, args.hostile, args.size, args.ngf)
    if not args.no_save:
        print(f"results: {write_result('soak', figures)}", file=sys.stderr)
    if args.json:
        print(json.dumps(figures))
    else:
        for key in ("good", "good_exact", "hostile", "hostile_4xx", "5xx", "errors", "good_per_s", "good_p50_ms",
                    "good_p99_ms", "rss_growth_after_warm_up", "passed"):
            print(f"{key}: {figures[key]}")
    sys.exit(0 if figures["passed"] else 1)


if __name__ == "__main__":
    main()
