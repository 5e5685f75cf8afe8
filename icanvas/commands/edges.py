"""`icanvas edges` (not built yet)."""

import typer

from icanvas.errors import NotBuilt


def edges(ctx: typer.Context) -> None:
    raise NotBuilt("'icanvas edges' is not built yet")
