"""One module per command of the `icanvas` CLI."""
