"""The CLI shell: help, version, global options, and errors as one line without a traceback."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys

import pytest

from icanvas import __version__
from icanvas.core.errors import NotFound

COMMANDS = ["fetch", "edges", "pair", "train", "compare", "generate", "serve", "export"]

# Each command's one-line summary (the first paragraph of its docstring, icanvas/cli/<name>.py), written out here
# so that a command showing another's help, or none, fails.
SUMMARIES = {
    "fetch": "Download a theme's photos (or make the offline demo theme, or the HED weights).",
    "edges": "Turn photos into line drawings: HED plus the pix2pix authors' post-processing.",
    "pair": "Put edges and photos side by side (A|B) in train/val/test splits.",
    "train": "Train a pix2pix generator (U-Net + PatchGAN) for a theme.",
    "compare": "Compare checkpoints on hand-drawn sketches and held-out pairs; pick one.",
    "generate": "Sketch in, picture out: files, folders, or stdin/stdout.",
    "serve": "Run the HTTP service and the drawing page.",
    "export": "Export a model to ONNX: OUT/model.onnx (dynamic batch and size) + OUT/model.json.",
}


def _words(text: str) -> str:
    """Help text as one line of words: rich wraps lines and draws boxes at the terminal's width."""
    return " ".join(text.replace("\u2502", " ").split())


def _command(name: str):
    import typer.main

    from icanvas.cli.app import app

    return typer.main.get_command(app).commands[name]


def test_help_lists_every_command(cli):
    import typer.main

    from icanvas.cli.app import app

    result = cli("--help")
    assert result.exit_code == 0
    # the app's own commands, in the order the help lists them: a command added or dropped fails here
    assert list(typer.main.get_command(app).commands) == COMMANDS
    root_help = _words(result.stdout)
    for name in COMMANDS:
        assert name in result.stdout
        assert f"{name} {SUMMARIES[name]}" in root_help, name


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_its_own_help(cli, name):
    result = cli(name, "--help")
    assert result.exit_code == 0, result.stderr
    text = _words(result.stdout)
    assert f"Usage: icanvas {name} [OPTIONS]" in text
    assert SUMMARIES[name] in text
    # the whole docstring's first paragraph, and the rest of it (e.g. where outputs go) when there is more
    doc = inspect.getdoc(_command(name).callback)
    paragraphs = [_words(p).replace("\\[", "[") for p in doc.split("\n\n")]   # rich shows \[ as [
    assert paragraphs[0] == SUMMARIES[name]
    for paragraph in paragraphs:
        assert paragraph in text
    # no other command's summary: this is the command's own help, not the root's
    for other in COMMANDS:
        if other != name:
            assert SUMMARIES[other] not in text, other
    # every option of the command, with its --no- form for switches
    options = [opt for param in _command(name).params for opt in param.opts + param.secondary_opts
               if opt.startswith("--")]
    assert options and "--json" in options
    for opt in options + ["--help"]:
        assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text), f"{name} --help lacks {opt}"


def test_fetch_help_says_what_it_does(cli):
    result = cli("fetch", "--help")
    assert result.exit_code == 0
    text = _words(result.stdout)
    assert "Download a theme's photos" in text
    for opt in ("--list", "--from", "--limit", "--seed", "--sha256", "--retries", "--json"):
        assert opt in text


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


# ---------------------------------------------------------------- errors, exit codes, --json, --root (issue 2)

def _one_error_line(result) -> str:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_unknown_theme_is_one_line_and_exit_code_2(cli, root):
    result = cli("--root", root, "fetch", "unicorns")
    assert result.exit_code == 2
    assert _one_error_line(result) == ("error: unknown theme 'unicorns': choose one of cartoon, panda, car, "
                                       "handbags, shoes, maplestory, gemstone, space, demo")
    assert result.stdout == ""


def test_fetch_without_a_theme_asks_for_one(cli, root):
    result = cli("--root", root, "fetch")
    assert result.exit_code == 2 and "--list" in _one_error_line(result)


def test_bad_option_value_is_a_usage_error(cli, root):
    result = cli("--root", root, "fetch", "demo", "--limit", "0")
    assert result.exit_code == 2 and "--limit" in result.stderr and "Traceback" not in result.stderr


def test_network_failure_is_one_line_with_exit_code_3(cli, root):
    import socket

    with socket.socket() as s:  # a port on loopback that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = cli("--root", root, "fetch", "shoes", "--from", f"http://127.0.0.1:{port}/x.tar.gz", "--retries", "0")
    assert result.exit_code == 3
    line = _one_error_line(result)
    assert f"127.0.0.1:{port}/x.tar.gz" in line and "ConnectError" in line and "run again to resume" in line


def test_list_shows_every_theme_on_stdout(cli, root):
    result = cli("--root", root, "fetch", "--list")
    assert result.exit_code == 0
    for name in ["cartoon", "panda", "car", "handbags", "shoes", "maplestory", "gemstone", "space", "demo", "hed"]:
        assert name in result.stdout
    assert "138,567" in result.stdout and "CC BY 4.0" in result.stdout
    listed = json.loads(cli("--root", root, "fetch", "--list", "--json").stdout)["themes"]
    assert listed["shoes"]["paired"] is True and listed["panda"]["batch_size"] == 1
    assert listed["car"]["epochs"] == 19 and listed["cartoon"]["images"] == 9_996


def test_json_summary_is_one_object_on_stdout_and_messages_on_stderr(cli, root):
    result = cli("--root", root, "fetch", "demo", "--limit", "3", "--json")
    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert result.stdout.count("\n") == 1 and summary["photos"] == 3
    human = cli("--root", root, "fetch", "demo", "--limit", "3")
    assert human.stdout == "" and f"-> {root / 'data' / 'demo'}" in human.stderr
    quiet = cli("--root", root, "--quiet", "fetch", "demo", "--limit", "3")
    assert quiet.stdout == "" and quiet.stderr == ""


def test_root_comes_from_icanvas_home_unless_given(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("ICANVAS_HOME", str(tmp_path / "home"))
    assert cli("fetch", "demo", "--limit", "2").exit_code == 0
    assert len(list((tmp_path / "home" / "data" / "demo" / "photos").glob("*.png"))) == 2
    assert cli("--root", tmp_path / "explicit", "fetch", "demo", "--limit", "1").exit_code == 0
    assert (tmp_path / "explicit" / "data" / "demo" / "photos" / "demo_00000.png").is_file()
    assert not (tmp_path / "home" / "data" / "demo" / "photos" / "demo_00002.png").exists()


def test_subprocess_errors_have_no_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "icanvas", "--root", str(tmp_path), "fetch", "nope"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("error: unknown theme 'nope'") and out.stderr.count("\n") == 1


def test_debug_lets_the_exception_through_for_its_traceback(cli, root):
    with pytest.raises(NotFound, match="unknown theme 'nope'"):
        cli("--root", root, "--debug", "fetch", "nope")
