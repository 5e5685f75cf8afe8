"""The `icanvas` command: global options, error handling, and one sub-command per life-cycle stage.

Each command lives in icanvas/cli/<name>.py: it parses options, calls one library function and reports with
rich; its docstring is its help. Errors become one line on stderr and an exit code (tracebacks only under --debug).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import click
import typer
from typer.core import TyperGroup

from icanvas import __version__
from icanvas.cli import compare, edges, export, fetch, generate, pair, serve, train
from icanvas.cli.common import AppState
from icanvas.core.errors import IcanvasError
from icanvas.core.paths import resolve_root


def _fail(message: str, code: int) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    return typer.Exit(code)


class _Group(TyperGroup):
    """Turns errors raised by any command into one clear line and an exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        # typer >= 0.20 vendors click: its Exit, Abort and usage errors are not click's classes
        except (click.exceptions.Exit, click.ClickException, click.Abort, typer.Exit, typer.Abort,
                typer.TyperException):
            raise
        except IcanvasError as exc:
            if _debug(ctx):
                raise
            raise _fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise _fail("interrupted", 130) from None
        except BrokenPipeError:
            # The reader went away (`icanvas ... | head`): stop quietly, as Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(141) from None
        except Exception as exc:
            if _debug(ctx):
                raise
            raise _fail(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)", 1) from None


def _debug(ctx: click.Context) -> bool:
    return isinstance(ctx.obj, AppState) and ctx.obj.debug


app = typer.Typer(
    cls=_Group, name="icanvas", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Turn children's sketches into pictures: fetch photos, make edges, pair, train pix2pix, compare, "
         "generate, serve and export.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"icanvas {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    root: Optional[Path] = typer.Option(None, "--root", help="Where data, runs and models live "
                                        "(default: $ICANVAS_HOME, else ~/.icanvas)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or messages, only results and errors."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    ctx.obj = AppState(root=resolve_root(root), quiet=quiet, debug=debug)


app.command("fetch")(fetch.fetch)
app.command("edges")(edges.edges)
app.command("pair")(pair.pair)
app.command("train")(train.train)
app.command("compare")(compare.compare)
app.command("generate")(generate.generate)
app.command("serve")(serve.serve)
app.command("export")(export.export)


def main() -> None:
    app()
