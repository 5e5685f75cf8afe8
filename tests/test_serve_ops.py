"""What an operator relies on: Prometheus metrics that parse and count, one JSON access-log line per request
with the request id the client saw, a schema that names its errors and its auth, and SIGTERM draining a real
server on 127.0.0.1 without losing a request it accepted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from servekit import LiveServer, drawing, free_port, install_tiny_model, png_bytes

from icanvas.server.access import add_key
from icanvas.server.app import create_app
from icanvas.server.limits import ServerSettings


@pytest.fixture
def served_root(tmp_path):
    install_tiny_model(tmp_path, "demo")
    return tmp_path


def post(client, body: bytes | None = None, **kwargs):
    return client.post("/v1/generate", files={"sketch": ("s.png", body or png_bytes(drawing()), "image/png")},
                       data={"theme": "demo"}, **kwargs)


def samples(text: str) -> dict[tuple, float]:
    """(name, sorted labels) -> value, from the Prometheus text format (its own parser)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_parse_and_count_what_happened(served_root):
    with TestClient(create_app(served_root)) as client:
        assert post(client).status_code == 200 and post(client).status_code == 200
        assert post(client, b"not an image").status_code == 415
        answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    got = samples(answer.text)
    assert got[("icanvas_requests_total", (("status", "200"), ("theme", "demo")))] == 2
    assert got[("icanvas_requests_total", (("status", "415"), ("theme", "demo")))] == 1
    assert got[("icanvas_rejects_total", (("reason", "unsupported_image"),))] == 1
    assert got[("icanvas_request_seconds_count", (("theme", "demo"),))] == 3
    for histogram in ("icanvas_queue_seconds", "icanvas_inference_seconds", "icanvas_batch_size"):
        assert got[(f"{histogram}_count", (("theme", "demo"),))] == 2
    assert got[("icanvas_queue_depth", (("theme", "demo"),))] == 0
    runtime = [labels for (name, labels) in got if name == "icanvas_runtime_info"]
    assert runtime and dict(runtime[0])["theme"] == "demo" and dict(runtime[0])["engine"] in ("torch", "onnxruntime")


def test_the_schema_names_its_errors_and_its_auth(served_root, tmp_path):
    keys = tmp_path / "keys.txt"
    add_key(keys, "app")
    with TestClient(create_app(served_root, settings=ServerSettings(api_keys=keys))) as client:
        spec = client.get("/openapi.json").json()
        docs = client.get("/docs").text
    generate = spec["paths"]["/v1/generate"]["post"]
    assert {"401", "404", "413", "415", "422", "429", "500", "503"} <= set(generate["responses"])
    assert generate["responses"]["429"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert {"sketch", "theme", "variation", "crayons", "normalize"} <= set(
        spec["components"]["schemas"][generate["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
                                      .rsplit("/", 1)[1]]["properties"])
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert generate["security"] == [{"bearer": []}] and "security" not in spec["paths"]["/healthz"]["get"]
    assert "/static-offline-docs/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()


def test_one_json_access_line_per_request_with_the_id_the_client_saw(served_root, tmp_path):
    keys = tmp_path / "keys.txt"
    key = add_key(keys, "tablet")
    with LiveServer(served_root, tmp_path / "server.log", "--api-keys", str(keys), "--log-format", "json") as server:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            good = post(c, headers={"Authorization": f"Bearer {key}"})
            refused = post(c, headers={"Authorization": "Bearer ick_wrong"})
    lines = [json.loads(line) for line in (tmp_path / "server.log").read_text().splitlines()
             if line.startswith("{")]
    by_id = {line["request_id"]: line for line in lines}
    ok, no = by_id[good.headers["x-request-id"]], by_id[refused.headers["x-request-id"]]
    assert (ok["status"], ok["client"], ok["theme"], ok["path"], ok["bytes"]) == (
        200, "key:tablet", "demo", "/v1/generate", len(good.content))
    assert ok["latency_ms"] > 0 and ok["time"].endswith("+00:00")
    assert no["status"] == 401 and no["client"] == "127.0.0.1"
    assert key not in (tmp_path / "server.log").read_text()                       # names, never keys


def test_sigterm_drains_without_losing_an_accepted_request(served_root, tmp_path):
    results, stop = [], threading.Event()
    with LiveServer(served_root, tmp_path / "server.log", "--max-wait-ms", "300", "--drain-seconds", "20",
                    "--json") as server:
        body = png_bytes(drawing())

        def client():
            with httpx.Client(base_url=server.url, timeout=60) as c:
                while not stop.is_set():
                    try:
                        answer = post(c, body)
                    except httpx.TransportError:   # the listener is closed: not accepted, nothing lost
                        results.append("refused")
                        return
                    results.append(answer.status_code if answer.status_code != 200 else
                                   ("picture" if answer.content.startswith(b"\x89PNG") else "broken"))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        while results.count("picture") < 4:
            time.sleep(0.05)
        server.proc.send_signal(signal.SIGTERM)
        ready = httpx.get(server.url + "/readyz", timeout=10)
        time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(60)
        code = server.proc.wait(30)
    assert ready.status_code == 503 and ready.json()["error"] == "draining"
    assert code == 0 and set(results) <= {"picture", 503, "refused"} and "broken" not in results
    summary = json.loads(server.stdout.read_text())
    assert summary["pictures"] == results.count("picture")                      # every accepted one answered


class RoundRobinProxy:
    """The smallest load balancer: forwards each request to the next replica, and to another one where a replica
    refuses the connection or answers 503 (draining or busy), as nginx's proxy_next_upstream does."""

    def __init__(self, replicas: list[str]) -> None:
        import uvicorn
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import Response
        from starlette.routing import Route

        self.replicas, self.turn = replicas, 0

        async def forward(request: Request) -> Response:
            body = await request.body()
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            async with httpx.AsyncClient(timeout=60) as client:
                answer = None
                for _ in range(2 * len(self.replicas)):
                    self.turn += 1
                    url = self.replicas[self.turn % len(self.replicas)] + request.url.path
                    try:
                        answer = await client.request(request.method, url, content=body, headers=headers,
                                                      params=request.query_params)
                    except httpx.TransportError:
                        continue
                    if answer.status_code != 503:
                        break
            if answer is None:
                return Response(b"no replica", status_code=502)
            return Response(answer.content, status_code=answer.status_code,
                            media_type=answer.headers.get("content-type"))

        self.port = free_port()
        app = Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def test_two_replicas_behind_a_proxy_lose_nothing_when_one_drains(served_root, tmp_path):
    """Replicas are stateless: any of them answers any request. SIGTERM one while requests flow through the
    proxy: every request still gets its picture."""
    results, stop = [], threading.Event()
    with LiveServer(served_root, tmp_path / "a.log", "--max-wait-ms", "200") as a, \
            LiveServer(served_root, tmp_path / "b.log", "--max-wait-ms", "200") as b, \
            RoundRobinProxy([a.url, b.url]) as proxy:
        body = png_bytes(drawing())

        def client():
            with httpx.Client(base_url=proxy, timeout=60) as c:
                while not stop.is_set():
                    answer = post(c, body)
                    results.append(answer.status_code if answer.content.startswith(b"\x89PNG") else "broken")

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        while len(results) < 8:
            time.sleep(0.05)
        a.proc.send_signal(signal.SIGTERM)
        assert a.proc.wait(30) == 0
        served_after = len(results)
        time.sleep(1.5)                                   # b alone now
        stop.set()
        for t in threads:
            t.join(60)
    assert len(results) > served_after and set(results) == {200}


def test_a_short_soak_with_hostile_uploads():
    """benchmarks/soak.py for 15 s: no 5xx, every good request exactly its picture, memory flat."""
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    run = subprocess.run([sys.executable, str(bench / "soak.py"), "--seconds", "15", "--concurrency", "8",
                          "--size", "64", "--ngf", "8", "--no-save", "--json"],
                         capture_output=True, text=True, timeout=300, cwd=bench)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout)
    assert figures["5xx"] == 0 and figures["good"] == figures["good_exact"] > 20
    assert figures["hostile"] == figures["hostile_4xx"] > 0
    assert len(figures["hostile_statuses"]) >= 4                    # of the seven kinds, chosen at random


def test_a_bug_is_a_500_whose_request_id_the_log_has(served_root, monkeypatch, caplog):
    from icanvas.server import app as app_module

    def bug(*args, **kwargs):
        raise KeyError("a bug in icanvas (simulated)")

    monkeypatch.setattr(app_module, "prepare_sketch", bug)
    with TestClient(create_app(served_root), raise_server_exceptions=False) as client:
        answer = post(client)
        metrics = samples(client.get("/metrics").text)
    request_id = answer.headers["x-request-id"]
    assert answer.status_code == 500 and answer.json()["error"] == "internal"
    assert f"request id {request_id}" in answer.json()["detail"] and "KeyError" not in answer.json()["detail"]
    assert any(request_id in r.getMessage() and "simulated" in r.getMessage() for r in caplog.records)
    assert metrics[("icanvas_rejects_total", (("reason", "failed"),))] == 1
