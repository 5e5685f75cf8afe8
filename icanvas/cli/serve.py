"""`icanvas serve`: the HTTP service and the drawing page, on uvicorn."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import List, Optional

import typer

from icanvas.cli.common import device_option, engine_option, finish, precision_option, say, state
from icanvas.core.errors import BadInput, IcanvasError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def draining_server(config, state, seconds: float):
    """A uvicorn server that drains on SIGTERM: the app's state says draining at once (/readyz and new API
    requests answer 503), the requests in flight get up to `seconds` to finish, then the server stops as on
    Ctrl-C and the command exits 0. Ctrl-C stops at once, as before."""
    import signal
    import threading
    import time

    import uvicorn

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            if sig != signal.SIGTERM or state.draining:
                return super().handle_exit(sig, frame)
            state.draining = True
            threading.Thread(target=self._drain, daemon=True).start()

        def _drain(self) -> None:
            deadline = time.monotonic() + seconds
            while state.in_flight and time.monotonic() < deadline:
                time.sleep(0.05)
            self.should_exit = True   # no signal to re-raise: run() returns and the summary is printed

    return DrainingServer(config)


def _positive(option: str, value: str | None, kind=float):
    """A number above zero for `option`, or one clear error line."""
    if value is None:
        return None
    try:
        number = kind(value)
    except ValueError:
        raise BadInput(f"{option} {value}: not a number") from None
    if not number > 0:
        raise BadInput(f"{option} {value}: must be more than 0")
    return number


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Address to bind; 0.0.0.0 opens the service to the network."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    theme: Optional[List[str]] = typer.Option(None, "--theme", "-t",
                                              help="Serve this theme (repeat for more; default: every installed one)."),
    max_batch: int = typer.Option(8, min=1, help="Most requests run together in one forward pass."),
    max_wait_ms: float = typer.Option(10.0, min=0, help="How long a request waits for others to batch with."),
    max_queue: int = typer.Option(64, min=1, help="Waiting requests per theme before answering 503 (busy)."),
    max_upload_mb: float = typer.Option(10.0, min=0.001, help="Largest upload accepted, in MB (else 413)."),
    max_pixels: int = typer.Option(25_000_000, min=1, help="Largest decoded image accepted, in pixels (else 413)."),
    cors_origin: Optional[List[str]] = typer.Option(None, "--cors-origin",
                                                    help="Allow browser calls from this origin (repeatable; '*' for any)."),
    device: str = typer.Option("auto", callback=device_option, help="Where the models run: auto, cpu, cuda, cuda:N."),
    precision: str = typer.Option("auto", "--precision", callback=precision_option,
                                  help="auto (bf16 where the CPU or GPU computes it natively, else fp32), fp32 or bf16."),
    engine: str = typer.Option("auto", "--engine", callback=engine_option,
                               help="auto (torch bf16 where bf16 is native, else onnxruntime fp32 on the CPU), "
                                    "torch or onnxruntime."),
    api_keys: Optional[Path] = typer.Option(None, "--api-keys", help="A key file (NAME:SHA256 lines): the API then "
                                            "needs 'Authorization: Bearer KEY' (default: $ICANVAS_API_KEYS; none: "
                                            "open)."),
    add_key: Optional[str] = typer.Option(None, "--add-key", metavar="NAME", help="Make a key named NAME, store its "
                                          "hash in the key file, print the key once, and exit."),
    rate_limit: Optional[str] = typer.Option(None, "--rate-limit", metavar="PER_S", help="Requests per second "
                                             "per client (key, else address); over it 429 (default: none)."),
    burst: str = typer.Option("10", "--burst", help="Requests a client may send at once under --rate-limit."),
    client_share: str = typer.Option("1", "--client-share", help="Most of a theme's queue one client may hold, "
                                     "(0-1], e.g. 0.25; over it 429 (default 1: no cap)."),
    log_format: str = typer.Option("text", "--log-format", help="The access log on stderr: text, or json (one "
                                   "object per request: time, request id, client, theme, status, latency, bytes)."),
    drain_seconds: str = typer.Option("30", "--drain-seconds", help="On SIGTERM: /readyz turns 503, new requests "
                                      "get 503, and requests in flight get this long to finish before the exit."),
    json_out: bool = typer.Option(False, "--json", help="At shutdown, print the summary as one JSON object."),
) -> None:
    """Run the HTTP service and the drawing page.

    POST /v1/generate, GET /v1/themes, /healthz, /readyz, /metrics, /docs, and the drawing page at /."""
    from icanvas.core.runtime import api_keys_env

    st = state(ctx)
    keys = api_keys or api_keys_env()
    if add_key is not None:
        from icanvas.server.access import add_key as make_key

        if keys is None:
            raise BadInput("--add-key: which key file? give --api-keys FILE (or set $ICANVAS_API_KEYS)")
        key = make_key(keys, add_key)
        if json_out:
            finish(st, {"name": add_key, "key": key, "file": str(keys)}, "", json_out=True)
        else:
            typer.echo(key)   # alone on stdout, for a secret store to read
            say(st, f"key '{add_key}' added to {keys}: this is the only time it is shown")
        return
    share = _positive("--client-share", client_share)
    if share > 1:
        raise BadInput(f"--client-share {client_share}: must be at most 1")
    limits = dict(rate=_positive("--rate-limit", rate_limit), burst=_positive("--burst", burst, int),
                  client_share=share)
    drain = _positive("--drain-seconds", drain_seconds)
    if log_format not in ("text", "json"):
        raise BadInput(f"--log-format {log_format}: expected text or json")

    import uvicorn

    from icanvas.core.runtime import resolve_device
    from icanvas.server.access import parse_keys
    from icanvas.server.app import choose_themes, create_app, load_models
    from icanvas.server.limits import MB, ServerSettings

    if keys is not None:
        parse_keys(keys)   # before the models load: a bad key file is one line, at once
    elif host not in LOCAL_HOSTS:
        say(st, f"[yellow]warning:[/] serving on {host} without --api-keys: anyone who can reach the port can use it")
    settings = ServerSettings(max_batch=max_batch, max_wait_ms=max_wait_ms, max_queue=max_queue,
                              max_upload_bytes=int(max_upload_mb * MB), max_pixels=max_pixels,
                              device=str(resolve_device(device)), precision=precision, engine=engine,
                              cors_origins=tuple(cors_origin or ()), api_keys=keys, log_format=log_format,
                              **limits)
    # loaded here, before the service starts, so that a broken model is one clear line
    models = load_models(st.root, choose_themes(st.root, theme), settings.device, precision, engine)
    app = create_app(st.root, theme, settings, models=models)
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["handlers"]["access"]["stream"] = "ext://sys.stderr"  # stdout is for results (the --json summary)
    # icanvas's own lines (warnings, JSON access lines) as they are, on stderr
    log_config["formatters"]["plain"] = {"format": "%(message)s"}
    log_config["handlers"]["plain"] = {"class": "logging.StreamHandler", "formatter": "plain",
                                       "stream": "ext://sys.stderr"}
    log_config["loggers"]["icanvas"] = {"handlers": ["plain"], "level": "INFO", "propagate": False}
    log_config["loggers"]["icanvas.access"] = {"handlers": ["plain"], "propagate": False,
                                               "level": "WARNING" if st.quiet else "INFO"}
    config = uvicorn.Config(app, host=host, port=port, log_level="debug" if st.debug else "warning" if st.quiet
                            else "info", access_log=not st.quiet and log_format == "text", log_config=log_config,
                            lifespan="on")
    server = draining_server(config, app.state, drain)
    runs = ", ".join(f"{name}: {p.engine} {p.precision}" for name, p in models.items())
    say(st, f"serving from {st.root / 'models'} ({runs}) on http://{host}:{port} (Ctrl-C stops)")
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown: the normal way to stop
        pass
    except SystemExit:  # uvicorn exits when it cannot bind; it has logged why
        server.started = False
    if not server.started:
        raise IcanvasError(f"the service did not start on {host}:{port} (see the log above)")
    stats = app.state.stats
    summary = {"url": f"http://{host}:{port}", "themes": app.state.theme_names,
               "pictures": stats["pictures"], "refused": stats["refused"], "busy": stats["busy"],
               "limited": stats["limited"], "unauthorized": stats["unauthorized"], "failed": stats["failed"], "runtime": {name: p.runtime() for name, p in models.items()}}
    finish(st, summary, f"served {stats['pictures']} pictures, refused {stats['refused']} bad requests, "
                        f"{stats['busy']} busy, {stats['failed']} failed", json_out=json_out)
