"""Property-based fuzzing of archive extraction (icanvas.data.archives) with hypothesis.

Random tar (plain, gzip, bzip2, xz; ustar, GNU and PAX headers) and zip (stored, deflate) archives whose members
have names with `..`, absolute paths (into the temporary root and beside it), drive letters, backslashes, long
components and long paths; symlinks and hard links (to earlier members, to folders, out of the folder); devices
and fifos; zip entries marked as links, devices, encrypted or Deflate64; runs of thousands of members; members of
zeros that compress a thousandfold; and archives cut short or with bytes flipped. For every one:

- extraction returns, or raises BadInput (UnsafeArchive is a BadInput): any other exception fails the test;
- nothing changes under the temporary root except inside the extraction folder (listed before and after, links
  not followed), and no fixed absolute target outside it appears;
- the extraction folder holds no link, everything in it resolves inside it, and it holds no more bytes than
  the limits allow.

The seed is fixed (derandomize=True) and the number of examples bounded, so a run takes well under 30 s and
always checks the same archives. A long campaign, with fresh random archives each time:

    ICANVAS_FUZZ_EXAMPLES=20000 ICANVAS_FUZZ_RANDOM=1 .venv/bin/python -m pytest -q -s tests/test_fuzz_archives.py

(-s prints how many archives each test tried and how they ended; a failure prints the smallest archive spec
that shows it, which hypothesis also replays first on the next random run.)
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import tempfile
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from icanvas.core.errors import BadInput
from icanvas.data.archives import ExtractLimits, extract_archive

EXAMPLES = int(os.environ.get("ICANVAS_FUZZ_EXAMPLES", "200"))
RANDOM = os.environ.get("ICANVAS_FUZZ_RANDOM") == "1"
FUZZ = settings(derandomize=not RANDOM, max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])

ESCAPE = "/tmp/icanvas-fuzz-escape"  # an absolute target outside the temporary root: must never appear
ABS = "{ABS}"                         # stands for the temporary root's absolute path, filled in per run
TIGHT = ExtractLimits(max_total_bytes=300_000, max_members=40, max_ratio=5.0, ratio_floor=20_000,
                      max_name_length=600)

# ---------------------------------------------------------------- strategies

component = st.one_of(
    st.sampled_from(["a", "b", "set", "ok.png"]),  # plain names, so that some archives extract (links too)
    st.sampled_from(["a", "b", "set", "ok.png", "..", ".", "", "...", "a b", "é", "C:", "c:", "~", "\\..",
                     "..\\..", "x" * 255, "x" * 256, "d" * 247, "l" * 254, "sentinel", "root", "out"]),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/"), min_size=1, max_size=6),
)
plain_name = st.builds(lambda prefix, parts: prefix + "/".join(parts),
                       st.sampled_from(["", "", "", "", "./", "/", "\\", "C:/", "c:\\", ABS + "/", ESCAPE + "/",
                                        "../"]),
                       st.lists(component, min_size=1, max_size=5))
long_name = st.builds(lambda n: "/".join(["d" * 247] * n) + "/x.png", st.integers(1, 18))
name = st.integers(0, 5).flatmap(lambda i: long_name if i == 0 else plain_name)  # long names: 1 in 6
target = name | st.sampled_from(["ok.png", "set", "../" * 16, "a/b", "/etc/passwd", ESCAPE, ABS + "/sentinel/s.txt",
                                 "set/../ok.png", "../../../../../../../../../../" + ESCAPE.lstrip("/")])
data = st.binary(max_size=48) | st.integers(0, 1_000_000).map(bytes)  # zeros: a thousandfold in gzip

TAR_KINDS = ["file", "file", "file", "dir", "sym", "hard", "chr", "blk", "fifo", "cont"]
ZIP_KINDS = ["file", "file", "file", "dir", "sym", "chr", "fifo", "encrypted", "deflate64"]
corruption = st.one_of(st.none(), st.none(),
                       st.tuples(st.just("cut"), st.floats(0.0, 1.0)),
                       st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)),
                                                           min_size=1, max_size=8)))


def members(kinds):
    return st.lists(st.tuples(st.sampled_from(kinds), name, target, data), max_size=10)


tar_spec = st.fixed_dictionaries({
    "members": members(TAR_KINDS), "many": st.sampled_from([0, 0, 0, 0, 0, 45, 400]),
    "mode": st.sampled_from(["w", "w:gz", "w:bz2", "w:xz"]),
    "format": st.sampled_from([tarfile.PAX_FORMAT, tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT]),
    "limits": st.sampled_from([ExtractLimits(), TIGHT]), "corrupt": corruption})
zip_spec = st.fixed_dictionaries({
    "members": members(ZIP_KINDS), "many": st.sampled_from([0, 0, 0, 0, 0, 45, 400]),
    "method": st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
    "limits": st.sampled_from([ExtractLimits(), TIGHT]), "corrupt": corruption})


# ---------------------------------------------------------------- building archives

def _fill(text: str, root: Path) -> str:
    return text.replace(ABS, str(root))


def build_tar(spec: dict, root: Path) -> bytes | None:
    buf = io.BytesIO()
    types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
             "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE, "cont": tarfile.CONTTYPE}
    try:
        with tarfile.open(fileobj=buf, mode=spec["mode"], format=spec["format"]) as tf:
            for i in range(spec["many"]):
                tf.addfile(tarfile.TarInfo(f"many/{i}.png"), io.BytesIO(b""))
            for kind, member, link, payload in spec["members"]:
                info = tarfile.TarInfo(_fill(member, root))
                info.type = types[kind]
                if kind in ("sym", "hard"):
                    info.linkname = _fill(link, root)
                if kind in ("file", "cont"):
                    info.size = len(payload)
                    tf.addfile(info, io.BytesIO(payload))
                else:
                    tf.addfile(info)
    except ValueError:  # ustar cannot hold a long name or link: not an archive anyone can make
        return None
    return buf.getvalue()


def build_zip(spec: dict, root: Path) -> bytes:
    buf = io.BytesIO()
    patch: dict[int, tuple[int, int | None]] = {}
    modes = {"sym": stat.S_IFLNK | 0o777, "chr": stat.S_IFCHR | 0o644, "fifo": stat.S_IFIFO | 0o644}
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", spec["method"]) as zf:
        warnings.simplefilter("ignore")  # duplicate names are part of the game
        for i in range(spec["many"]):
            zf.writestr(f"many/{i}.png", b"")
        for kind, member, link, payload in spec["members"]:
            text = _fill(member, root)
            info = zipfile.ZipInfo(text + "/" if kind == "dir" and not text.endswith("/") else text)
            info.compress_type = spec["method"]
            if kind in modes:
                info.create_system, info.external_attr = 3, modes[kind] << 16
            if kind == "encrypted":
                patch[len(zf.infolist())] = (0x1, None)
            if kind == "deflate64":
                patch[len(zf.infolist())] = (0, 9)
            zf.writestr(info, _fill(link, root).encode() if kind == "sym" else payload)
    data = bytearray(buf.getvalue())
    if patch:
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
            infos, pos = zf.infolist(), zf.start_dir
        for i, info in enumerate(infos):
            if i in patch:
                flags, method = patch[i]
                for at, flag_off, method_off in ((info.header_offset, 6, 8), (pos, 8, 10)):
                    data[at + flag_off] |= flags
                    if method is not None:
                        data[at + method_off:at + method_off + 2] = method.to_bytes(2, "little")
            n, e, c = (int.from_bytes(data[pos + k:pos + k + 2], "little") for k in (28, 30, 32))
            pos += 46 + n + e + c
    return bytes(data)


def corrupt(data: bytes, how) -> bytes:
    if how is None or not data:
        return data
    if how[0] == "cut":
        return data[: int(len(data) * how[1])]
    out = bytearray(data)
    for where, value in how[1]:
        out[min(int(len(out) * where), len(out) - 1)] = value
    return bytes(out)


# ---------------------------------------------------------------- the property

def snapshot(folder: Path, skip: Path) -> dict[str, tuple]:
    """Everything under `folder` but `skip`, links not followed: path -> (type, size, mtime)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        if Path(dirpath) == skip:
            dirnames[:] = []
            continue
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            if p == skip:
                continue
            st_ = p.lstat()
            out[str(p)] = (stat.S_IFMT(st_.st_mode), st_.st_size, st_.st_mtime_ns)
    return out


def escaped() -> list[str]:
    return sorted(str(p) for p in Path("/tmp").glob("icanvas-fuzz-escape*"))


def check_extraction(build, spec: dict, suffix: str, stats: Counter) -> None:
    """Build the archive `spec` describes (absolute names aimed into the temporary root), extract it, check."""
    parent = Path(tempfile.mkdtemp(prefix="icanvas-fuzz-"))  # the temporary root
    try:
        archive_bytes = build(spec, parent)
        if archive_bytes is None:
            stats["unbuildable"] += 1
            return
        archive_bytes, limits = corrupt(archive_bytes, spec["corrupt"]), spec["limits"]
        (parent / "sentinel").mkdir()
        (parent / "sentinel" / "s.txt").write_text("must stay as it is")
        # out/ three levels down, so that anything climbing 1 to 4 levels lands in the listing
        archive, dest = parent / f"archive{suffix}", parent / "root" / "deep" / "er" / "out"
        dest.mkdir(parents=True)
        archive.write_bytes(archive_bytes)
        before, escapes = snapshot(parent, dest), escaped()
        try:
            extract_archive(archive, dest, limits=limits)
            stats["extracted"] += 1
        except BadInput as exc:  # UnsafeArchive included; anything else fails the test
            stats[type(exc).__name__] += 1
        assert snapshot(parent, dest) == before, "something changed outside the extraction folder"
        assert escaped() == escapes, "an absolute path outside the temporary root was written"
        if dest.exists():
            root = os.path.realpath(dest)
            total = 0
            for dirpath, dirnames, filenames in os.walk(dest):
                for n in dirnames + filenames:
                    p = Path(dirpath) / n
                    assert not p.is_symlink(), f"a link was made: {p}"
                    assert os.path.realpath(p).startswith(root + os.sep)
                    mode = p.lstat().st_mode
                    assert stat.S_ISDIR(mode) or stat.S_ISREG(mode), f"not a file or folder: {p}"
                    total += p.lstat().st_size if stat.S_ISREG(mode) else 0
            assert total <= limits.budget(len(archive_bytes))[0]
    finally:
        shutil.rmtree(parent, ignore_errors=True)
    stats["examples"] += 1


TAR_STATS: Counter = Counter()
ZIP_STATS: Counter = Counter()


@FUZZ
@given(tar_spec)
def _fuzz_tar(spec):
    check_extraction(build_tar, spec, ".tar" + spec["mode"][2:], TAR_STATS)


@FUZZ
@given(zip_spec)
@example({"members": [("file", "", "ok.png", b"")], "many": 0, "method": zipfile.ZIP_STORED,  # found by a
          "limits": ExtractLimits(), "corrupt": None})  # random campaign: zipfile's is_dir() fails on ""
def _fuzz_zip(spec):
    check_extraction(build_zip, spec, ".zip", ZIP_STATS)


@pytest.mark.parametrize("fuzz, stats, kind", [(_fuzz_tar, TAR_STATS, "tar"), (_fuzz_zip, ZIP_STATS, "zip")])
def test_fuzzed_archives_extract_inside_or_raise_bad_input(fuzz, stats, kind):
    stats.clear()
    fuzz()
    print(f"\n{kind}: {dict(stats)}")
    assert stats["examples"] + stats["unbuildable"] >= EXAMPLES * 0.8  # hypothesis ran (nearly) all of them
    assert stats["extracted"] > 0 and stats["UnsafeArchive"] > 0 and stats["BadInput"] > 0  # every outcome seen


# ---------------------------------------------------------------- the other half: good archives come out whole

safe_text = st.text(st.sampled_from("abcxyz019_-. é"), min_size=1, max_size=12).filter(
    lambda t: t.strip(".") and t not in (".", ".."))
good_member = st.tuples(st.sampled_from(["", "a/", "b/", "a/c/", "./a/"]), safe_text, st.binary(max_size=2048),
                        st.sampled_from(["file", "file", "file", "sym", "hard"]))
good_spec = st.fixed_dictionaries({"members": st.lists(good_member, min_size=1, max_size=12),
                                   "kind": st.sampled_from(["w", "w:gz", "w:bz2", "w:xz", "zip"])})
GOOD_STATS: Counter = Counter()


def build_good(spec: dict, folder: Path) -> tuple[Path, dict[str, bytes]]:
    """An archive of files (with in-folder links to earlier files) and what each path must hold after."""
    expected: dict[str, bytes] = {}
    entries = []
    for prefix, stem, payload, kind in spec["members"]:
        path = os.path.normpath(prefix + stem + ".png")
        if kind != "file" and expected:
            src = sorted(expected)[len(path) % len(expected)]
            entries.append((path, kind, src))
            expected[path] = expected[src]
        else:
            entries.append((path, "file", payload))
            expected[path] = payload
    archive = folder / ("good.zip" if spec["kind"] == "zip" else "good.tar")
    if spec["kind"] == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for path, kind, what in entries:
                info = zipfile.ZipInfo(path)
                if kind != "file":  # a zip has symlinks only: relative to the link's folder
                    info.create_system, info.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
                    what = os.path.relpath(what, os.path.dirname(path) or ".").encode()
                zf.writestr(info, what)
    else:
        with tarfile.open(archive, spec["kind"], format=tarfile.PAX_FORMAT) as tf:
            for path, kind, what in entries:
                info = tarfile.TarInfo(path)
                if kind == "file":
                    info.size = len(what)
                    tf.addfile(info, io.BytesIO(what))
                else:
                    info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                    info.linkname = os.path.relpath(what, os.path.dirname(path) or ".") if kind == "sym" else what
                    tf.addfile(info)
    return archive, expected


@FUZZ
@given(good_spec)
def _fuzz_good(spec):
    folder = Path(tempfile.mkdtemp(prefix="icanvas-fuzz-"))
    try:
        archive, expected = build_good(spec, folder)
        assert extract_archive(archive, folder / "out") == len(spec["members"])
        found = {str(p.relative_to(folder / "out")): p.read_bytes()
                 for p in (folder / "out").rglob("*") if p.is_file()}
        assert found == expected
        assert not any(p.is_symlink() for p in (folder / "out").rglob("*"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    GOOD_STATS["examples"] += 1


def test_fuzzed_good_archives_come_out_whole_with_links_as_copies():
    GOOD_STATS.clear()
    _fuzz_good()
    print(f"\ngood: {dict(GOOD_STATS)}")
    assert GOOD_STATS["examples"] >= EXAMPLES * 0.8
