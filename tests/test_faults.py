"""Faults and hostile load on real processes: kill -9 in the middle of `edges` and `train`, then the same
command again; 200 requests from 16 clients, a fifth of them hostile, on a live server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from servekit import LiveServer, decode_png, drawing, install_tiny_model, odd_uploads, png_bytes

from icanvas.core.images import load_gray
from icanvas.data.demo import make_demo
from icanvas.data.pairing import plan_paired, write_pairs

pytestmark = pytest.mark.timeout(300)
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def icanvas(root: Path, *args) -> list[str]:
    return [sys.executable, "-m", "icanvas", "--root", str(root), *map(str, args)]


def kill_when(proc: subprocess.Popen, ready, timeout: float = 120) -> None:
    """SIGKILL the process as soon as ready() holds (it must not have finished by then)."""
    deadline = time.monotonic() + timeout
    while not ready() and time.monotonic() < deadline:
        assert proc.poll() is None, "finished before it could be killed"
        time.sleep(0.05)
    assert ready(), "never got there"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_edges_killed_mid_run_finishes_on_the_next_run(hed_root, tmp_path):
    photos = tmp_path / "photos"
    make_demo(photos, 200, seed=3)
    out = tmp_path / "edges"
    args = ["edges", photos, "-o", out, "--size", "64", "--max-side", "96", "--border", "8", "--json"]
    proc = subprocess.Popen(icanvas(hed_root, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    kill_when(proc, lambda: out.is_dir() and len(list(out.glob("*.png"))) >= 20)
    assert len(list(out.glob("*.png"))) < 200
    again = subprocess.run(icanvas(hed_root, *args), capture_output=True, text=True, env=ENV, timeout=600)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["failed"] == 0 and summary["done"] + summary["skipped"] == 200 and summary["skipped"] >= 20
    drawings = sorted(out.glob("*.png"))
    assert len(drawings) == 200 and no_temporary_files(tmp_path)
    for path in drawings:   # every one complete: decodes, right size, lines on paper
        gray = load_gray(path)
        assert gray.shape == (64, 64) and gray.max() == 255


def test_train_killed_after_a_save_loses_at_most_one_save_interval(shared_dir, tmp_path):
    data = tmp_path / "pairs"
    jobs, _ = plan_paired(shared_dir / "data" / "edges2shoes_120")
    write_pairs([j for j in jobs if j.split == "train"][:8] + [j for j in jobs if j.split == "val"][:2], [], data,
                size=32)
    root = tmp_path / "root"
    args = ["train", "--data", data, "--size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "2",
            "--no-sketch-augment", "--val-limit", "2", "--epochs", "400", "--run", "k", "--json"]
    checkpoints = root / "runs" / "custom" / "k" / "checkpoints"
    proc = subprocess.Popen(icanvas(root, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    kill_when(proc, lambda: len(list(checkpoints.glob("epoch_*.safetensors"))) >= 2)
    import torch  # after the child started: loading torch here takes a core the child wants

    state = torch.load(checkpoints / "resume.pt", weights_only=True)
    saved = sorted(checkpoints.glob("epoch_*.safetensors"))
    assert state["batch"] == 0 and state["epoch"] >= len(saved) - 1     # the state is at most one save behind
    resumed = subprocess.run(icanvas(root, *args[:-5], "--epochs", str(state["epoch"] + 2), "--run", "k",
                                     "--resume", "--json"), capture_output=True, text=True, env=ENV, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["epochs_done"] == state["epoch"] + 2 and summary["step"] == (state["epoch"] + 2) * 4
    assert no_temporary_files(root)
    from safetensors.torch import load_file

    for path in checkpoints.glob("epoch_*.safetensors"):   # every checkpoint complete
        assert load_file(path)


def test_hostile_load_gets_no_5xx_and_flat_memory(tmp_path):
    root = tmp_path / "root"
    install_tiny_model(root, "demo", size=64)
    faces = {s: png_bytes(drawing(shift=s)) for s in range(4)}
    hostile = [(name, body, status) for name, (body, status) in odd_uploads().items() if status != 200]
    with LiveServer(root, tmp_path / "server.log", "--max-batch", "8", "--max-wait-ms", "100",
                    "--max-upload-mb", "2") as live:
        with httpx.Client(base_url=live.url, timeout=60) as client:   # the pictures each face must give
            expected = {s: np.asarray(decode_png(_post(client, body).content)) for s, body in faces.items()}
        _warm_up_with_a_full_batch(live.url, faces[0], 8)   # so the baseline holds what a batch of 8 takes
        rss_before = _rss(live.proc.pid)

        def one_client(k: int) -> list[tuple[str, int, float, bytes]]:
            rows = []
            with httpx.Client(base_url=live.url, timeout=60) as client:
                for i in range(200 // 16 + (k < 200 % 16)):
                    n = k * 13 + i
                    if n % 5 == 0:
                        name, body, _ = hostile[n % len(hostile)]
                    else:
                        name, body = f"face{n % 4}", faces[n % 4]
                    start = time.perf_counter()
                    if name == "oversized":
                        answer = client.post("/v1/generate", content=b"x" * 3_000_000,
                                             headers={"content-type": "multipart/form-data; boundary=x"})
                    else:
                        answer = _post(client, body)
                    rows.append((name, answer.status_code, time.perf_counter() - start, answer.content))
            return rows

        hostile.append(("oversized", b"", 413))
        with ThreadPoolExecutor(16) as pool:
            rows = [r for batch in pool.map(one_client, range(16)) for r in batch]
        rss_after = _rss(live.proc.pid)
    assert len(rows) == 200
    assert not [r for r in rows if r[1] >= 500], [(r[0], r[1]) for r in rows if r[1] >= 500]
    wanted = {name: status for name, _, status in hostile}
    for name, status, _, content in rows:
        if name.startswith("face"):
            assert status == 200
            picture = np.asarray(decode_png(content)).astype(int)
            assert np.abs(picture - expected[int(name[4:])]).max() <= 1   # the right picture, batched or not
        else:
            assert status == wanted[name], (name, status)
    assert rss_after <= 1.2 * rss_before, (rss_before, rss_after)
    latencies = sorted(r[2] for r in rows)
    p99 = latencies[int(0.99 * len(latencies)) - 1]
    print(f"hostile load: 200 requests, 16 clients, p50 {latencies[100] * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms, RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB")


def _warm_up_with_a_full_batch(url: str, body: bytes, max_batch: int, rounds: int = 10) -> None:
    """Send 3 x max_batch requests at once until one forward pass took max_batch of them (X-Batch-Size)."""
    def one(_: int) -> int:
        with httpx.Client(base_url=url, timeout=60) as client:
            answer = _post(client, body)
            assert answer.status_code == 200, answer.text
            return int(answer.headers["x-batch-size"])

    sizes: list[int] = []
    with ThreadPoolExecutor(3 * max_batch) as pool:
        for _ in range(rounds):
            sizes += pool.map(one, range(3 * max_batch))
            if max(sizes) == max_batch:
                return
    pytest.fail(f"no full batch of {max_batch} in {rounds} rounds of warm-up: {sorted(set(sizes))}")


def _post(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.post("/v1/generate", files={"sketch": ("drawing.png", body, "image/png")}, data={"theme": "demo"})


def _rss(pid: int) -> int:
    """Resident memory of a process, in bytes (Linux)."""
    fields = Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()
    return int(fields[0]) * 1024
