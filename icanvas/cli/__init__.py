"""The `icanvas` command line: app.py (global options, errors to one line) and one thin module per command."""
