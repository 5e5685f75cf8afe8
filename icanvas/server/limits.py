"""Hard limits on what a client may send: the service settings and the upload-size guard.

The guard is a plain ASGI middleware so that an oversized upload is refused from its Content-Length header
before any of the body is read, and a chunked upload is cut off as soon as it passes the limit: the body is
never buffered whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

from icanvas.core.images import DEFAULT_MAX_PIXELS

MB = 1024 * 1024


@dataclass(frozen=True)
class ServerSettings:
    max_batch: int = 8             # requests per forward pass
    max_wait_ms: float = 10.0      # how long the first request of a batch waits for company
    max_queue: int = 64            # waiting requests per theme before answering 503
    max_upload_bytes: int = 10 * MB
    max_pixels: int = DEFAULT_MAX_PIXELS
    min_side: int = 16             # smaller than this is not a drawing
    device: str = "cpu"
    precision: str = "auto"        # the generators' precision and engine: see Painter.from_pretrained
    engine: str = "auto"
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    api_keys: Path | None = None   # a key file (server.access): the API needs a key; None: open, as before
    rate: float | None = None      # requests per second per client (a token bucket); None: no bucket
    burst: int = 10                # the bucket's size: requests a client may send at once
    # most of a theme's queue (max_queue) one client may hold; 1: no cap (the default, as the rate: behind a
    # proxy, or with one key for a whole app, one "client" is everyone)
    client_share: float = 1.0
    log_format: str = "text"       # the access log: text (uvicorn's lines) or json (server.observe's)

    def __post_init__(self) -> None:
        for name in ("max_batch", "max_queue", "max_upload_bytes", "max_pixels", "min_side", "burst"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_wait_ms < 0:
            raise ValueError("max_wait_ms must be 0 or more")
        if self.rate is not None and not self.rate > 0:
            raise ValueError("rate must be more than 0")
        if not 0 < self.client_share <= 1:
            raise ValueError("client_share must be more than 0 and at most 1")

    @property
    def client_in_flight(self) -> int | None:
        """Requests one client may have waiting (its share of a queue) or running (a batch) at once; None: no cap."""
        if self.client_share >= 1:
            return None
        return max(1, int(self.max_queue * self.client_share)) + self.max_batch


class BusyGuard:
    """Answer a POST to `path` with `answer(theme)` (a 503) before its body is read when `full(theme)` names a
    theme whose queue is full; `theme` comes from the query string (?theme=...), if the client sends it."""

    def __init__(self, app, *, path: str, full, answer) -> None:
        self.app, self.path, self.full, self.answer = app, path, full, answer

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            theme = self.full(query.get("theme", [None])[0])
            if theme is not None:
                return await self.answer(theme)(scope, receive, send)
        await self.app(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _too_large_body(limit: int) -> bytes:
    return json.dumps({"error": "too_large",
                       "detail": f"upload is over the limit of {limit / MB:g} MB"}).encode()


class UploadLimit:
    """Answer 413 to any request whose body is, or becomes, larger than `limit` bytes."""

    def __init__(self, app, limit: int, on_reject=None) -> None:
        self.app = app
        self.limit = limit
        self.on_reject = on_reject  # called once per refused request (for the service's counters)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._reject(send)

        seen = 0
        started = rejected = False

        async def limited_receive():
            nonlocal seen, rejected
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit and not started:
                    rejected = True
                    await self._reject(send)
                    raise _BodyTooLarge
            return message

        async def guarded_send(message):
            nonlocal started
            if rejected:
                return  # the 413 is already out; drop whatever the app answers to the aborted body
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not rejected:  # FastAPI may wrap _BodyTooLarge while parsing the form, so check the flag
                raise

    async def _reject(self, send) -> None:
        if self.on_reject is not None:
            self.on_reject()
        body = _too_large_body(self.limit)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
