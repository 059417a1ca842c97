"""The top-level ``webkit`` group: help, version, lazy loading, completion."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner

from webkit_cli import __version__
from webkit_cli.cli import COMMANDS, cli

HEAVY = ("rich", "jinja2", "werkzeug", "flask", "watchfiles", "dotenv")


def test_help_lists_every_command_with_its_summary(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name, (_, summary) in COMMANDS.items():
        assert name in result.output
        assert summary in result.output
    assert "_WEBKIT_COMPLETE=bash_source" in result.output


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"webkit, version {__version__}"


def test_unknown_command_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert "No such command 'serve'" in result.output


def _imported_modules(args: list[str]) -> set[str]:
    """Top-level modules imported by a real ``python -m webkit_cli ARGS`` process."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "webkit_cli", *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_help_imports_no_heavy_module() -> None:
    imported = _imported_modules(["--help"])
    assert "click" in imported  # the measurement itself works
    assert not imported & set(HEAVY), imported & set(HEAVY)


def test_python_dash_m_runs_the_same_cli() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "webkit_cli", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"webkit, version {__version__}"


def test_bash_completion_script_and_command_names() -> None:
    env = {**os.environ, "_WEBKIT_COMPLETE": "bash_source"}
    script = subprocess.run(
        [sys.executable, "-m", "webkit_cli"], capture_output=True, text=True, env=env
    )
    assert "complete -o nosort -F" in script.stdout
    env = {
        **os.environ,
        "_WEBKIT_COMPLETE": "bash_complete",
        "COMP_WORDS": "webkit r",
        "COMP_CWORD": "1",
    }
    words = subprocess.run(
        [sys.executable, "-m", "webkit_cli"], capture_output=True, text=True, env=env
    )
    completions = {line.split(",")[-1] for line in words.stdout.split()}
    assert {"routes", "run"} <= completions
    assert "new" not in completions
