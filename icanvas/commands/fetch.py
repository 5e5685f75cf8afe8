"""`icanvas fetch` (not built yet)."""

import typer

from icanvas.errors import NotBuilt


def fetch(ctx: typer.Context) -> None:
    raise NotBuilt("'icanvas fetch' is not built yet")
