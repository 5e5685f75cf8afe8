"""Getting a theme's pictures: resumable downloads, Kaggle, extraction and normalising into photos/.

`fetch_theme` is the one entry point; `download`, `extract_archive` (from icanvas.data.archives: format
detection, safe extraction, limits) and `normalize_photos` are its steps and are usable on their own.
Progress callbacks: `download(progress=f)` calls f(done_bytes, total_bytes_or_None);
`fetch_theme(progress=f)` calls f(stage, done, total_or_None) with stage "download", "extract" or "photos".
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Callable
from urllib.parse import urlparse

import httpx
import numpy as np

from icanvas.data.archives import ExtractLimits, extract_archive
from icanvas.data.demo import make_demo
from icanvas.core.errors import (BadInput, ChecksumMismatch, CredentialsMissing, Failure, IcanvasError, NetworkError,
                                 NotFound)
from icanvas.core.images import IMAGE_EXTENSIONS, load_rgb, save_png, split_ab
from icanvas.core.io import write_json_atomic
from icanvas.core.paths import edges_dir, photos_dir, theme_dir
from icanvas.core.runtime import kaggle_api, kaggle_env
from icanvas.core.themes import Theme, get_theme

KAGGLE_API = "https://www.kaggle.com/api/v1"
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
CHUNK = 1 << 16

Progress = Callable[[str, int, "int | None"], None]


# ---------------------------------------------------------------- downloads

class HttpStatusError(NetworkError):
    """The server answered with an HTTP error that retrying will not fix (404, 401, ...)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Transient(Exception):
    """A failure worth retrying: connection reset, cut response, 5xx."""


class _Restart(Exception):
    """The .part file cannot be continued (the file changed on the server, or the server answered another
    range): it is discarded and the download starts again from the first byte."""


MAX_RESTARTS = 2  # restarts from zero within one download() call, on top of the retries


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def part_meta_path(dest: Path) -> Path:
    """Beside the .part file: the URL and the validators (ETag, Last-Modified, length) of the response it holds."""
    return dest.with_name(dest.name + ".part.json")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, dest: Path, *, sha256: str | None = None, auth: tuple[str, str] | None = None,
              retries: int = 4, backoff: float = 1.0, timeout: float = 60.0,
              progress: Callable[[int, int | None], None] | None = None) -> str:
    """Download `url` to `dest` through `dest.part`, resuming with HTTP Range; returns the file's sha256.

    Transient errors are retried `retries` times with exponential backoff, each retry resuming where the
    last one stopped. A resume sends If-Range with the ETag (or Last-Modified) of the response that started
    the .part file (kept in `dest.part.json`) and checks the reply's Content-Range: when the file changed on
    the server, or the server answers another range, the .part is discarded and the download starts over, so
    a file is never glued together from two versions. A failed run leaves the .part file so that the next run
    resumes; a checksum mismatch deletes it. Nothing appears under `dest` unless the whole file arrived (and
    matched `sha256`).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part, meta = part_path(dest), part_meta_path(dest)
    remove_stale_tmp(dest.parent, meta.name)
    attempt = restarts = 0
    while True:
        try:
            _download_once(url, part, meta, auth=auth, timeout=timeout, progress=progress)
            break
        except _Restart as exc:
            part.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise NetworkError(f"{url}: {exc} (gave up after {restarts} restarts)") from None
        except _Transient as exc:
            if attempt == retries:
                raise NetworkError(f"{url}: {exc} (gave up after {attempt + 1} tries; run again to resume)") from None
            time.sleep(backoff * 2 ** attempt)
            attempt += 1
    digest = sha256_file(part)
    if sha256 and digest != sha256.lower():
        part.unlink()
        meta.unlink(missing_ok=True)
        raise ChecksumMismatch(f"{url}: checksum mismatch (sha256 {digest}, expected {sha256.lower()}); "
                               "the download was deleted")
    os.replace(part, dest)
    meta.unlink(missing_ok=True)
    return digest


def _read_meta(meta: Path) -> dict | None:
    try:
        data = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _validators(r: httpx.Response) -> dict:
    etag = r.headers.get("etag")
    return {"etag": etag if etag and not etag.startswith("W/") else None,  # If-Range takes strong ETags only
            "last_modified": r.headers.get("last-modified")}


def _download_once(url: str, part: Path, meta: Path, *, auth, timeout: float, progress) -> None:
    have = part.stat().st_size if part.exists() else 0
    state = _read_meta(meta) if have else None
    if state is not None and state.get("url") != url:
        raise _Restart("the partial download came from another URL; starting again")
    # identity: archives are stored byte for byte, never inflated on the way (Range counts raw bytes)
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        validator = state and (state.get("etag") or state.get("last_modified"))
        if validator:
            headers["If-Range"] = validator  # the server sends the whole (new) file if it changed
    try:
        with httpx.stream("GET", url, headers=headers, auth=auth, follow_redirects=True, timeout=timeout) as r:
            if r.status_code == 416 and have:
                if _content_range_total(r) == have and (state is None or state.get("total") in (None, have)):
                    return  # the .part is already complete
                raise _Restart("server refused to resume; starting again")
            if r.status_code in RETRY_STATUS:
                raise _Transient(f"HTTP {r.status_code} {r.reason_phrase}")
            if r.status_code >= 400:
                raise HttpStatusError(f"{url}: HTTP {r.status_code} {r.reason_phrase}", r.status_code)
            if r.status_code == 206:
                start, total = _content_range_start(r), _content_range_total(r)
                if start != have:
                    raise _Restart(f"asked for bytes {have:,}- and the server answered "
                                   f"'{r.headers.get('content-range', 'no Content-Range')}'; starting again")
                if state is not None and _changed(state, r, total):
                    raise _Restart("the file changed on the server since the partial download; starting again")
                resumed, done = True, have
            else:
                resumed, done = False, 0  # a 200: the whole file, from the first byte (If-Range: it changed)
                total = _int(r.headers.get("content-length"))
            if not resumed or state is None:
                write_json_atomic(meta, {"url": url, **_validators(r), "total": total})
            with open(part, "ab" if resumed else "wb") as f:
                for chunk in r.iter_raw(CHUNK):
                    f.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
    except httpx.TransportError as exc:
        raise _Transient(f"{type(exc).__name__}: {exc}") from None
    if total is not None and done < total:
        raise _Transient(f"connection closed after {done:,} of {total:,} bytes")


def _changed(state: dict, r: httpx.Response, total: int | None) -> bool:
    """Does a 206 reply describe another file than the one the .part holds? (for servers that ignore If-Range)"""
    now = _validators(r)
    if state.get("etag") and now["etag"]:
        return state["etag"] != now["etag"]
    if state.get("last_modified") and now["last_modified"] and state["last_modified"] != now["last_modified"]:
        return True
    return state.get("total") is not None and total is not None and state["total"] != total


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _content_range_start(r: httpx.Response) -> int | None:
    m = re.match(r"bytes (\d+)-\d+/", r.headers.get("content-range", ""))
    return int(m.group(1)) if m else None


def _content_range_total(r: httpx.Response) -> int | None:
    m = re.search(r"/(\d+)$", r.headers.get("content-range", ""))
    return int(m.group(1)) if m else None


def remove_stale_tmp(folder: Path, name: str = "*") -> int:
    """Delete the temporary files (.NAME.PID.tmp, see core.io.atomic_path; NAME a glob) of processes that no
    longer run: what a killed run left behind. Returns how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for p in folder.glob(f".{name}.*.tmp"):
        m = re.fullmatch(r"\..+\.(\d+)\.tmp", p.name)
        if not m:
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # still running: its file, not ours to touch
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError, ValueError):
            continue
        p.unlink(missing_ok=True)
        removed += 1
    return removed


# ---------------------------------------------------------------- Kaggle

def kaggle_credentials() -> tuple[str, str] | None:
    """(username, key) from KAGGLE_USERNAME/KAGGLE_KEY, else kaggle.json in $KAGGLE_CONFIG_DIR or ~/.kaggle."""
    user, key, folder = kaggle_env()
    if user and key:
        return user, key
    cfg = folder / "kaggle.json"
    if not cfg.is_file():
        return None
    try:
        data = json.loads(cfg.read_text())
        return data["username"], data["key"]
    except (ValueError, KeyError, TypeError):
        raise BadInput(f"{cfg}: not a Kaggle API token (expected JSON with \"username\" and \"key\")") from None


def kaggle_url(dataset: str) -> str:
    return f"{kaggle_api(KAGGLE_API).rstrip('/')}/datasets/download/{dataset}"


def download_kaggle(theme: Theme, dest: Path, **kw) -> str:
    creds = kaggle_credentials()
    page = f"https://www.kaggle.com/datasets/{theme.kaggle}"
    if creds is None:
        raise CredentialsMissing(
            f"{theme.name}: Kaggle credentials not found: set KAGGLE_USERNAME and KAGGLE_KEY, or save the token "
            f"from kaggle.com > Settings > API > Create New Token as ~/.kaggle/kaggle.json; or download the zip "
            f"from {page} by hand and run: icanvas fetch {theme.name} --from <file.zip>")
    try:
        return download(kaggle_url(theme.kaggle), dest, auth=creds, **kw)
    except HttpStatusError as exc:
        if exc.status in (401, 403):
            raise CredentialsMissing(f"{theme.name}: Kaggle refused the credentials of '{creds[0]}' "
                                     f"(HTTP {exc.status}); check the token, and accept the data set's terms "
                                     f"at {page}") from None
        raise


# ---------------------------------------------------------------- filters

def _keep_pandas(rel: PurePosixPath, _ctx) -> bool:
    """Only the panda class folder (Pandas/ or Panda/); the bears and the PandasBears top folder don't count."""
    return any(part.lower() in ("panda", "pandas") for part in rel.parts[:-1])


_BMW_MODELS = {"5 Series", "7 Series"}


def _dvm_fields(rel: PurePosixPath) -> list[str]:
    return rel.stem.split("$$")  # Maker, Genmodel, Year, Colour, Genmodel_ID, Adv serial, image_N


def _keep_bmw_saloons(rel: PurePosixPath, saloon_ads: set[str] | None) -> bool:
    f = _dvm_fields(rel)
    if len(f) < 6 or f[0] != "BMW" or f[1] not in _BMW_MODELS:
        return False
    return saloon_ads is None or f"{f[4]}$${f[5]}" in saloon_ads


def _dvm_saloon_ads(src: Path) -> set[str] | None:
    """Adv_IDs whose Bodytype is Saloon, from DVM's Ad_table.csv if it is anywhere under `src`."""
    tables = sorted(src.rglob("Ad_table*.csv"))
    if not tables:
        return None
    with open(tables[0], newline="", encoding="utf-8", errors="replace") as f:
        rows = csv.DictReader(f, skipinitialspace=True)
        rows.fieldnames = [c.strip() for c in rows.fieldnames or []]
        if not {"Adv_ID", "Bodytype"} <= set(rows.fieldnames):
            raise BadInput(f"{tables[0]}: expected Adv_ID and Bodytype columns (DVM Ad_table.csv)")
        return {r["Adv_ID"].strip() for r in rows if (r.get("Bodytype") or "").strip().lower() == "saloon"}


FILTERS = {"pandas": (_keep_pandas, lambda src: None), "bmw_5_7_saloons": (_keep_bmw_saloons, _dvm_saloon_ads)}


# ---------------------------------------------------------------- normalising into photos/ (+ edges/)

@dataclass
class NormalizedPhotos:
    photos: int = 0          # written this run
    existing: int = 0        # already there (kept, not redone)
    filtered_out: int = 0
    skipped: list[Failure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def skipped_records(failures: list[Failure]) -> list[dict]:
    """Skipped files as manifest.json and the --json summary list them: {"file": ..., "reason": ...}."""
    return [{"file": f.input, "reason": f.reason} for f in failures]


def find_source_images(src: Path) -> list[PurePosixPath]:
    """Image files under `src` as relative paths, sorted; hidden files and macOS resource forks left out."""
    found = []
    for p in src.rglob("*"):
        rel = PurePosixPath(p.relative_to(src).as_posix())
        if (p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                and not any(part.startswith(".") or part == "__MACOSX" for part in rel.parts)):
            found.append(rel)
    return sorted(found)


MAX_STEM = 150  # characters: a file name well under NAME_MAX (255 bytes) with ".png" and a "_N" suffix


def output_stems(files: list[PurePosixPath], paired: bool) -> list[str]:
    """Safe, unique file stems: the file's own stem where that is unique, else its path joined with '_'.

    Unique whatever the inputs (a.jpg beside a.png beside a_2.jpg; names equal but for case, for
    case-insensitive file systems) and stable: the same list of files gives the same stems on every run."""
    def clean(text: str) -> str:
        text = re.sub(r"_AB$", "", text) if paired else text
        text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "image"
        return text[:MAX_STEM].rstrip("._") or "image"

    stems = [clean(f.stem) for f in files]
    if len({s.casefold() for s in stems}) == len(stems):
        return stems
    common = os.path.commonpath([str(f.parent) for f in files]) if files else ""
    joined = [clean("_".join(PurePosixPath(os.path.relpath(f.with_suffix(""), common or ".")).parts))
              for f in files]
    # still equal (a.jpg beside a.png, "a b" beside "a_b"): number the repeats, never with a number that
    # another file has as its own name (a_2.jpg keeps "a_2", the second "a" becomes "a_3")
    natural = {name.casefold() for name in joined}
    used: set[str] = set()
    unique = []
    for name in joined:
        candidate, n = name, 1
        while candidate.casefold() in used or (n > 1 and candidate.casefold() in natural):
            n += 1
            candidate = f"{name}_{n}"
        used.add(candidate.casefold())
        unique.append(candidate)
    return unique


def normalize_photos(src: Path, theme: Theme, out: Path, *, limit: int | None = None, force: bool = False,
                     workers: int | None = None,
                     progress: Callable[[int, int | None], None] | None = None) -> NormalizedPhotos:
    """Decode every picture under `src` and write photos/<stem>.png (+ edges/<stem>.png for A|B pairs) in `out`.

    Filters apply first; `limit` keeps the first N good pictures in sorted order. Undecodable, truncated and
    empty files are skipped and listed; existing outputs are kept unless `force`.
    """
    res = NormalizedPhotos()
    for folder in (out / "photos", out / "edges"):
        remove_stale_tmp(folder)  # half-written PNGs of a run that was killed
    files = find_source_images(src)
    if theme.keep:
        keep, context = FILTERS[theme.keep]
        ctx = context(src)
        if theme.keep == "bmw_5_7_saloons" and ctx is None:
            res.notes.append("Ad_table.csv not found: kept every BMW 5/7 Series image without checking body type")
        kept = [f for f in files if keep(f, ctx)]
        res.filtered_out = len(files) - len(kept)
        files = kept
    if not files:
        raise BadInput(f"{src}: no pictures found{' that pass the filter (' + theme.note + ')' if theme.keep else ''}; "
                       f"expected layout: {theme.layout}")
    stems = output_stems(files, theme.paired)
    target = len(files) if limit is None else min(limit, len(files))
    photos, edges = out / "photos", out / "edges"

    def one(item: tuple[PurePosixPath, str]) -> str | None:
        rel, stem = item
        photo, edge = photos / f"{stem}.png", edges / f"{stem}.png"
        if not force and photo.exists() and (not theme.paired or edge.exists()):
            return "existing"
        rgb = load_rgb(src / rel, name=str(rel))
        if theme.paired:
            a, b = _split_pair(rgb, rel)
            save_png(a, edge)
            rgb = b
        save_png(rgb, photo)
        return None

    done = 0
    items = list(zip(files, stems))
    with ThreadPoolExecutor(workers or min(8, os.cpu_count() or 1)) as pool:
        pos = 0
        while done < target and pos < len(items):
            batch = items[pos:pos + target - done]  # never more than still needed: --limit writes no extras
            pos += len(batch)
            for (rel, _), outcome in zip(batch, pool.map(_safely(one), batch)):
                if isinstance(outcome, IcanvasError):
                    res.skipped.append(Failure.of(str(rel), outcome))
                    continue
                done += 1
                if outcome == "existing":
                    res.existing += 1
                else:
                    res.photos += 1
                if progress:
                    progress(done, target)
    return res


def _safely(fn):
    def run(item):
        try:
            return fn(item)
        except IcanvasError as exc:
            return exc
    return run


def _split_pair(rgb: np.ndarray, rel: PurePosixPath) -> tuple[np.ndarray, np.ndarray]:
    """A|B pix2pix image -> (A as black-on-white grayscale edges, B as the RGB photo)."""
    gray, photo = split_ab(rgb, str(rel))
    # JPEG-compressed lines: a clean threshold on the luminance so edges are pure 0 (line) / 255 (paper)
    return np.where(gray < 128, 0, 255).astype(np.uint8), photo


# ---------------------------------------------------------------- the whole fetch

@dataclass
class FetchResult:
    theme: str
    out_dir: str
    photos: int
    edges: int
    existing: int
    skipped: int
    filtered_out: int
    source: str
    url: str | None
    archive_sha256: str | None
    already: bool = False
    skipped_files: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return asdict(self)


def _is_url(text: str) -> bool:
    return urlparse(text).scheme in ("http", "https")


def _manifest(tdir: Path) -> dict | None:
    try:
        return json.loads((tdir / "manifest.json").read_text())
    except (OSError, ValueError):
        return None


def _covers(manifest: dict | None, limit: int | None, photos: Path) -> bool:
    """Does an earlier fetch (its manifest) already hold what this one asks for?"""
    if not manifest or not photos.is_dir():
        return False
    had = manifest.get("limit")
    return had is None or (limit is not None and had >= limit)


def _remote(theme: Theme, source: str | None, downloads: Path) -> tuple[str, Path]:
    """The URL to download and the file it goes to, or a clear error when the theme has no direct link."""
    if source is not None:
        return source, downloads / (Path(urlparse(source).path).name or f"{theme.name}.archive")
    if theme.kind == "url":
        return theme.url, downloads / Path(urlparse(theme.url).path).name
    if theme.kind == "kaggle":
        return kaggle_url(theme.kaggle), downloads / f"{theme.kaggle.split('/')[-1]}.zip"
    raise BadInput(f"{theme.name}: no direct download link; {theme.manual}")


def fetch_theme(root: Path, name: str, *, source: str | Path | None = None, limit: int | None = None,
                force: bool = False, sha256: str | None = None, seed: int = 0, retries: int = 4,
                backoff: float = 1.0, progress: Progress | None = None,
                limits: ExtractLimits | None = None) -> FetchResult:
    """Get theme `name` into <root>/data/<name>/ (photos/, edges/ for pairs, manifest.json).

    A downloaded archive that proves bad (damaged, encrypted, unsafe, past `limits`, no pictures) is deleted
    so that the next run downloads it again; an archive given with `source` is never deleted."""
    theme = get_theme(name)
    if limit is not None and limit < 1:
        raise BadInput(f"limit {limit}: must be at least 1")
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise BadInput(f"sha256 {sha256}: not a sha256 checksum (64 hex digits)")
    tdir = theme_dir(root, name)
    if theme.kind == "demo":
        return _fetch_demo(theme, tdir, count=limit or theme.images, seed=seed, force=force, progress=progress)

    old = _manifest(tdir)
    if not force and source is None and _covers(old, limit, photos_dir(root, name)):
        return FetchResult(name, str(tdir), old["counts"]["photos"], old["counts"]["edges"], old["counts"]["photos"],
                           0, 0, old["source"], old.get("url"), old.get("archive_sha256"), already=True)

    stage = (lambda s: (lambda d, t: progress(s, d, t))) if progress else (lambda s: None)
    url, digest, folder, archive = None, None, None, None
    if source is not None and not _is_url(str(source)):
        path = Path(source).expanduser()
        if not path.exists():
            raise NotFound(f"{path}: no such file or folder")
        folder, archive = (path, None) if path.is_dir() else (None, path)
    else:
        url, archive = _remote(theme, None if source is None else str(source), tdir / "download")
        expected = sha256 or (theme.sha256 if source is None else None)
        if archive.exists() and not force and not expected:
            pass  # downloaded whole by an earlier run that stopped before the end: use it
        elif theme.kind == "kaggle" and source is None:
            digest = download_kaggle(theme, archive, sha256=expected, retries=retries, backoff=backoff,
                                     progress=stage("download"))
        else:
            digest = download(url, archive, sha256=expected, retries=retries, backoff=backoff,
                              progress=stage("download"))

    scratch = tdir / ".extract"
    try:
        if archive is not None:
            shutil.rmtree(scratch, ignore_errors=True)
            extract_archive(archive, scratch, progress=stage("extract"), limits=limits)
            if digest is None:
                digest = sha256_file(archive)
            folder = scratch
        res = normalize_photos(folder, theme, tdir, limit=limit, force=force, progress=stage("photos"))
    except BadInput:
        if url is not None:
            archive.unlink(missing_ok=True)  # a downloaded archive that cannot be used: do not keep it around
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if url is not None and archive is not None:
        archive.unlink(missing_ok=True)  # downloaded copy: the photos are what is kept
        try:
            archive.parent.rmdir()
        except OSError:
            pass  # not empty: another download's .part waits there to resume

    n_photos = _count_png(photos_dir(root, name))
    n_edges = _count_png(edges_dir(root, name)) if theme.paired else 0
    origin = url or str(Path(source).expanduser().resolve())
    manifest = {
        "theme": name, "title": theme.title, "source": theme.source, "from": origin, "url": url,
        "archive_sha256": digest, "licence": theme.licence, "layout": theme.layout,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "limit": limit,
        "filter": theme.note if theme.keep else None,
        "counts": {"photos": n_photos, "edges": n_edges, "written": res.photos, "existing": res.existing,
                   "skipped": len(res.skipped), "filtered_out": res.filtered_out},
        "skipped": skipped_records(res.skipped), "notes": res.notes,
    }
    write_json_atomic(tdir / "manifest.json", manifest)
    return FetchResult(name, str(tdir), n_photos, n_edges, res.existing, len(res.skipped), res.filtered_out,
                       origin, url, digest, skipped_files=skipped_records(res.skipped), notes=res.notes)


def _count_png(folder: Path) -> int:
    return sum(1 for _ in folder.glob("*.png")) if folder.is_dir() else 0


def _fetch_demo(theme: Theme, tdir: Path, *, count: int, seed: int, force: bool, progress) -> FetchResult:
    old = _manifest(tdir)
    if old and old.get("seed") != seed:
        force = True  # other pictures under the same names: remake them all
    made = make_demo(tdir / "photos", count, seed, force=force,
                     progress=(lambda d, t: progress("photos", d, t)) if progress else None)
    manifest = {
        "theme": theme.name, "title": theme.title, "source": theme.source, "from": "generated", "url": None,
        "archive_sha256": None, "licence": theme.licence, "layout": theme.layout, "seed": seed,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "limit": count,
        "counts": {"photos": _count_png(tdir / "photos"), "edges": 0, "written": made["made"],
                   "existing": made["existing"], "skipped": 0, "filtered_out": 0},
        "skipped": [], "notes": [],
    }
    write_json_atomic(tdir / "manifest.json", manifest)
    return FetchResult(theme.name, str(tdir), manifest["counts"]["photos"], 0, made["existing"], 0, 0,
                       "generated", None, None)
