"""The HTTP service: FastAPI app, models loaded once at start-up, one batching worker per theme.

create_app(root, themes, settings) checks the theme names at once (cheap) and loads the generators in the
lifespan. Every error is JSON {"error": kind, "detail": message} with the status of its IcanvasError.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Sequence

import numpy as np
import torch
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from scipy import ndimage
from starlette.exceptions import HTTPException as StarletteHTTPException

from icanvas import __version__
from icanvas.core.errors import BadInput, IcanvasError, NotFound
from icanvas.core.images import encode_png, load_rgb, load_rgba, to_gray
from icanvas.core.paths import model_dir
from icanvas.core.themes import THEMES
from icanvas.inference.generator_engines import NO_VARIATIONS
from icanvas.inference.painter import Painter
from icanvas.pix2pix.checkpoints import installed_themes
from icanvas.server.access import FairUse, KeyCheck, KeyRing
from icanvas.server.batching import InferenceFailed, QueueFull, ThemeBatcher
from icanvas.server.limits import BusyGuard, ServerSettings, UploadLimit
from icanvas.server.observe import Metrics, Observe
from icanvas.sketch.normalize import Drawing, NormalizeOptions

STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger("icanvas.server")
MAX_SEED = 2**32 - 1
MAX_MARKS = 64   # X-Colours: the largest chosen dabs, so that the header stays a few kB
FAST_PNG = 1     # zlib level for pictures: 4.3 ms per 256 px demo avatar against 6.0 at Pillow's 6, 6 % larger


class ErrorBody(BaseModel):
    """Every error the service answers."""

    error: str    # a kind: not_found, too_large, unsupported_image, bad_input, unauthorized, rate_limited, busy...
    detail: str   # what was wrong, for a person


ERRORS = {401: "missing, malformed or unknown key (with --api-keys)", 404: "unknown theme",
          413: "upload or image too large", 415: "not an image", 422: "missing or bad field",
          429: "over this client's limit: retry after Retry-After seconds",
          500: "an internal error (the request id is in X-Request-Id and the log)",
          503: "busy or shutting down: retry after Retry-After seconds"}


@dataclass
class LoadedTheme:
    painter: Painter
    batcher: ThemeBatcher


def choose_themes(root: Path, themes: Sequence[str] | None) -> list[str]:
    """The themes to serve: those asked for (each must be installed), else every installed one."""
    installed = installed_themes(root)
    if not installed:
        raise NotFound(f"{Path(root) / 'models'}: no installed models (install one with 'icanvas compare --select')")
    for name in themes or ():
        if name not in installed:
            raise NotFound(f"theme '{name}': no installed model under {Path(root) / 'models'} "
                           f"(installed: {', '.join(installed)})")
    return list(dict.fromkeys(themes)) if themes else installed


def load_models(root: Path, names: Sequence[str], device: str = "auto", precision: str = "auto",
                engine: str = "auto") -> dict[str, Painter]:
    """Each theme's installed model, loaded on `device` in `precision` on `engine` (an ONNX graph is made or
    read from the root's cache here, at start-up, not at the first request)."""
    return {name: Painter.from_pretrained(model_dir(root, name), root=root, device=device, precision=precision,
                                          engine=engine)
            for name in names}


def prepare_sketch(data: bytes, painter: Painter, *, normalize: bool, settings: ServerSettings,
                   crayons: bytes | None = None, variation: int | None = None) -> tuple[torch.Tensor, list[dict]]:
    """Upload bytes to the generator's input (Painter.encode of the drawing the model reads: lines, crayon colour
    for a model with hints, from the sketch or its separate crayon layer, the colours chosen for its blank parts
    and their fill), as `icanvas generate` prepares a file, and the chosen colours as marks on the upload
    (chosen_marks; empty where the painter chooses none): here, in a worker thread, so that the batching worker
    only runs the network."""
    rgb = load_rgb(data, name="sketch", max_pixels=settings.max_pixels)
    h, w = rgb.shape[:2]
    if min(h, w) < settings.min_side:
        raise BadInput(f"sketch: {w}x{h} pixels is too small for a drawing "
                       f"(at least {settings.min_side}x{settings.min_side})")
    layer = load_rgba(crayons, name="crayons", max_pixels=settings.max_pixels) if crayons is not None else None
    if layer is not None and layer.shape[:2] != (h, w):
        raise BadInput(f"crayons: {layer.shape[1]}x{layer.shape[0]} pixels, the sketch {w}x{h}: "
                       "they must be the same size")
    lines = rgb
    if layer is not None and not painter.hints:
        # a model without hints reads every stroke as a line: the layer under the lines, as a flattened drawing
        rgb = flatten_crayons(rgb, layer)
        layer = None
    drawing = painter.colour(painter.read(rgb, NormalizeOptions() if normalize else NormalizeOptions.off(), layer),
                             variation)
    return painter.encode([drawing]), chosen_marks(lines, drawing, separate=layer is not None)


def flatten_crayons(rgb: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """The sketch with its crayon layer (alpha over half) painted on the paper, under the lines: what the drawing
    page shows."""
    under = (layer[..., 3] > 127) & (to_gray(rgb) >= 128)
    out = rgb.copy()
    out[under] = layer[..., :3][under]
    return out


def _ink_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """(centre y, centre x, height, width) of the bounding box of `mask`, in pixels; None where it is empty."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return None
    return ((rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2, float(rows[-1] - rows[0] + 1),
            float(cols[-1] - cols[0] + 1))


def chosen_marks(rgb: np.ndarray, drawing: Drawing, *, separate: bool = True,
                 limit: int = MAX_MARKS) -> list[dict]:
    """The colours the painter chose for the blank parts of a drawing (drawing.chosen: dabs at the model size,
    in the normalised frame) as marks on the upload `rgb` (HxWx3): [{"x", "y", "r", "colour": "#rrggbb"}] in
    its pixels, the largest `limit` dabs.

    Approximate: the normalised frame is mapped back by the bounding box of the ink in the upload against the
    bounding box of the lines in drawing.lines (a scale and an offset per axis; an axis too thin to measure takes
    the other's scale). The upload's ink is its dark pixels (the light ones on a dark canvas); with the crayons
    in the sketch (`separate` False) dark crayon colours are left out, as the normaliser reads them as colour."""
    chosen = drawing.chosen
    if chosen is None or not (chosen[..., 3] > 127).any():
        return []
    gray = to_gray(rgb)
    ink = gray < 128
    if not separate:
        grey = (rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)) < 64
        ink = ink & grey if (ink & grey).any() else ink
    if ink.mean() > 0.5:   # light lines on a dark canvas
        ink = gray >= 128
    frame, upload = _ink_box(drawing.lines < 128), _ink_box(ink)
    h, w = rgb.shape[:2]
    size = drawing.lines.shape[0]
    if frame is None or upload is None:
        frame, upload = (size / 2 - 0.5, size / 2 - 0.5, size, size), ((h - 1) / 2, (w - 1) / 2, h, w)
    measurable = [upload[i] / frame[i] for i in (2, 3) if frame[i] >= max(4.0, size / 16)]
    fallback = float(np.mean(measurable)) if measurable else max(h, w) / size
    sy, sx = ((upload[i] / frame[i]) if frame[i] >= max(4.0, size / 16) else fallback for i in (2, 3))
    marks = []
    opaque = chosen[..., 3] > 127
    for colour in np.unique(chosen[..., :3][opaque], axis=0):
        labels, count = ndimage.label(opaque & (chosen[..., :3] == colour).all(axis=2))
        index = np.arange(1, count + 1)
        areas = ndimage.sum_labels(np.ones(labels.shape), labels, index)
        for (y, x), area in zip(ndimage.center_of_mass(np.ones(labels.shape), labels, index), areas):
            marks.append((area, {
                "x": int(np.clip(round(upload[1] + (x - frame[1]) * sx), 0, w - 1)),
                "y": int(np.clip(round(upload[0] + (y - frame[0]) * sy), 0, h - 1)),
                "r": max(1, round(np.sqrt(area / np.pi) * (sx + sy) / 2)),
                "colour": "#{:02x}{:02x}{:02x}".format(*(int(c) for c in colour))}))
    marks.sort(key=lambda m: -m[0])
    return [m for _, m in marks[:limit]]


def _error(status: int, kind: str, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": kind, "detail": detail}, status_code=status, headers=headers)


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def _theme_summary(name: str, painter: Painter) -> dict:
    """A theme for /v1/themes; "colours": whether its model chooses colours for line drawings (X-Colours)."""
    known = THEMES.get(name)
    info = painter.info
    return {"name": name, "title": known.title if known else name, "size": info.generator.size,
            "colours": painter.book is not None,
            "model": {"run": info.run, "epoch": info.epoch, "generator": info.generator.to_dict(),
                      "metrics": info.metrics, "icanvas_version": info.icanvas_version}}


def create_app(root: Path, themes: Sequence[str] | None = None, settings: ServerSettings = ServerSettings(),
               models: dict[str, Painter] | None = None) -> FastAPI:
    """The service for `themes` (default: every installed one). The generators are loaded at start-up, unless
    `models` (from load_models) are given: the command loads them first, so a broken model is one clear line."""
    root = Path(root)
    names = choose_themes(root, themes)
    stats: Counter = Counter()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        painters = models if models is not None else await asyncio.to_thread(
            load_models, root, names, settings.device, settings.precision, settings.engine)
        loaded: dict[str, LoadedTheme] = {}
        for name in names:
            batcher = ThemeBatcher(painters[name], max_batch=settings.max_batch, max_wait_ms=settings.max_wait_ms,
                                   max_queue=settings.max_queue)
            batcher.start()
            loaded[name] = LoadedTheme(painters[name], batcher)
        app.state.themes = loaded
        # decoding is where memory goes (25 MP is 75 MB of RGB): a few at a time, the rest wait their turn
        app.state.decode_slots = asyncio.Semaphore(max(2, os.cpu_count() or 2))
        try:
            yield
        finally:
            app.state.themes = {}
            for theme in loaded.values():
                await theme.batcher.stop()

    # /docs is Swagger UI from fastapi-offline's own files: no CDN, it works without internet
    app = FastAPIOffline(title="icanvas", version=__version__, lifespan=lifespan, redoc_url=None,
                         description="Sketch in, picture out: the service behind the children's drawing app.")
    app.state.themes = {}
    app.state.stats = stats
    app.state.theme_names = names
    app.state.metrics = Metrics()
    app.state.draining = False   # set by SIGTERM (cli.serve): /readyz and new API requests answer 503
    app.state.in_flight = 0

    @app.exception_handler(IcanvasError)
    async def _icanvas_error(request: Request, exc: IcanvasError):
        stats["refused" if exc.http_status < 500 else "failed"] += 1
        return _error(exc.http_status, exc.kind, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        stats["refused"] += 1
        return _error(422, "bad_input", _validation_detail(exc))

    def failed(request: Request, kind: str, what: str, exc: BaseException) -> JSONResponse:
        """A 500 that tells the client nothing internal: the details go to the log under the request's id."""
        stats["failed"] += 1
        request_id = getattr(request.state, "request_id", None) or uuid.uuid4().hex[:12]
        log.error("request %s: %s: %s: %s", request_id, what, type(exc).__name__, exc, exc_info=exc)
        return _error(500, kind, f"{what}: an internal error (request id {request_id})")

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):  # a bug, not the client's fault: still JSON, still one request
        answer = failed(request, "internal", f"{request.method} {request.url.path}", exc)
        if getattr(request.state, "request_id", None):   # answered outside Observe, which adds it elsewhere
            answer.headers["X-Request-Id"] = request.state.request_id
        return answer

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        kind = {400: "bad_input", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, kind, str(exc.detail), getattr(exc, "headers", None))

    def busy(theme: str) -> JSONResponse:
        stats["busy"] += 1
        return _error(503, "busy", f"theme '{theme}': {settings.max_queue} requests already waiting; try again "
                                   "shortly", {"Retry-After": "1"})

    @app.get("/healthz", summary="The process is alive")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", summary="Every model is loaded and its worker running; how each runs")
    async def readyz(request: Request):
        loaded = request.app.state.themes
        if request.app.state.draining:
            return _error(503, "draining", "the service is shutting down")
        if set(loaded) != set(names):
            return _error(503, "not_ready", "models are still loading")
        return {"status": "ready", "themes": sorted(loaded),
                "runtime": {name: loaded[name].painter.runtime() for name in sorted(loaded)}}

    @app.get("/metrics", summary="Prometheus metrics: requests, latencies, batches, queues, runtimes, rejects")
    async def metrics(request: Request) -> Response:
        body, content_type = request.app.state.metrics.exposition(request.app.state.themes)
        return Response(body, media_type=content_type)

    @app.get("/v1/themes", summary="The installed themes: title, picture size and model")
    async def list_themes(request: Request) -> dict:
        return {"themes": [_theme_summary(n, t.painter) for n, t in request.app.state.themes.items()]}

    @app.post("/v1/generate", summary="Turn a sketch into a picture (PNG)", response_class=Response,
              responses={200: {"content": {"image/png": {}}, "description": "the picture"},
                         **{status: {"model": ErrorBody, "description": text} for status, text in ERRORS.items()}})
    async def generate(
        request: Request,
        sketch: Annotated[UploadFile, File(description="the drawing: PNG, JPEG, WebP or BMP")],
        theme: Annotated[str, Form(description="an installed theme, see /v1/themes", max_length=64)],
        variation: Annotated[int | None, Form(ge=0, le=MAX_SEED,
                                              description="a seed for a different picture: another colouring of "
                                                          "a line drawing")] = None,
        crayons: Annotated[UploadFile | None, File(description="the crayon layer apart from the lines (PNG with "
                                                               "transparency, the sketch's size)")] = None,
        normalize: Annotated[bool, Form(description="clean up the drawing like the training sketches")] = True,
    ) -> Response:
        loaded = request.app.state.themes.get(theme)
        if loaded is None:  # names are looked up in the loaded table only: nothing here touches the disk
            raise NotFound(f"unknown theme '{theme}' (installed: {', '.join(request.app.state.themes)})")
        request.state.theme = theme
        if variation is not None and not loaded.painter.variations:
            raise BadInput(f"theme '{theme}': variation: {NO_VARIATIONS}")
        if loaded.batcher.queue.full():  # BusyGuard answered before the upload when it knew the theme
            return busy(theme)
        async with request.app.state.decode_slots:
            data = await sketch.read()
            layer = await crayons.read() if crayons is not None else None
            x, marks = await asyncio.to_thread(prepare_sketch, data, loaded.painter, normalize=normalize,
                                                 settings=settings, crayons=layer, variation=variation)
        try:
            picture = await loaded.batcher.submit(x, variation)
        except QueueFull:
            return busy(theme)
        except InferenceFailed as exc:
            return failed(request, "inference_failed", f"theme '{theme}': the picture could not be made", exc)
        request.state.queue_ms, request.state.inference_ms = picture.queue_ms, picture.inference_ms
        request.state.batch_size = picture.batch_size
        png = await asyncio.to_thread(encode_png, picture.image, FAST_PNG)
        stats["pictures"] += 1
        headers = {"X-Batch-Size": str(picture.batch_size), "X-Inference-Ms": f"{picture.inference_ms:.1f}",
                   "Cache-Control": "no-store"}
        if loaded.painter.book is not None:   # the colours it chose, for the drawing page to offer the child
            headers["X-Colours"] = json.dumps(marks, separators=(",", ":"))
        return Response(png, media_type="image/png", headers=headers)

    @app.get("/", include_in_schema=False)
    async def drawing_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def openapi() -> dict:
        """FastAPI's schema, with the bearer scheme on the API where keys are on."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            if settings.api_keys is not None:
                schema.setdefault("components", {})["securitySchemes"] = {
                    "bearer": {"type": "http", "scheme": "bearer", "description": "a key from 'icanvas serve "
                                                                                  "--add-key NAME'"}}
                for path, operations in schema["paths"].items():
                    if path.startswith("/v1/"):
                        for operation in operations.values():
                            operation["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi

    def refused_upload() -> None:
        stats["refused"] += 1

    def full(theme: str | None) -> str | None:
        """The theme to answer 503 for before the upload is read: the one in the query string if its queue is
        full, else any, when every queue is full (a one-theme service always knows)."""
        themes = app.state.themes
        if theme in themes:
            return theme if themes[theme].batcher.queue.full() else None
        if themes and all(t.batcher.queue.full() for t in themes.values()):
            return next(iter(themes))
        return None

    app.add_middleware(BusyGuard, path="/v1/generate", full=full, answer=busy)
    app.add_middleware(UploadLimit, limit=settings.max_upload_bytes, on_reject=refused_upload)

    def limited() -> None:
        stats["limited"] += 1

    # outside the upload limit, inside CORS: who asks (401) and how fast (429), before any body is read
    app.add_middleware(FairUse, rate=settings.rate, burst=settings.burst, in_flight=settings.client_in_flight,
                       on_reject=limited)
    if settings.api_keys is not None:
        def unauthorized() -> None:
            stats["unauthorized"] += 1

        app.add_middleware(KeyCheck, ring=KeyRing(settings.api_keys), on_reject=unauthorized)
    if settings.cors_origins:  # outermost, so refusals carry the CORS headers too
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["*"],
                           expose_headers=["X-Batch-Size", "X-Inference-Ms", "X-Colours", "Retry-After",
                                           "X-Request-Id"])
    app.add_middleware(Observe, state=app.state, json_log=settings.log_format == "json")   # outermost
    return app
