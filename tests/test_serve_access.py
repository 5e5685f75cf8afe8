"""Who may use the service and how fast (server.access): API keys from a file of hashes, revoked by deleting a
line without a restart, and a per-client token bucket and share of the queue; refusals come before the upload
is read. A real server on 127.0.0.1 where it matters."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest
from fastapi.testclient import TestClient
from servekit import LiveServer, drawing, install_tiny_model, png_bytes

from icanvas.server.access import FairUse, KeyRing, add_key, key_hash, parse_keys
from icanvas.server.app import create_app
from icanvas.server.limits import ServerSettings


@pytest.fixture
def served_root(tmp_path):
    install_tiny_model(tmp_path, "demo")
    return tmp_path


def post(client, key: str | None = None, headers: dict | None = None, **kwargs):
    headers = dict(headers or {}, **({"Authorization": f"Bearer {key}"} if key else {}))
    return client.post("/v1/generate", files={"sketch": ("s.png", png_bytes(drawing()), "image/png")},
                       data={"theme": "demo"}, headers=headers, **kwargs)


def test_add_key_prints_it_once_and_stores_only_its_hash(cli, tmp_path):
    keys = tmp_path / "keys.txt"
    r = cli("serve", "--api-keys", keys, "--add-key", "tablet-app")
    assert r.exit_code == 0, r.stderr
    key = r.stdout.strip()
    assert key.startswith("ick_") and len(key) > 40 and "only time it is shown" in r.stderr
    stored = keys.read_text()
    assert key not in stored and stored == f"tablet-app:{key_hash(key)}\n"
    r = cli("serve", "--api-keys", keys, "--add-key", "tablet-app")
    assert r.exit_code == 2 and "exists already" in r.stderr
    r = cli("serve", "--api-keys", keys, "--add-key", "web", "--json")
    assert json.loads(r.stdout)["name"] == "web" and parse_keys(keys).keys() == {"tablet-app", "web"}


def test_only_known_keys_get_pictures_and_a_deleted_line_revokes_at_once(served_root, tmp_path):
    keys = tmp_path / "keys.txt"
    app_key, web_key = add_key(keys, "app"), add_key(keys, "web")
    with TestClient(create_app(served_root, settings=ServerSettings(api_keys=keys))) as client:
        assert post(client, app_key).status_code == 200
        assert post(client, web_key).status_code == 200
        for headers, problem in (({}, "missing Authorization"), ({"Authorization": "Basic abc"}, "malformed"),
                                 ({"Authorization": "Bearer"}, "malformed"),
                                 ({"Authorization": "Bearer ick_wrong"}, "unknown or revoked key")):
            answer = post(client, headers=headers)
            assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
            assert problem in answer.json()["detail"] and answer.headers["www-authenticate"].startswith("Bearer")
        assert client.get("/v1/themes").status_code == 401
        assert client.get("/v1/themes", headers={"Authorization": f"Bearer {app_key}"}).status_code == 200
        assert client.get("/healthz").status_code == 200 and client.get("/").status_code == 200   # the page loads

        keys.write_text("\n".join(line for line in keys.read_text().splitlines() if not line.startswith("web:")))
        assert post(client, web_key).status_code == 401                     # revoked, no restart
        keys.write_text("this is not a key file\n")                          # a typo keeps the keys read before
        assert post(client, app_key).status_code == 200
        assert client.app.state.stats["unauthorized"] == 6


def test_a_refused_key_is_answered_before_the_upload_is_read(served_root, tmp_path):
    keys = tmp_path / "keys.txt"
    add_key(keys, "app")
    app = create_app(served_root, settings=ServerSettings(api_keys=keys))
    answers = []

    async def scenario():
        async def endless():   # an upload that never ends: only an answer before the body can come back
            yield b"--x\r\n"
            await asyncio.Event().wait()

        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                answer = await asyncio.wait_for(client.post(
                    "/v1/generate", content=endless(),
                    headers={"content-type": "multipart/form-data; boundary=x", "authorization": "Bearer no"}), 10)
                answers.append(answer)

    asyncio.run(scenario())
    assert answers[0].status_code == 401


@pytest.mark.parametrize("content", ["", "# only a comment\n", "app:xyz\n", "app:" + "a" * 64 + "\napp:" + "b" * 64])
def test_bad_key_files_stop_the_service_at_start_in_one_line(cli, served_root, tmp_path, content):
    keys = tmp_path / "keys.txt"
    keys.write_text(content)
    r = cli("--root", served_root, "serve", "--api-keys", keys)
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    assert str(keys) in r.stderr
    r = cli("--root", served_root, "serve", "--api-keys", tmp_path / "missing.txt")
    assert r.exit_code == 2 and "no such key file" in r.stderr


@pytest.mark.parametrize("option, value, problem", [("--rate-limit", "0", "more than 0"),
                                                    ("--rate-limit", "-2", "more than 0"),
                                                    ("--rate-limit", "fast", "not a number"),
                                                    ("--burst", "0", "more than 0"),
                                                    ("--client-share", "1.5", "at most 1"),
                                                    ("--drain-seconds", "soon", "not a number"),
                                                    ("--drain-seconds", "0", "more than 0"),
                                                    ("--log-format", "xml", "expected text or json")])
def test_bad_limits_are_one_clear_line(cli, served_root, option, value, problem):
    r = cli("--root", served_root, "serve", option, value)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and f"{option} {value}" in r.stderr and problem in r.stderr


def test_the_token_bucket_refills_at_its_rate():
    limit = FairUse(None, rate=2.0, burst=3, in_flight=8)
    assert [limit.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]       # the burst
    assert limit.take("a", now=0.0) == pytest.approx(0.5)                        # then one per half second
    assert limit.take("b", now=0.0) == 0.0                                       # another client has its own
    assert limit.take("a", now=0.5) == 0.0 and limit.take("a", now=0.5) > 0


def test_an_abusive_client_gets_429s_and_the_others_every_picture(served_root, tmp_path):
    """Three clients with their own keys at once: the one sending ten times faster is held to its limit and
    to its share of the queue; the two well-behaved ones get every picture."""
    keys = tmp_path / "keys.txt"
    good, flood = [add_key(keys, "good1"), add_key(keys, "good2")], add_key(keys, "flood")
    with LiveServer(served_root, tmp_path / "server.log", "--api-keys", str(keys), "--rate-limit", "4",
                    "--burst", "4", "--max-queue", "8", "--client-share", "0.25") as server:
        body = png_bytes(drawing())
        results: dict[str, list[int]] = {"good1": [], "good2": [], "flood": []}

        def client(name, key, count, pause):
            with httpx.Client(base_url=server.url, timeout=60) as c:
                for _ in range(count):
                    answer = c.post("/v1/generate", files={"sketch": ("s.png", body, "image/png")},
                                    data={"theme": "demo"}, headers={"Authorization": f"Bearer {key}"})
                    results[name].append(answer.status_code)
                    if answer.status_code == 429:
                        assert int(answer.headers["retry-after"]) >= 1
                    threading.Event().wait(pause)

        threads = [threading.Thread(target=client, args=("good1", good[0], 6, 0.3)),
                   threading.Thread(target=client, args=("good2", good[1], 6, 0.3))]
        threads += [threading.Thread(target=client, args=("flood", flood, 20, 0.03)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    assert results["good1"] == [200] * 6 and results["good2"] == [200] * 6
    assert results["flood"].count(429) >= 20 and set(results["flood"]) <= {200, 429}


def test_a_public_address_without_keys_is_warned_about(cli, served_root, monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self: setattr(self, "started", True))
    r = cli("--root", served_root, "serve", "--host", "0.0.0.0", "--port", "8123")
    assert r.exit_code == 0 and "without --api-keys" in r.stderr
    r = cli("--root", served_root, "serve", "--port", "8123")
    assert r.exit_code == 0 and "without --api-keys" not in r.stderr


def test_key_ring_compares_every_entry(tmp_path):
    keys = tmp_path / "keys.txt"
    first, second = add_key(keys, "a"), add_key(keys, "b")
    ring = KeyRing(keys)
    assert ring.name_of(first) == "a" and ring.name_of(second) == "b" and ring.name_of("ick_nope") is None
