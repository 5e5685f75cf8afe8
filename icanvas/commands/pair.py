"""`icanvas pair` (not built yet)."""

import typer

from icanvas.errors import NotBuilt


def pair(ctx: typer.Context) -> None:
    raise NotBuilt("'icanvas pair' is not built yet")
