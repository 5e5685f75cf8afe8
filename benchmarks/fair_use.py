"""Fair use under abuse: two well-behaved clients at a steady pace, alone and then beside an abusive client that
sends ten times faster from several connections, against one `icanvas serve` with keys and per-client limits.

Reported: the well-behaved clients' pictures and p50/p99 latency in both runs (the goal: every picture, p99 with
the abuser at most 1.5x without), the abuser's answers (429s and pictures), and 5xx (the goal: none).

    python benchmarks/fair_use.py                     # 60 s per run
    python benchmarks/fair_use.py --seconds 20 --json

Figures go to benchmarks/results/fair_use-<date>-<time>.json (see benchmarks/results.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from icanvas.server.access import add_key
from results import write_result
from serve import drawings
from soak import install_random_unet, start_server

GOOD_EVERY_S = 0.5        # each well-behaved client: two requests a second
ABUSE_THREADS, ABUSE_EVERY_S = 4, 0.2    # the abuser: 20 a second, ten times one good client... times two


def run(url: str, keys: dict[str, str], seconds: float, abuse: bool) -> dict:
    body = drawings(1)[0]
    got: dict[str, list] = {"good": [], "abuser": []}
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client(name: str, key: str, every: float) -> None:
        with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {key}"}) as c:
            while time.monotonic() < end:
                start = time.perf_counter()
                answer = c.post("/v1/generate", files={"sketch": ("d.png", body, "image/png")},
                                data={"theme": "demo"})
                took = time.perf_counter() - start
                with lock:
                    got[name].append((answer.status_code, took))
                time.sleep(max(0.0, every - took))

    threads = [threading.Thread(target=client, args=("good", keys[f"good{i}"], GOOD_EVERY_S)) for i in (1, 2)]
    if abuse:
        threads += [threading.Thread(target=client, args=("abuser", keys["abuser"], ABUSE_EVERY_S))
                    for _ in range(ABUSE_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    good_ms = np.array([took for status, took in got["good"] if status == 200]) * 1000
    statuses = [status for name in got for status, _ in got[name]]
    return {"good_requests": len(got["good"]), "good_pictures": int(len(good_ms)),
            "good_p50_ms": float(np.percentile(good_ms, 50)), "good_p99_ms": float(np.percentile(good_ms, 99)),
            "abuser_requests": len(got["abuser"]), "abuser_429": sum(s == 429 for s, _ in got["abuser"]),
            "abuser_pictures": sum(s == 200 for s, _ in got["abuser"]), "5xx": sum(s >= 500 for s in statuses)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rate-limit", default="3")
    ap.add_argument("--burst", default="5")
    ap.add_argument("--client-share", default="0.25")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--ngf", type=int, default=32)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        install_random_unet(root, args.size, args.ngf)
        keys = {name: add_key(root / "keys.txt", name) for name in ("good1", "good2", "abuser")}
        proc, url = start_server(root, "--api-keys", str(root / "keys.txt"), "--rate-limit", args.rate_limit,
                                 "--burst", args.burst, "--client-share", args.client_share)
        try:
            alone = run(url, keys, args.seconds, abuse=False)
            abused = run(url, keys, args.seconds, abuse=True)
        finally:
            proc.terminate()
            proc.wait(60)
    figures = {"settings": vars(args), "alone": alone, "with_abuser": abused,
               "good_p99_ratio": abused["good_p99_ms"] / alone["good_p99_ms"],
               "passed": (abused["good_pictures"] == abused["good_requests"] and abused["5xx"] == 0
                          and abused["abuser_429"] > 0 and abused["good_p99_ms"] <= 1.5 * alone["good_p99_ms"])}
    print(f"results: {write_result('fair_use', figures)}", file=sys.stderr)
    print(json.dumps(figures, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
