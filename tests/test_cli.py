"""The CLI shell: help, version, global options, and errors as one line without a traceback."""

from __future__ import annotations

import subprocess
import sys

from icanvas import __version__

COMMANDS = ["fetch", "edges", "pair", "train", "compare", "generate", "serve"]


def test_help_lists_every_command(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.stdout


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"icanvas {__version__}"


def test_unknown_option_is_a_usage_error(cli):
    result = cli("--no-such-option")
    assert result.exit_code == 2


def test_console_script_runs_as_module(tmp_path):
    out = subprocess.run([sys.executable, "-m", "icanvas", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert __version__ in out.stdout
