"""`icanvas serve` (not built yet)."""

import typer

from icanvas.errors import NotBuilt


def serve(ctx: typer.Context) -> None:
    raise NotBuilt("'icanvas serve' is not built yet")
