"""What an operator watches: Prometheus metrics at /metrics, one access-log line per request, a request id on
every answer, and the drain that SIGTERM starts (docs/serving.md).

`Observe` is the outermost ASGI middleware: it gives each request an id (`X-Request-Id`, also in the 500s'
details), counts it while in flight (the drain waits for those), answers 503 to new API requests while the
service drains, and when the answer is out records it: `icanvas_requests_total{theme,status}`, the latency
histograms (`icanvas_request_seconds`, and for pictures `icanvas_queue_seconds`,
`icanvas_inference_seconds`, `icanvas_batch_size`), and one log line (JSON with --log-format json: time, request
id, client, method, path, theme, status, latency, bytes; the key's name, never the key).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

access_log = logging.getLogger("icanvas.access")
LATENCY = (0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)
BATCHES = (1, 2, 3, 4, 6, 8, 12, 16, 32)


class Metrics:
    """The service's metrics, in a registry of its own (one per app: tests run several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("icanvas_requests", "Requests answered, by theme and HTTP status",
                                ["theme", "status"], registry=r)
        self.latency = Histogram("icanvas_request_seconds", "Time from request to the end of its answer",
                                 ["theme"], buckets=LATENCY, registry=r)
        self.queue = Histogram("icanvas_queue_seconds", "Time a picture waited for its batch", ["theme"],
                               buckets=LATENCY, registry=r)
        self.inference = Histogram("icanvas_inference_seconds", "Time of the forward pass a picture was in",
                                   ["theme"], buckets=LATENCY, registry=r)
        self.batch = Histogram("icanvas_batch_size", "Requests per forward pass, per picture", ["theme"],
                               buckets=BATCHES, registry=r)
        self.depth = Gauge("icanvas_queue_depth", "Requests waiting in a theme's queue", ["theme"], registry=r)
        self.in_flight = Gauge("icanvas_in_flight", "Requests being answered", registry=r)
        self.rejects = Counter("icanvas_rejects", "Requests refused, by reason", ["reason"], registry=r)
        self.runtime = Gauge("icanvas_runtime_info", "How each theme's generator runs (always 1)",
                             ["theme", "engine", "precision", "device", "colouring"], registry=r)

    def exposition(self, themes: dict) -> tuple[bytes, str]:
        """The text format, with the queue depths and runtimes as they are now."""
        for name, loaded in themes.items():
            self.depth.labels(name).set(loaded.batcher.queue.qsize())
            self.runtime.labels(theme=name, **loaded.painter.runtime()).set(1)
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


REJECTS = {401: "unauthorized", 404: "not_found", 413: "too_large", 415: "unsupported_image", 422: "bad_input",
           429: "rate_limited", 503: "busy"}


class Observe:
    """See the module docstring. `state` is the app's state (draining, in_flight, metrics); `json_log` picks the
    access log's format (JSON lines here; else uvicorn's own access log is the one)."""

    def __init__(self, app, *, state, json_log: bool) -> None:
        self.app, self.state, self.json_log = app, state, json_log

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        request_id = uuid.uuid4().hex[:12]
        info = scope.setdefault("state", {})
        info["request_id"] = request_id
        answer = {"status": 500, "bytes": 0}

        async def observed_send(message):
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            elif message["type"] == "http.response.body":
                answer["bytes"] += len(message.get("body", b""))
            await send(message)

        api = scope["path"].startswith("/v1/")
        if api and self.state.draining:
            return await self._draining(observed_send, scope, start)
        self.state.in_flight += 1
        self.state.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            self.state.in_flight -= 1
            self.state.metrics.in_flight.dec()
            self._record(scope, answer, time.perf_counter() - start, api)

    async def _draining(self, send, scope, start: float) -> None:
        body = json.dumps({"error": "busy", "detail": "the service is shutting down; try again (another replica "
                                                      "will answer)"}).encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"retry-after", b"1"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
        self._record(scope, {"status": 503, "bytes": len(body)}, time.perf_counter() - start, True)

    def _record(self, scope, answer: dict, seconds: float, api: bool) -> None:
        info = scope.get("state") or {}
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        theme = info.get("theme") or query.get("theme", [""])[0][:64] or "-"
        theme = theme if theme in self.state.theme_names else "-"   # labels only for real themes: bounded
        status = answer["status"]
        if api:   # the API's requests; not the page, the probes or the scrapes
            m = self.state.metrics
            m.requests.labels(theme, str(status)).inc()
            m.latency.labels(theme).observe(seconds)
            if status in REJECTS:
                m.rejects.labels(REJECTS[status]).inc()
            elif status >= 500:
                m.rejects.labels("failed").inc()
            if "batch_size" in info:
                m.queue.labels(theme).observe(info["queue_ms"] / 1000)
                m.inference.labels(theme).observe(info["inference_ms"] / 1000)
                m.batch.labels(theme).observe(info["batch_size"])
        if self.json_log:
            client = f"key:{info['key_name']}" if info.get("key_name") else (scope.get("client") or ("-",))[0]
            access_log.info(json.dumps({
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "request_id": info.get("request_id"), "client": client, "method": scope["method"],
                "path": scope["path"], "theme": theme, "status": status, "latency_ms": round(seconds * 1000, 1),
                "bytes": answer["bytes"]}, separators=(",", ":")))
