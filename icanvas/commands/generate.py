"""`icanvas generate` (not built yet)."""

import typer

from icanvas.errors import NotBuilt


def generate(ctx: typer.Context) -> None:
    raise NotBuilt("'icanvas generate' is not built yet")
