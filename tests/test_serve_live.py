"""A real server: `icanvas serve` in a subprocess on 127.0.0.1, many clients at once, and a bad-input corpus."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from servekit import LiveServer, decode_png, drawing, install_tiny_model, odd_uploads, png_bytes

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("live_root")
    install_tiny_model(root, "demo", size=64)
    with LiveServer(root, root / "server.log", "--max-batch", "8", "--max-wait-ms", "30") as server:
        yield server


def generate(client: httpx.Client, sketch: bytes, **fields) -> httpx.Response:
    return client.post("/v1/generate", files={"sketch": ("drawing.png", sketch, "image/png")},
                       data={"theme": "demo", **fields})


def test_64_requests_from_8_clients_are_batched(live):
    faces = [png_bytes(drawing(shift=s)) for s in range(4)]

    def one_client(k: int) -> list[tuple[int, httpx.Response]]:
        with httpx.Client(base_url=live.url, timeout=60) as client:
            return [((k + i) % 4, generate(client, faces[(k + i) % 4])) for i in range(8)]

    with ThreadPoolExecutor(8) as pool:
        answers = [r for batch in pool.map(one_client, range(8)) for r in batch]
    assert len(answers) == 64
    assert all(r.status_code == 200 for _, r in answers), {r.status_code for _, r in answers}
    sizes = [int(r.headers["x-batch-size"]) for _, r in answers]
    assert max(sizes) > 1, sizes
    # a picture does not depend on what it was batched with
    pictures: dict[int, np.ndarray] = {}
    for face, r in answers:
        img = np.asarray(decode_png(r.content))
        assert img.shape == (64, 64, 3)
        if face in pictures:
            assert np.abs(pictures[face].astype(int) - img).max() <= 1
        pictures[face] = img
    assert len(pictures) == 4


def test_bad_input_never_hurts_the_service(live):
    corpus = {name: value for name, value in odd_uploads().items()}
    corpus["30 MB upload"] = (b"\x89PNG\r\n\x1a\n" + bytes(30 * 1024 * 1024), 413)
    good = png_bytes(drawing())
    with httpx.Client(base_url=live.url, timeout=60) as client:
        reference = generate(client, good).content
        for name, (data, status) in corpus.items():
            resp = generate(client, data)
            assert resp.status_code == status, (name, resp.text)
            if status != 200:
                assert resp.json()["error"] and resp.json()["detail"], name
            after = generate(client, good)  # the service still answers, with the same picture
            assert after.status_code == 200 and after.content == reference, name
        assert client.get("/readyz").status_code == 200


def test_ctrl_c_stops_the_server_with_a_summary(tmp_path):
    install_tiny_model(tmp_path, "demo", size=64)
    server = LiveServer(tmp_path, tmp_path / "server.log", "--json")
    with server:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert generate(client, png_bytes(drawing())).status_code == 200
            assert generate(client, b"").status_code == 415
    assert server.proc.returncode == 0
    summary = json.loads(server.stdout.read_text())  # stdout holds the summary and nothing else
    assert summary["pictures"] == 1 and summary["refused"] == 1 and summary["themes"] == ["demo"]


def test_serve_options_reach_the_service(tmp_path):
    """--theme, --cors-origin, --max-pixels and --max-queue, as given on the command line, hold on a live server.
    The shoes model is bigger (256 px, ngf 32: about 0.2 s a picture on one core) so that one picture keeps the
    worker busy while the next requests arrive."""
    root = tmp_path / "root"
    install_tiny_model(root, "demo", size=64)
    install_tiny_model(root, "shoes", size=256, ngf=32)
    origin = "http://tablet.example"
    small = png_bytes(drawing(side=64))
    with LiveServer(root, tmp_path / "server.log", "--theme", "shoes", "--cors-origin", origin,
                    "--max-pixels", "40000", "--max-queue", "1", "--max-batch", "1", "--max-wait-ms", "0") as live:
        with httpx.Client(base_url=live.url, timeout=60) as client:
            # --theme: only shoes is served, though demo is installed
            assert client.get("/readyz").json()["themes"] == ["shoes"]
            assert [t["name"] for t in client.get("/v1/themes").json()["themes"]] == ["shoes"]
            unknown = generate(client, small)                          # theme demo
            assert unknown.status_code == 404 and "installed: shoes" in unknown.json()["detail"]
            # --cors-origin: that origin may call, no other
            pre = client.options("/v1/generate", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
            assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == origin
            other = client.get("/v1/themes", headers={"Origin": "http://evil.example"})
            assert "access-control-allow-origin" not in other.headers
            # --max-pixels: 200 x 200 is the limit
            assert generate(client, png_bytes(drawing(side=200)), theme="shoes").status_code == 200
            big = generate(client, png_bytes(drawing(side=201)), theme="shoes")
            assert big.status_code == 413 and "over the limit of 40,000 pixels" in big.json()["detail"]

        # --max-queue 1: while one picture is made and one waits, the others are told to come back
        def one(_: int) -> httpx.Response:
            with httpx.Client(base_url=live.url, timeout=60) as c:
                return generate(c, small, theme="shoes")

        answers: list[httpx.Response] = []
        with ThreadPoolExecutor(8) as pool:
            for _ in range(3):   # a busy answer comes in the first round, unless the machine stalls the clients
                answers += pool.map(one, range(8))
                if any(a.status_code == 503 for a in answers):
                    break
    assert {a.status_code for a in answers} == {200, 503}, [a.status_code for a in answers]
    busy = next(a for a in answers if a.status_code == 503)
    assert busy.headers["retry-after"] == "1" and "1 requests already waiting" in busy.json()["detail"]
