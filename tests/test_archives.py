"""icanvas.data.archives: extraction that cannot write outside its folder (CVE-2025-4517 included, whatever the
Python), refuses links, devices and over-long names, stops archive bombs, detects formats by their first bytes,
and turns unreadable zips into BadInput naming the member."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from icanvas.core.errors import BadInput, UnsafeArchive
# through fetch on purpose: the CVE test runs as well against the code before icanvas.data.archives existed
from icanvas.data.fetch import extract_archive


@pytest.fixture
def archives():
    from icanvas.data import archives

    return archives


def tar_bytes(members, mode: str = "w:gz") -> bytes:
    """members: TarInfo, or (TarInfo, bytes) for files."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.PAX_FORMAT) as tf:
        for m in members:
            info, data = m if isinstance(m, tuple) else (m, None)
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def entry(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def zip_bytes(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def listing(folder: Path) -> set[tuple[str, bool, int]]:
    """Every path under `folder` (links not followed): (relative path, is a link, size)."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out.add((str(p.relative_to(folder)), p.is_symlink(), st.st_size if p.is_file() else 0))
    return out


@pytest.fixture
def put(tmp_path):
    def put(data: bytes, name: str = "a.tar.gz") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path
    return put


# ---------------------------------------------------------------- CVE-2025-4517, exactly

def cve_2025_4517_tar(dest: Path, target_dir: Path) -> bytes:
    """The public proof of concept: 16 levels of 247-character folders, each beside a one-letter symlink to it,
    then a 254-character symlink to '../' x 16 under a/b/.../p (past PATH_MAX, so the `data` filter's realpath
    stops resolving), an 'escape' symlink through it to `target_dir`, and a file written through 'escape'."""
    comp, steps = "d" * 247, "abcdefghijklmnop"
    members, path = [], ""
    for step in steps:
        members.append(entry(os.path.join(path, comp), tarfile.DIRTYPE))
        members.append(entry(os.path.join(path, step), tarfile.SYMTYPE, comp))
        path = os.path.join(path, comp)
    linkpath = os.path.join(*steps, "l" * 254)
    members.append(entry(linkpath, tarfile.SYMTYPE, "../" * len(steps)))
    up = len(Path(os.path.realpath(dest)).parts) - 1  # from dest up to /
    members.append(entry("escape", tarfile.SYMTYPE, linkpath + "/.." * up + str(target_dir)))
    members.append(file("escape/evil.png", b"written outside"))
    return tar_bytes(members, mode="w")


def test_cve_2025_4517_layout_writes_nothing_outside(tmp_path):
    dest, outside = tmp_path / "root" / "out", tmp_path / "outside"
    dest.mkdir(parents=True)
    outside.mkdir()
    archive = tmp_path / "cve.tar"
    archive.write_bytes(cve_2025_4517_tar(dest, outside))
    before = listing(tmp_path)
    with pytest.raises(UnsafeArchive, match="refusing to extract"):
        extract_archive(archive, dest)
    assert list(outside.iterdir()) == []  # on Python 3.11.7 with tarfile's `data` filter: outside/evil.png
    assert {p for p in listing(tmp_path) if not p[0].startswith("root")} == {
        p for p in before if not p[0].startswith("root")}
    assert not any(is_link for _, is_link, _ in listing(dest))


# ---------------------------------------------------------------- links, devices, names

def test_links_are_never_made_a_link_to_an_earlier_file_becomes_a_copy(tmp_path, put):
    archive = put(tar_bytes([file("set/ok.png", b"picture"), entry("set/alias.png", tarfile.SYMTYPE, "ok.png"),
                             entry("hard.png", tarfile.LNKTYPE, "set/ok.png"),
                             entry("set/up.png", tarfile.SYMTYPE, "../set/./ok.png")]))
    assert extract_archive(archive, tmp_path / "out") == 4
    out = tmp_path / "out"
    for name in ("set/alias.png", "hard.png", "set/up.png"):
        assert (out / name).read_bytes() == b"picture" and not (out / name).is_symlink()
    assert (out / "hard.png").stat().st_ino != (out / "set/ok.png").stat().st_ino


@pytest.mark.parametrize("members, words", [
    ([entry("set", tarfile.DIRTYPE), entry("alias", tarfile.SYMTYPE, "set")], "is not a file extracted before it"),
    ([entry("early.png", tarfile.SYMTYPE, "late.png"), file("late.png")], "is not a file extracted before it"),
    ([entry("self.png", tarfile.SYMTYPE, "self.png")], "is not a file extracted before it"),
    ([file("a.png"), entry("x/y.png", tarfile.LNKTYPE, "../a.png")], "points outside"),
    ([entry("up", tarfile.SYMTYPE, "..")], "points outside"),
    ([entry("c:/evil.png", tarfile.REGTYPE)], "absolute path"),
    ([file("..\\evil.png")], "'..'"),
    ([entry("dev/null", tarfile.CHRTYPE)], "device or pipe"),
    ([entry("dev/sda", tarfile.BLKTYPE)], "device or pipe"),
    ([entry("fifo", tarfile.FIFOTYPE)], "device or pipe"),
    ([file("d" * 256 + "/x.png")], "256-byte path component"),
    ([file("/".join(["d" * 200] * 6) + "/x.png")], "ExtractLimits.max_name_length"),
])
def test_links_devices_and_odd_names_are_refused(tmp_path, put, members, words):
    archive = put(tar_bytes(members))
    with pytest.raises(UnsafeArchive, match="refusing to extract") as err:
        extract_archive(archive, tmp_path / "out")
    assert str(err.value).startswith(f"{archive}: ") and words in str(err.value)
    assert not any(is_link for _, is_link, _ in listing(tmp_path))


def test_zip_symlink_entries_are_copies_or_refused(tmp_path, put):
    def link(zf, name, target):
        info = zipfile.ZipInfo(name)
        info.create_system, info.external_attr = 3, (0o120777 << 16)
        zf.writestr(info, target)

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("set/ok.png", b"picture")
        link(zf, "set/alias.png", "ok.png")
    assert extract_archive(put(buf.getvalue(), "ok.zip"), tmp_path / "ok") == 2
    assert (tmp_path / "ok/set/alias.png").read_bytes() == b"picture"
    assert not (tmp_path / "ok/set/alias.png").is_symlink()

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        link(zf, "passwd", "/etc/passwd")
    with pytest.raises(UnsafeArchive, match="points outside"):
        extract_archive(put(buf.getvalue(), "bad.zip"), tmp_path / "bad")


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_a_member_without_a_name_is_bad_input(tmp_path, put, kind):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo(""), b"x")  # zipfile's own ZipInfo.is_dir() fails on it (found by fuzzing)
    data = buf.getvalue() if kind == "zip" else tar_bytes([file("./", b"x")])
    with pytest.raises(BadInput, match="is a file without a name"):
        extract_archive(put(data, f"noname.{kind}"), tmp_path / "out")


def test_a_file_and_a_folder_of_the_same_name_are_bad_input(tmp_path, put):
    with pytest.raises(BadInput, match="needs a folder 'a'"):
        extract_archive(put(tar_bytes([file("a"), file("a/b.png")])), tmp_path / "out")


# ---------------------------------------------------------------- archive bombs

def _zip_of_zeros(size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("bomb.png", "w") as f:
        block = bytes(1 << 20)
        for _ in range(size >> 20):
            f.write(block)
    return buf.getvalue()


def test_a_200_mb_zip_bomb_is_refused_before_it_is_written(tmp_path, put):
    data = _zip_of_zeros(200 << 20)
    assert len(data) < 250_000  # ~204 KB
    archive = put(data, "bomb.zip")
    with pytest.raises(UnsafeArchive) as err:
        extract_archive(archive, tmp_path / "out")
    assert str(err.value).startswith(f"{archive}: ") and "ExtractLimits.max_ratio" in str(err.value)
    assert sum(size for _, _, size in listing(tmp_path / "out")) == 0


def test_a_tar_gz_bomb_is_refused_and_stops_at_its_budget(tmp_path, put, archives):
    one = tar_bytes([file("bomb.png", bytes(64 << 20))])  # one 64 MB member: refused from its header
    with pytest.raises(UnsafeArchive, match="ExtractLimits.max_ratio"):
        extract_archive(put(one, "one.tar.gz"), tmp_path / "one")
    assert listing(tmp_path / "one") == set()

    many = tar_bytes([file(f"b{i}.png", bytes(1 << 20)) for i in range(40)])  # 40 x 1 MB of zeros
    limits = archives.ExtractLimits(ratio_floor=8 << 20)
    with pytest.raises(UnsafeArchive, match="an archive bomb"):
        extract_archive(put(many, "many.tar.gz"), tmp_path / "many", limits=limits)
    written = sum(size for _, _, size in listing(tmp_path / "many"))
    assert 0 < written <= limits.budget(len(many))[0]


def test_total_bytes_and_member_count_limits(tmp_path, put, archives):
    data = bytes(range(256)) * 40  # 10 kB that barely compress
    archive = put(tar_bytes([file(f"m{i}.png", data) for i in range(20)]))
    with pytest.raises(UnsafeArchive, match="ExtractLimits.max_total_bytes: 100,000"):
        extract_archive(archive, tmp_path / "a", limits=archives.ExtractLimits(max_total_bytes=100_000))
    with pytest.raises(UnsafeArchive, match="more than 10 members"):
        extract_archive(archive, tmp_path / "b", limits=archives.ExtractLimits(max_members=10))
    zipped = put(zip_bytes({f"m{i}.png": data for i in range(20)}), "m.zip")
    with pytest.raises(UnsafeArchive, match="20 members, more than 10"):
        extract_archive(zipped, tmp_path / "c", limits=archives.ExtractLimits(max_members=10))
    assert extract_archive(archive, tmp_path / "d", limits=archives.ExtractLimits(max_members=20)) == 20


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_giant_member_headers_are_refused_before_tarfile_holds_them(tmp_path, put, fmt):
    info = tarfile.TarInfo("a" * (3 << 20) if fmt == tarfile.GNU_FORMAT else "set/ok.png")  # a GNU long name
    if fmt == tarfile.PAX_FORMAT:
        info.pax_headers = {"comment": "x" * (3 << 20)}  # a 3 MB pax record
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=fmt) as tf:
        tf.addfile(info)
    assert len(buf.getvalue()) < 50_000
    with pytest.raises(UnsafeArchive, match="ExtractLimits.max_header_bytes"):
        extract_archive(put(buf.getvalue()), tmp_path / "out")


def test_the_default_limits_hold_the_real_data_sets(archives):
    limits = archives.ExtractLimits()
    handbags_archive, handbags_extracted = 8_600_000_000, 8_650_000_000  # JPEG: a ratio of ~1
    assert limits.budget(handbags_archive)[0] > handbags_extracted and limits.max_members > 140_000
    assert limits.budget(2_000_000_000)[0] > 2_100_000_000
    assert limits.budget(204_000)[0] < 200 << 20  # the 204 KB zip of 200 MB


# ---------------------------------------------------------------- formats, by their first bytes

@pytest.mark.parametrize("mode, fmt", [("w", "tar"), ("w:gz", "tar.gz"), ("w:bz2", "tar.bz2"), ("w:xz", "tar.xz")])
def test_every_tar_compression_is_detected_and_extracted(tmp_path, put, archives, mode, fmt):
    archive = put(tar_bytes([file("set/a.png", b"A"), file("set/b.png", b"B")], mode), "data.bin")
    assert archives.detect_format(archive) == fmt
    assert extract_archive(archive, tmp_path / "out") == 2
    assert (tmp_path / "out/set/b.png").read_bytes() == b"B"


def test_formats_come_from_the_leading_bytes(tmp_path, put, archives):
    inner = zip_bytes({"inner.png": b"zip"})
    plain = tar_bytes([file("ok.png", b"tar"), file("last.zip", inner)], "w")
    assert zipfile.is_zipfile(io.BytesIO(plain)) and archives.detect_format(put(plain, "t.zip")) == "tar"
    assert archives.detect_format(put(inner, "z.tar.gz")) == "zip"
    assert archives.detect_format(put(zip_bytes({}), "empty.zip")) == "zip"  # PK\x05\x06
    assert extract_archive(put(zip_bytes({}), "empty.zip"), tmp_path / "empty") == 0
    for junk in (b"", b"not an archive at all", b"MZ" + inner):  # a self-extracting zip is not taken either
        with pytest.raises(BadInput, match="not a zip or tar archive"):
            extract_archive(put(junk, "junk.zip"), tmp_path / "junk")


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.95])
def test_truncated_archives_are_bad_input(tmp_path, put, cut):
    data = tar_bytes([file(f"m{i}.png", os.urandom(5000)) for i in range(5)])
    with pytest.raises(BadInput, match="damaged"):
        extract_archive(put(data[: int(len(data) * cut)]), tmp_path / "out")
    data = zip_bytes({f"m{i}.png": os.urandom(5000) for i in range(5)})
    with pytest.raises(BadInput):
        extract_archive(put(data[: int(len(data) * cut)], "t.zip"), tmp_path / "out2")
