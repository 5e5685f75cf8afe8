"""`icanvas train` (not built yet)."""

import typer

from icanvas.errors import NotBuilt


def train(ctx: typer.Context) -> None:
    raise NotBuilt("'icanvas train' is not built yet")
