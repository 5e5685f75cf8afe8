"""Who may use the service, and how fast: API keys and a per-client token bucket (docs/serving.md).

Keys: a key file holds one `name:sha256-hex` line per key (hashes, never keys; `#` starts a comment).
`add_key(file, name)` makes a key, stores its hash and returns the key, which is shown once. The file is read
again whenever it changes, so deleting a line revokes that key without a restart. Requests to the API carry
`Authorization: Bearer <key>`; keys are compared by their hashes with hmac.compare_digest against every entry.

Fair use: per client (the key's name, else the address), a token bucket (`rate` requests per second, up to
`burst` at once) and a cap on its requests in flight (a share of a theme's queue). Both checks are ASGI
middlewares, so a refused request is answered (401 or 429) before its upload is read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from icanvas.core.errors import BadInput
from icanvas.core.io import write_bytes_atomic
from icanvas.core.runtime import warn

NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
HEX = re.compile(r"[0-9a-f]{64}")
KEY_PREFIX = "ick_"


def key_hash(key: str) -> str:
    """Keys are 256 random bits, so a plain SHA-256 is enough: nothing to guess, nothing to stretch."""
    return hashlib.sha256(key.encode()).hexdigest()


def parse_keys(path: Path) -> dict[str, str]:
    """name -> hash from a key file; BadInput naming the file (and the line) when it is missing, unreadable,
    empty or has a bad line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such key file (make one with 'icanvas serve --api-keys {path} --add-key "
                       "NAME')") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read the key file ({getattr(exc, 'strerror', None) or exc})") from None
    keys: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, digest = line.partition(":")
        if not NAME.fullmatch(name) or not HEX.fullmatch(digest):
            raise BadInput(f"{path}, line {number}: expected NAME:SHA256 (a name of letters, digits, '_.-' and "
                           "64 lowercase hex digits)")
        if name in keys:
            raise BadInput(f"{path}, line {number}: the name '{name}' is used twice")
        keys[name] = digest
    if not keys:
        raise BadInput(f"{path}: no keys in the key file (add one with 'icanvas serve --api-keys {path} "
                       "--add-key NAME')")
    return keys


def add_key(path: Path, name: str) -> str:
    """Make a new key named `name`, store its hash in the key file (created if missing) and return the key."""
    if not NAME.fullmatch(name):
        raise BadInput(f"--add-key {name}: a key name is 1-64 letters, digits, '_', '.' or '-'")
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if old.strip():
        if name in parse_keys(path):
            raise BadInput(f"{path}: a key named '{name}' exists already (delete its line to revoke it)")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    text = old + ("" if not old or old.endswith("\n") else "\n") + f"{name}:{key_hash(key)}\n"
    try:
        write_bytes_atomic(path, text.encode())
    except OSError as exc:
        raise BadInput(f"{path}: cannot write the key file ({exc.strerror or exc})") from None
    return key


class KeyRing:
    """The keys of a key file, read again when the file changes. A change that breaks the file keeps the keys
    read last (one warning line), so a typo does not lock every client out."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._keys = parse_keys(self.path)
        self._seen = self._stamp()
        self._lock = threading.Lock()

    def _stamp(self) -> tuple | None:
        try:
            s = self.path.stat()
        except OSError:
            return None
        return s.st_mtime_ns, s.st_size, s.st_ino

    def _current(self) -> dict[str, str]:
        stamp = self._stamp()
        if stamp != self._seen:
            with self._lock:
                if stamp != self._seen:
                    self._seen = stamp
                    try:
                        self._keys = parse_keys(self.path)
                    except BadInput as exc:
                        warn(f"{exc}; the keys read before stay in use")
        return self._keys

    def name_of(self, key: str) -> str | None:
        """The name of a key, or None; every entry is compared, in constant time."""
        digest = key_hash(key)
        found = None
        for name, stored in self._current().items():
            if hmac.compare_digest(digest, stored):
                found = name
        return found


def _json_response(status: int, kind: str, detail: str, headers: dict[str, str]):
    body = json.dumps({"error": kind, "detail": detail}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    head += [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def respond(send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": body})
    return respond


def _client(scope) -> str:
    """Who is asking: the key's name where keys are on, else the address."""
    state = scope.get("state") or {}
    if state.get("key_name"):
        return f"key:{state['key_name']}"
    return f"addr:{(scope.get('client') or ('unknown', 0))[0]}"


class KeyCheck:
    """Requests under `prefix` need `Authorization: Bearer <key>` of a key in `ring`: 401 otherwise, before the
    body is read. The key's name goes to scope["state"]["key_name"] (for limits and logs; never the key)."""

    def __init__(self, app, *, ring: KeyRing, prefix: str = "/v1/", on_reject=None) -> None:
        self.app, self.ring, self.prefix, self.on_reject = app, ring, prefix, on_reject

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix) or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        scheme, _, key = header.strip().partition(" ")
        if not header:
            problem = "missing Authorization header: send 'Authorization: Bearer <key>'"
        elif scheme.lower() != "bearer" or not key.strip() or " " in key.strip():
            problem = "malformed Authorization header: expected 'Bearer <key>'"
        else:
            name = self.ring.name_of(key.strip())
            if name is not None:
                scope.setdefault("state", {})["key_name"] = name
                return await self.app(scope, receive, send)
            problem = "unknown or revoked key"
        if self.on_reject is not None:
            self.on_reject()
        await _json_response(401, "unauthorized", problem, {"WWW-Authenticate": 'Bearer realm="icanvas"'})(send)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class FairUse:
    """Per client (see _client), for POSTs to `path`: a token bucket of `rate` requests per second and `burst`
    at most at once (rate None: no bucket), and at most `in_flight` requests waiting or running at once (None:
    no cap), so that one client cannot fill a queue the others share. Over either, 429 with Retry-After, before the body is
    read."""

    MAX_CLIENTS = 100_000   # buckets kept; full ones are dropped first, so memory stays bounded

    def __init__(self, app, *, rate: float | None, burst: int, in_flight: int | None, path: str = "/v1/generate",
                 on_reject=None) -> None:
        self.app, self.rate, self.burst, self.path, self.on_reject = app, rate, burst, path, on_reject
        self.in_flight = in_flight
        self.buckets: dict[str, _Bucket] = {}
        self.running: dict[str, int] = {}

    def take(self, client: str, now: float | None = None) -> float:
        """Take a token for `client`: 0.0 if there was one, else the seconds until there is."""
        now = time.monotonic() if now is None else now
        bucket = self.buckets.get(client)
        if bucket is None:
            if len(self.buckets) >= self.MAX_CLIENTS:
                self._forget_full(now)
            bucket = self.buckets[client] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        for client, b in list(self.buckets.items()):
            if b.tokens + (now - b.updated) * self.rate >= self.burst:
                del self.buckets[client]
        if len(self.buckets) >= self.MAX_CLIENTS:   # all busy: forget the oldest
            for client in sorted(self.buckets, key=lambda c: self.buckets[c].updated)[:len(self.buckets) // 10]:
                del self.buckets[client]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            return await self.app(scope, receive, send)
        client = _client(scope)
        if self.in_flight is not None and self.running.get(client, 0) >= self.in_flight:
            return await self._refuse(send, 1, f"this client already has {self.in_flight} requests waiting or "
                                               "running; send the next when one is answered")
        wait = self.take(client) if self.rate is not None else 0.0
        if wait > 0.0:
            seconds = max(1, int(wait + 0.999))
            return await self._refuse(send, seconds, f"over this client's limit of {self.rate:g} requests/s "
                                                     f"(burst {self.burst}); retry after {seconds} s")
        self.running[client] = self.running.get(client, 0) + 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.running[client] -= 1
            if not self.running[client]:
                del self.running[client]

    async def _refuse(self, send, seconds: int, detail: str) -> None:
        if self.on_reject is not None:
            self.on_reject()
        await _json_response(429, "rate_limited", detail, {"Retry-After": str(seconds)})(send)
