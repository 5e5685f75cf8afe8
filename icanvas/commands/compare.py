"""`icanvas compare` (not built yet)."""

import typer

from icanvas.errors import NotBuilt


def compare(ctx: typer.Context) -> None:
    raise NotBuilt("'icanvas compare' is not built yet")
