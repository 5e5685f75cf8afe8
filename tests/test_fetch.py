"""`icanvas fetch` against a loopback HTTP server serving archives built here: downloads, resume, checksums,
safe extraction, Kaggle, --from, --limit, filters, re-runs and bad images. Never touches the internet."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
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
    """Serves `files` {url path: bytes} on 127.0.0.1 with HTTP Range; can cut a response midway, fail with
    503 a number of times, and demand Basic auth (as Kaggle's API does)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}       # path -> how many responses to cut at half their body
        self.fail: dict[str, int] = {}      # path -> how many 503s to answer first
        self.auth: dict[str, str] = {}      # path -> "user:key" required
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
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
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
                self.end_headers()
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
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
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
