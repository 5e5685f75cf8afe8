"""The HTTP API through FastAPI's TestClient: every endpoint, every error, batching and a failing model."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from servekit import decode_png, drawing, install_tiny_model, odd_uploads, png_bytes

from icanvas.core.paths import model_dir
from icanvas.core.runtime import resolve_runtime
from icanvas.inference.painter import Painter
from icanvas.server.app import create_app
from icanvas.server.batching import QueueFull, ThemeBatcher
from icanvas.server.limits import ServerSettings
from icanvas.sketch.normalize import NormalizeOptions, normalize_sketch

FACE = png_bytes(drawing())


@pytest.fixture(scope="module")
def models_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_root")
    install_tiny_model(root, "demo", size=64)
    install_tiny_model(root, "shoes", size=32, seed=1)
    return root


@pytest.fixture(scope="module")
def client(models_root):
    with TestClient(create_app(models_root)) as c:
        yield c


def post(client, sketch: bytes = FACE, theme: str | None = "demo", filename="drawing.png",
         content_type="image/png", **fields):
    data = {k: str(v) for k, v in fields.items()}
    if theme is not None:
        data["theme"] = theme
    return client.post("/v1/generate", files={"sketch": (filename, sketch, content_type)}, data=data)


def assert_error(resp, status: int, kind: str | None = None):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "detail"} and body["detail"]
    if kind:
        assert body["error"] == kind
    return body


# ---- endpoints ----------------------------------------------------------------------------------------------

def test_health_ready_and_docs(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    runs = {**resolve_runtime("cpu").describe(), "colouring": "off"}
    assert client.get("/readyz").json() == {"status": "ready", "themes": ["demo", "shoes"],
                                            "runtime": {"demo": runs, "shoes": runs}}
    spec = client.get("/openapi.json").json()
    form = spec["paths"]["/v1/generate"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in form
    assert client.get("/docs").status_code == 200


def test_themes_describe_installed_models(client):
    themes = {t["name"]: t for t in client.get("/v1/themes").json()["themes"]}
    assert set(themes) == {"demo", "shoes"}
    assert themes["demo"]["title"] == "Demo faces" and themes["demo"]["size"] == 64
    assert themes["shoes"]["size"] == 32
    assert themes["demo"]["model"]["run"] == "tiny" and themes["demo"]["model"]["metrics"] == {"f": 0.5}


def test_only_the_themes_asked_for_are_served(models_root):
    with TestClient(create_app(models_root, ["shoes"])) as c:
        assert [t["name"] for t in c.get("/v1/themes").json()["themes"]] == ["shoes"]
        assert_error(post(c, theme="demo"), 404, "not_found")


def test_drawing_page_is_served_without_any_cdn(client):
    page = client.get("/")
    assert page.status_code == 200 and "Make it!" in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in page.text and client.get(asset).status_code == 200
    for text in (page.text, client.get("/static/app.js").text, client.get("/static/style.css").text):
        assert "http://" not in text and "https://" not in text


# ---- pictures -----------------------------------------------------------------------------------------------

def expected_picture(models_root, theme: str, options=NormalizeOptions(), variation=None) -> np.ndarray:
    painter = Painter.from_pretrained(model_dir(models_root, theme), device="cpu")
    sketch = normalize_sketch(drawing(), painter.size, painter.info.sketch_style, options)
    return painter.paint([sketch], variation=variation)[0]


def test_generate_returns_the_models_picture_as_png(client, models_root):
    resp = post(client)
    assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
    assert resp.headers["x-batch-size"] == "1" and float(resp.headers["x-inference-ms"]) > 0
    img = np.asarray(decode_png(resp.content))
    assert img.shape == (64, 64, 3)
    # the same normalisation and model as the library (and `icanvas generate`) use
    assert np.abs(img.astype(int) - expected_picture(models_root, "demo")).max() <= 1
    small = post(client, theme="shoes")
    assert np.asarray(decode_png(small.content)).shape == (32, 32, 3)


def test_normalize_false_feeds_the_drawing_as_is(client, models_root):
    plain = np.asarray(decode_png(post(client, normalize="false").content))
    assert np.abs(plain.astype(int) - expected_picture(models_root, "demo", NormalizeOptions.off())).max() <= 1
    assert not np.array_equal(plain, np.asarray(decode_png(post(client).content)))


def test_a_variation_seed_gives_a_different_reproducible_picture(client, models_root):
    first, again, other = (post(client, variation=v).content for v in (7, 7, 8))
    assert first == again and first != other
    assert first != post(client).content
    assert np.abs(np.asarray(decode_png(first)).astype(int)
                  - expected_picture(models_root, "demo", variation=7)).max() <= 1


def test_content_is_checked_not_the_clients_content_type(client):
    assert post(client, filename="x.txt", content_type="text/plain").status_code == 200
    assert_error(post(client, b"GIF89a not really", filename="x.png"), 415, "unsupported_image")


# ---- bad input ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(odd_uploads()))
def test_odd_uploads_get_their_answer(client, name):
    data, status = odd_uploads()[name]
    resp = post(client, data)
    if status == 200:
        assert resp.status_code == 200 and decode_png(resp.content).size == (64, 64)
    else:
        assert_error(resp, status)
        assert "sketch" in resp.json()["detail"]


@pytest.mark.parametrize("theme", ["nope", "../../etc/passwd", "demo/../shoes", "/tmp"])
def test_unknown_themes_are_404_and_never_touch_the_disk(client, theme):
    body = assert_error(post(client, theme=theme), 404, "not_found")
    assert body["detail"] == f"unknown theme '{theme}' (installed: demo, shoes)"


def test_an_empty_theme_is_a_missing_field(client):
    assert "theme" in assert_error(post(client, theme=""), 422, "bad_input")["detail"]


def test_missing_and_malformed_fields_are_422(client):
    assert "sketch" in assert_error(client.post("/v1/generate", data={"theme": "demo"}), 422, "bad_input")["detail"]
    assert "theme" in assert_error(post(client, theme=None), 422, "bad_input")["detail"]
    assert "variation" in assert_error(post(client, variation="blue"), 422)["detail"]
    assert_error(post(client, variation=-1), 422)
    assert_error(post(client, variation=2**40), 422)
    assert_error(post(client, normalize="maybe"), 422)
    assert_error(client.post("/v1/generate", content=b"{}", headers={"content-type": "application/json"}), 422)


def test_unknown_routes_and_methods_are_json(client):
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.get("/v1/generate"), 405, "method_not_allowed")


def test_pixel_limit_is_413(models_root):
    with TestClient(create_app(models_root, settings=ServerSettings(max_pixels=100 * 100))) as c:
        body = assert_error(post(c, png_bytes(drawing(side=120))), 413, "too_large")
        assert "14,400" not in body["detail"] and "over the limit of 10,000 pixels" in body["detail"]
        assert post(c, png_bytes(drawing(side=100))).status_code == 200


def test_upload_limit_is_413_before_the_body_is_read(models_root):
    limit = 50_000
    with TestClient(create_app(models_root, settings=ServerSettings(max_upload_bytes=limit))) as c:
        big = b"\x89PNG" + bytes(limit)
        assert_error(post(c, big), 413, "too_large")

        def chunked():  # no Content-Length: the guard counts bytes and stops reading past the limit
            yield b'--xyz\r\nContent-Disposition: form-data; name="sketch"; filename="a.png"\r\n\r\n'
            for _ in range(100):
                yield bytes(10_000)
            yield b"\r\n--xyz--\r\n"

        resp = c.post("/v1/generate", content=chunked(), headers={"content-type": "multipart/form-data; boundary=xyz"})
        assert_error(resp, 413, "too_large")
        assert post(c).status_code == 200


# ---- batching and failures ----------------------------------------------------------------------------------

def test_a_failing_inference_fails_that_request_only(client, monkeypatch, caplog):
    calls = []

    run = Painter.run

    def broken_once(painter, x, *args):
        calls.append(len(x))
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory (simulated)")
        return run(painter, x, *args)

    monkeypatch.setattr(Painter, "run", broken_once)
    answer = post(client)
    body = assert_error(answer, 500, "inference_failed")
    # the client learns nothing internal, the log has it all under the request id the client got
    request_id = answer.headers["x-request-id"]
    assert "out of memory" not in body["detail"] and "RuntimeError" not in body["detail"]
    assert f"request id {request_id}" in body["detail"]
    logged = [r.getMessage() for r in caplog.records if r.name == "icanvas.server"]
    assert any(request_id in m and "out of memory" in m for m in logged)
    assert post(client).status_code == 200 and len(calls) == 2


def test_a_full_queue_answers_503_with_retry_after(models_root, monkeypatch):
    entered, release = threading.Event(), threading.Event()

    run = Painter.run

    def slow(painter, x, *args):
        entered.set()
        release.wait(10)
        return run(painter, x, *args)

    monkeypatch.setattr(Painter, "run", slow)
    app = create_app(models_root, ["demo"], ServerSettings(max_batch=1, max_wait_ms=0, max_queue=1))
    with TestClient(app) as c:
        queue = app.state.themes["demo"].batcher.queue
        answers = []
        workers = [threading.Thread(target=lambda: answers.append(post(c).status_code)) for _ in range(2)]
        workers[0].start()                      # taken by the worker, which blocks
        assert entered.wait(10)
        workers[1].start()                      # waits in the queue, which is now full
        deadline = time.monotonic() + 10
        while not queue.full() and time.monotonic() < deadline:
            time.sleep(0.01)
        busy = post(c)
        not_even_read = c.post("/v1/generate?theme=demo", content=b"\x00" * 1000,
                               headers={"content-type": "multipart/form-data; boundary=x"})
        release.set()
        for w in workers:
            w.join(10)
    assert_error(busy, 503, "busy")
    assert busy.headers["retry-after"] == "1"
    assert not_even_read.status_code == 503   # answered before the body was parsed: it is not a form at all
    assert answers == [200, 200]


def test_requests_that_arrive_together_share_a_forward_pass(models_root):
    painter = Painter.from_pretrained(model_dir(models_root, "demo"), device="cpu")
    rng = np.random.default_rng(0)
    sketches = [np.where(rng.random((64, 64)) < 0.1, 0, 255).astype(np.uint8) for _ in range(6)]
    alone = [painter.paint([s])[0] for s in sketches]

    async def scenario():
        batcher = ThemeBatcher(painter, max_batch=4, max_wait_ms=200, max_queue=16)
        batcher.start()
        try:
            plain = await asyncio.gather(*(batcher.submit(painter.encode([s])) for s in sketches[:5]))
            seeded = await asyncio.gather(*(batcher.submit(painter.encode([sketches[5]]), variation=3)
                                            for _ in range(2)))
        finally:
            await batcher.stop()
        return plain, seeded

    plain, seeded = asyncio.run(scenario())
    assert sorted(p.batch_size for p in plain) == [1, 4, 4, 4, 4]
    for picture, expected in zip(plain, alone):
        assert np.abs(picture.image.astype(int) - expected).max() <= 1
    # variations run alone, so a seed gives the same picture whatever else is waiting
    assert [p.batch_size for p in seeded] == [1, 1]
    assert np.array_equal(seeded[0].image, seeded[1].image)


# ---- CORS and the command line ------------------------------------------------------------------------------

def test_cors_origins_are_configurable(models_root, client):
    origin = "http://tablet.example"
    with TestClient(create_app(models_root, settings=ServerSettings(cors_origins=(origin,)))) as c:
        pre = c.options("/v1/generate", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == origin
        assert c.get("/v1/themes", headers={"Origin": origin}).headers["access-control-allow-origin"] == origin
        assert "access-control-allow-origin" not in c.get("/v1/themes", headers={"Origin": "http://evil.example"}).headers
    assert "access-control-allow-origin" not in client.get("/v1/themes", headers={"Origin": origin}).headers


def test_serve_refuses_to_start_without_models(cli, root, models_root):
    result = cli("--root", root, "serve")
    assert result.exit_code == 2 and "no installed models" in result.stderr
    result = cli("--root", models_root, "serve", "--theme", "panda")
    assert result.exit_code == 2 and "theme 'panda'" in result.stderr and "installed: demo, shoes" in result.stderr
    result = cli("--root", models_root, "serve", "--device", "toaster")
    assert result.exit_code == 2 and "--device toaster" in result.stderr
    if not torch.cuda.is_available():
        result = cli("--root", models_root, "serve", "--device", "cuda")
        assert result.exit_code == 2 and "no CUDA GPU" in result.stderr


def test_serve_names_a_broken_model_in_one_line(cli, root):
    install_tiny_model(root, "demo")
    (root / "models" / "demo" / "generator.safetensors").write_bytes(b"not weights")
    result = cli("--root", root, "serve")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1  # one line, no traceback
    assert "generator.safetensors: weights do not load" in result.stderr


def test_serve_reports_a_port_it_cannot_bind(cli, models_root):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = cli("--root", models_root, "serve", "--port", taken.getsockname()[1])
    assert result.exit_code == 1 and "did not start on 127.0.0.1" in result.stderr


def test_a_full_queue_refuses_at_once(models_root):
    painter = Painter.from_pretrained(model_dir(models_root, "demo"), device="cpu")
    sketch = painter.encode([np.full((64, 64), 255, np.uint8)])

    async def scenario():
        batcher = ThemeBatcher(painter, max_batch=1, max_wait_ms=0, max_queue=1)  # not started: nothing leaves the queue
        waiting = asyncio.ensure_future(batcher.submit(sketch))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match="1 requests already waiting"):
            await asyncio.wait_for(batcher.submit(sketch), 1)
        waiting.cancel()

    asyncio.run(scenario())


def test_readyz_is_503_until_the_models_are_loaded(models_root, monkeypatch):
    """An orchestrator sends traffic only once /readyz says ready: while the lifespan is still loading the
    generators the service is alive (/healthz) but not ready."""
    import httpx

    from icanvas.server import app as server

    entered, release = threading.Event(), threading.Event()
    load = server.load_models

    def slow_load(*args):
        entered.set()
        release.wait(10)
        return load(*args)

    monkeypatch.setattr(server, "load_models", slow_load)
    app = create_app(models_root)

    async def scenario():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://icanvas") as client:
            lifespan = app.router.lifespan_context(app)
            starting = asyncio.ensure_future(lifespan.__aenter__())
            assert await asyncio.to_thread(entered.wait, 10)          # the models are loading now
            loading = await client.get("/readyz"), await client.get("/healthz")
            release.set()
            await starting
            try:
                return loading, await client.get("/readyz")
            finally:
                await lifespan.__aexit__(None, None, None)

    (not_ready, alive), ready = asyncio.run(scenario())
    body = assert_error(not_ready, 503, "not_ready")
    assert body["detail"] == "models are still loading" and alive.json() == {"status": "ok"}
    assert ready.status_code == 200 and (ready.json()["status"], ready.json()["themes"]) == ("ready", ["demo", "shoes"])


def test_a_crayon_layer_apart_is_checked_and_read_under_the_lines(models_root, client):
    """`crayons`: not an image is 415, another size 422, both naming the field; on a model without hints the
    layer is read as a flattened drawing would be (colour under the lines), and no chosen colours are sent."""
    def send(c, crayons: bytes, sketch: bytes = FACE, **kw):
        return c.post("/v1/generate", data={"theme": "demo"}, **kw,
                      files={"sketch": ("drawing.png", sketch, "image/png"),
                             "crayons": ("crayons.png", crayons, "image/png")})

    assert "crayons" in assert_error(send(client, b"a shopping list, not a picture\n" * 10), 415,
                                      "unsupported_image")["detail"]
    assert "crayons" in assert_error(send(client, b""), 415, "unsupported_image")["detail"]
    detail = assert_error(send(client, png_bytes(np.zeros((150, 200, 4), np.uint8))), 422, "bad_input")["detail"]
    assert detail.startswith("crayons: 200x150 pixels, the sketch 200x200")

    layer = np.zeros((200, 200, 4), np.uint8)
    layer[60:140, 40:160] = (229, 57, 53, 255)          # a red patch across the face, lines and all
    flat = drawing().copy()
    under = (layer[..., 3] > 0) & (flat[..., 0] >= 128)
    flat[under] = layer[..., :3][under]
    resp = send(client, png_bytes(layer))
    assert resp.status_code == 200 and "x-colours" not in resp.headers
    assert resp.content == post(client, png_bytes(flat)).content != post(client).content
    assert not any(t["colours"] for t in client.get("/v1/themes").json()["themes"])

    origin = "http://tablet.example"   # a browser app on another origin may read the chosen colours
    with TestClient(create_app(models_root, settings=ServerSettings(cors_origins=(origin,)))) as c:
        resp = send(c, png_bytes(layer), headers={"Origin": origin})
        assert resp.status_code == 200 and "X-Colours" in resp.headers["access-control-expose-headers"]
