"""Archives: format detection by leading bytes, limits against archive bombs, and extraction that cannot write
outside its folder, whatever the Python version.

Nothing here trusts `tarfile.extract`/`zipfile.extract` or tarfile's extraction filters (the `data` filter of
Python 3.11.7 is bypassed by CVE-2025-4517). Every member is written by `_Writer`:

- names: no absolute paths, no drive letters, no `..`, no NUL, at most `max_name_length` characters and
  `max_component_bytes` bytes per path component;
- types: regular files and folders only. Image data sets need no links, so no link is ever created on disk:
  a symlink or hard link member whose target is a file extracted earlier in the same archive (inside the
  folder) is written as a copy of that file; any other link is refused, and so are devices, fifos and sparse
  files;
- destinations: folders are made one component at a time, each checked to be a real folder (never a link),
  the parent's realpath and the final path's realpath must lie inside the extraction folder, and files are
  opened with O_NOFOLLOW;
- sizes: bytes are copied from the member's file object against a budget (`ExtractLimits`): total bytes,
  the ratio of extracted bytes to the archive's size, and the member count.

Errors are `UnsafeArchive` (refused on purpose) or `BadInput` (damaged, encrypted, unsupported), both naming
the archive and the member; a failed extraction may leave part of the members in `dest`: extract into a
scratch folder and delete it on error.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import lzma
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from icanvas.core.errors import BadInput, IcanvasError, NotFound, UnsafeArchive

CHUNK = 1 << 16

# format name -> how to open the decompressed stream of a tar ("zip" is read with zipfile)
TAR_OPENERS = {"tar": lambda raw: raw, "tar.gz": lambda raw: gzip.GzipFile(fileobj=raw, mode="rb"),
               "tar.bz2": lambda raw: bz2.BZ2File(raw, "rb"), "tar.xz": lambda raw: lzma.LZMAFile(raw, "rb")}

# zip compression methods zipfile can read; any other (Deflate64 = 9, PKWARE implode = 10, ...) is refused
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
               zipfile.ZIP_LZMA: "lzma"}
ZIP_METHOD_NAMES = {9: "Deflate64", 10: "PKWARE implode", 12: "bzip2", 14: "lzma", 93: "zstd", 95: "xz",
                    98: "PPMd", 99: "AES encryption"}

# errors the archive libraries raise on damaged, truncated or hostile input (while reading, never writing)
_READ_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error,
                lzma.LZMAError, ValueError, OverflowError, UnicodeError, RuntimeError, NotImplementedError)


@dataclass(frozen=True)
class ExtractLimits:
    """What one archive may extract to. The defaults hold the real data sets with room to spare (edges2handbags:
    ~8.6 GB in ~140k members; edges2shoes ~2 GB; JPEG and PNG barely compress, ratio ~1) and stop bombs
    (a 200 KB zip of 200 MB of zeros has a ratio of ~1000)."""

    max_total_bytes: int = 32 * 2**30       # bytes written, all members together
    max_members: int = 1_000_000            # members of any type
    max_ratio: float = 100.0                # bytes written / archive size ...
    ratio_floor: int = 32 * 2**20           # ... except that this many bytes are always allowed
    max_name_length: int = 1024             # characters in a member's path
    max_component_bytes: int = 255          # bytes in one component of it (NAME_MAX)
    max_header_bytes: int = 1 << 20         # tar: bytes read for one member's headers (GNU long names, pax):
                                            # tarfile holds them in memory before icanvas sees the member

    def budget(self, archive_size: int) -> tuple[int, str]:
        """The most bytes an archive of `archive_size` bytes may extract to, and which limit that is."""
        by_ratio = max(int(self.max_ratio * archive_size), self.ratio_floor)
        if by_ratio < self.max_total_bytes:
            return by_ratio, (f"ExtractLimits.max_ratio: {self.max_ratio:g} x the archive's {archive_size:,} bytes "
                              f"(at least {self.ratio_floor:,})")
        return self.max_total_bytes, f"ExtractLimits.max_total_bytes: {self.max_total_bytes:,}"


DEFAULT_LIMITS = ExtractLimits()


def detect_format(path: Path) -> str | None:
    """"zip", "tar.gz", "tar.bz2", "tar.xz" or "tar" from the file's leading bytes; None if none of them.

    Never from the end of the file: a tar whose last member is a zip is a tar."""
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    if head.startswith(b"BZh"):
        return "tar.bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "tar.xz"
    if head[257:262] == b"ustar":
        return "tar"
    return None


def extract_archive(archive: Path, dest: Path, progress: Callable[[int, int | None], None] | None = None, *,
                    limits: ExtractLimits | None = None) -> int:
    """Extract a zip or a tar (plain, gzip, bzip2, xz) into `dest`; returns the number of members.

    Raises UnsafeArchive for a member that would land outside `dest`, a link that is not a copy of a file
    extracted before it, a device or fifo, or an archive past `limits`; BadInput for a damaged, encrypted or
    unsupported archive. The caller extracts into a scratch folder and deletes it on error.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise NotFound(f"{archive}: no such file")
    fmt = detect_format(archive)
    if fmt is None:
        raise BadInput(f"{archive}: not a zip or tar archive (.zip, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz)")
    Path(dest).mkdir(parents=True, exist_ok=True)
    writer = _Writer(archive, Path(dest), limits or DEFAULT_LIMITS, progress)
    if fmt == "zip":
        return _extract_zip(writer)
    return _extract_tar(writer, TAR_OPENERS[fmt])


def _show(name: str, limit: int = 120) -> str:
    """A member name for a message: control characters escaped, long names shortened in the middle."""
    text = name.encode("unicode_escape", "backslashreplace").decode("ascii") if not name.isprintable() else name
    return text if len(text) <= limit else f"{text[:limit // 2]}...{text[-limit // 2:]}"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class _Writer:
    """Writes members into one folder, checking names, destinations, links and the byte and member budgets."""

    def __init__(self, archive: Path, dest: Path, limits: ExtractLimits, progress) -> None:
        self.archive, self.limits, self.progress = archive, limits, progress
        self.root = os.path.realpath(dest)
        self.budget, self.budget_why = limits.budget(archive.stat().st_size)
        self.written = 0
        self.count = 0
        self.files: dict[tuple[str, ...], str] = {}   # member parts -> the file written for it

    # -- names

    def unsafe(self, name: str, why: str) -> UnsafeArchive:
        return UnsafeArchive(f"{self.archive}: member '{_show(name)}' {why}; refusing to extract")

    def bad(self, name: str, why: str) -> BadInput:
        return BadInput(f"{self.archive}: member '{_show(name)}' {why}")

    def member(self, name: str) -> tuple[str, ...]:
        """Count one member against max_members and return its checked path components."""
        self.count += 1
        if self.count > self.limits.max_members:
            raise UnsafeArchive(f"{self.archive}: more than {self.limits.max_members:,} members "
                                f"(ExtractLimits.max_members); refusing to extract")
        return self.parts(name)

    def parts(self, name: str) -> tuple[str, ...]:
        lim = self.limits
        if len(name) > lim.max_name_length:
            raise self.unsafe(name, f"has a {len(name):,}-character name (ExtractLimits.max_name_length: "
                                    f"{lim.max_name_length:,})")
        if "\x00" in name:
            raise self.unsafe(name, "has a NUL character in its name")
        text = name.replace("\\", "/")
        if text.startswith("/") or re.match(r"^[A-Za-z]:", text):
            raise self.unsafe(name, "has an absolute path")
        parts = tuple(p for p in text.split("/") if p not in ("", "."))
        if ".." in parts:
            raise self.unsafe(name, "climbs out of the folder with '..'")
        for p in parts:
            try:
                size = len(os.fsencode(p))
            except UnicodeError:
                raise self.unsafe(name, "has a name that cannot be written on this system") from None
            if size > lim.max_component_bytes:
                raise self.unsafe(name, f"has a {size}-byte path component (ExtractLimits.max_component_bytes: "
                                        f"{lim.max_component_bytes})")
        return parts

    # -- folders and files

    def folder(self, parts: tuple[str, ...], name: str) -> str:
        """Make dest/parts one component at a time (each must be a real folder) and return its checked realpath."""
        path = self.root
        for i, part in enumerate(parts):
            path = os.path.join(path, part)
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                pass
            except OSError as exc:
                raise self.fs_error(exc, name, path) from None
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):  # never made by us; someone else's, or a bug: do not follow it
                raise self.unsafe(name, f"would pass through the link '{'/'.join(parts[:i + 1])}'")
            if not stat.S_ISDIR(st.st_mode):
                raise self.bad(name, f"needs a folder '{_show('/'.join(parts[:i + 1]))}' where the archive "
                                     "already put a file")
        real = os.path.realpath(path)
        if not _inside(real, self.root):
            raise self.unsafe(name, f"resolves to '{real}', outside the folder")
        return real

    def target(self, parts: tuple[str, ...], name: str) -> str:
        """The checked path a file member is written to (its parent folder made)."""
        if not parts:
            raise self.bad(name, "is a file without a name")
        parent = self.folder(parts[:-1], name)
        path = os.path.join(parent, parts[-1])
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and stat.S_ISLNK(st.st_mode):
            raise self.unsafe(name, "would be written through a link")
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise self.bad(name, "is a file where the archive already put a folder")
        real = os.path.realpath(path)
        if not _inside(real, self.root) or os.path.dirname(real) != parent:
            raise self.unsafe(name, f"resolves to '{real}', outside the folder")
        return path

    def file(self, parts: tuple[str, ...], name: str, src: IO[bytes], size: int | None) -> None:
        """Copy `src` (the member's bytes) to dest/parts within the byte budget."""
        if size is not None and self.written + size > self.budget:
            raise self.over_budget(name, self.written + size)
        path = self.target(parts, name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as exc:
            raise self.fs_error(exc, name, path) from None
        with os.fdopen(fd, "wb") as out:
            while True:
                try:
                    chunk = src.read(CHUNK)
                except _READ_ERRORS as exc:
                    raise self.damaged(exc, name) from None
                if not chunk:
                    break
                if self.written + len(chunk) > self.budget:
                    raise self.over_budget(name, self.written + len(chunk))
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise self.fs_error(exc, name, path) from None
                self.written += len(chunk)
        self.files[parts] = path

    def link(self, parts: tuple[str, ...], name: str, target: str, hard: bool) -> None:
        """A link member becomes a copy of the file it points to, if that is a file extracted before it."""
        outside = UnsafeArchive(f"{self.archive}: link '{_show(name)}' -> '{_show(target)}' points outside the "
                                "folder; refusing to extract")
        text = target.replace("\\", "/")
        if not target or "\x00" in target or text.startswith("/") or re.match(r"^[A-Za-z]:", text):
            raise outside
        resolved: list[str] = [] if hard else list(parts[:-1])  # hard links from the archive root
        for p in text.split("/"):
            if p in ("", "."):
                continue
            if p == "..":
                if not resolved:
                    raise outside
                resolved.pop()
            else:
                resolved.append(p)
        source = self.files.get(tuple(resolved))
        if source is None:
            raise UnsafeArchive(f"{self.archive}: link '{_show(name)}' -> '{_show(target)}' is not a file "
                                "extracted before it (links are only copied, never made); refusing to extract")
        if tuple(resolved) == parts:
            return  # a link to itself: the file is already there
        try:
            with open(source, "rb") as src:
                self.file(parts, name, src, os.fstat(src.fileno()).st_size)
        except OSError as exc:
            raise self.fs_error(exc, name, source) from None

    # -- errors

    def over_budget(self, name: str, total: int) -> UnsafeArchive:
        return UnsafeArchive(f"{self.archive}: extracting '{_show(name)}' takes it to {total:,} bytes, past the "
                             f"limit of {self.budget:,} ({self.budget_why}); refusing to extract (an archive bomb?)")

    def damaged(self, exc: BaseException, name: str | None = None) -> BadInput:
        where = f" at member '{_show(name)}'" if name else ""
        reason = str(exc) or type(exc).__name__
        return BadInput(f"{self.archive}: damaged, truncated or unsupported archive{where} ({reason[:200]})")

    def fs_error(self, exc: OSError, name: str, path: str) -> IcanvasError:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EMFILE):
            # the machine, not the archive: an IcanvasError that is not BadInput, so the archive is kept
            return IcanvasError(f"{path}: cannot write ({exc.strerror or exc})")
        return self.bad(name, f"cannot be written ({exc.strerror or exc})")


# ---------------------------------------------------------------- zip

def _zip_kind(info: zipfile.ZipInfo) -> str:
    """"dir", "file", "link" or "other" (device, fifo, socket), from the Unix mode when the zip records one."""
    mode = info.external_attr >> 16 if info.create_system == 3 else 0
    kind = stat.S_IFMT(mode)
    if info.filename.endswith("/") or kind == stat.S_IFDIR:  # not is_dir(): an empty name raises IndexError
        return "dir"
    if kind in (0, stat.S_IFREG):
        return "file"
    return "link" if kind == stat.S_IFLNK else "other"


def _extract_zip(w: _Writer) -> int:
    try:
        zf = zipfile.ZipFile(w.archive)
        infos = zf.infolist()
    except _READ_ERRORS as exc:
        raise w.damaged(exc) from None
    with zf:
        if len(infos) > w.limits.max_members:
            raise UnsafeArchive(f"{w.archive}: {len(infos):,} members, more than {w.limits.max_members:,} "
                                "(ExtractLimits.max_members); refusing to extract")
        declared = sum(i.file_size for i in infos)
        if declared > w.budget:
            raise UnsafeArchive(f"{w.archive}: its members add up to {declared:,} bytes, past the limit of "
                                f"{w.budget:,} ({w.budget_why}); refusing to extract (an archive bomb?)")
        plan = []
        for info in infos:  # every member is checked before anything is written
            parts, kind = w.parts(info.filename), _zip_kind(info)
            if kind == "other":
                raise w.unsafe(info.filename, "is a device, fifo or socket")
            if info.flag_bits & 0x1:
                raise w.bad(info.filename, "is encrypted (icanvas reads no password-protected zips; "
                                           "extract it by hand and use --from <folder>)")
            if info.compress_type not in ZIP_METHODS and kind != "dir":
                method = ZIP_METHOD_NAMES.get(info.compress_type, "unknown")
                raise w.bad(info.filename, f"uses compression method {info.compress_type} ({method}), which "
                                           "Python's zipfile cannot read (extract it by hand and use --from <folder>)")
            plan.append((info, parts, kind))
        for info, parts, kind in plan:
            w.count += 1
            if kind == "dir":
                w.folder(parts, info.filename)
            else:
                try:
                    src = zf.open(info)
                except _READ_ERRORS as exc:
                    raise w.damaged(exc, info.filename) from None
                with src:
                    if kind == "link":
                        try:
                            target = src.read(4097)
                        except _READ_ERRORS as exc:
                            raise w.damaged(exc, info.filename) from None
                        w.link(parts, info.filename, target.decode("utf-8", "replace"), hard=False)
                    else:
                        w.file(parts, info.filename, src, info.file_size)
            if w.progress:
                w.progress(w.count, len(infos))
    return w.count


# ---------------------------------------------------------------- tar

class _Metered:
    """The decompressed tar stream, counting what tarfile reads while it parses one member's headers: a pax
    record or GNU long name of gigabytes (from a few kilobytes of gzip) is refused before it fills memory."""

    def __init__(self, stream, w: _Writer) -> None:
        self.stream, self.w, self.window = stream, w, None

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if self.window is not None:
            self.window += len(data)
            if self.window > self.w.limits.max_header_bytes + CHUNK:
                raise UnsafeArchive(f"{self.w.archive}: member {self.w.count + 1:,} has more than "
                                    f"{self.w.limits.max_header_bytes:,} bytes of headers "
                                    "(ExtractLimits.max_header_bytes); refusing to extract")
        return data

    def headers(self, on: bool) -> None:
        self.window = 0 if on else None


def _extract_tar(w: _Writer, opener) -> int:
    with open(w.archive, "rb") as raw, opener(raw) as stream:  # the decompressors read nothing until asked
        meter = _Metered(stream, w)
        meter.headers(True)
        try:
            tf = tarfile.open(fileobj=meter, mode="r|")  # a stream: one forward pass, no seeking back
        except _READ_ERRORS as exc:
            raise w.damaged(exc) from None
        with tf:
            while True:
                meter.headers(True)
                try:
                    m = tf.next()
                except _READ_ERRORS as exc:
                    raise w.damaged(exc) from None
                meter.headers(False)
                if m is None:
                    break
                tf.members.clear()  # tarfile keeps every TarInfo; links are resolved here, so memory stays flat
                parts = w.member(m.name)
                if m.isdir():
                    w.folder(parts, m.name)
                elif m.issym() or m.islnk():
                    w.link(parts, m.name, m.linkname, hard=m.islnk())
                elif m.isreg() and not m.issparse():
                    try:
                        src = tf.extractfile(m)
                    except _READ_ERRORS as exc:
                        raise w.damaged(exc, m.name) from None
                    w.file(parts, m.name, src, m.size)
                else:
                    what = "a sparse file" if m.issparse() else "a device or pipe"
                    raise w.unsafe(m.name, f"is {what}")
                if w.progress:
                    w.progress(w.count, None)
    return w.count
