"""The top-level ``webkit`` group: help, version, lazy loading, completion."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests.check import _warm
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


@pytest.mark.parametrize(
    ("typed", "suggestion"),
    [("rnu", "'run'"), ("chek", "'check'"), ("rotues", "'routes'"), ("shel", "'shell'")],
)
def test_a_mistyped_command_gets_a_suggestion(
    runner: CliRunner, typed: str, suggestion: str
) -> None:
    result = runner.invoke(cli, [typed])
    assert result.exit_code == 2
    assert f"No such command '{typed}'. Did you mean {suggestion}?" in result.output


def test_a_typo_imports_no_command_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "webkit_cli", "rnu"],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.returncode == 2
    assert "Did you mean 'run'?" in proc.stderr
    assert "webkit_cli.commands" not in proc.stderr


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


def test_lazy_table_and_commands_hold_together() -> None:
    """Each table entry loads the command of that name; its short help is the table's."""
    ctx = cli.make_context("webkit", ["--help"], resilient_parsing=True)
    for name, (import_path, summary) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None, import_path
        assert command.name == name
        assert command.get_short_help_str(limit=200) == summary
        # A command module that declares its own short help would say it twice.
        if name != "new":
            assert command.callback is not None
            source = inspect.getsource(inspect.getmodule(command.callback))  # type: ignore[arg-type]
            assert "short_help=" not in source, name


def _option(command: click.Command, name: str) -> click.Option:
    return next(p for p in command.params if isinstance(p, click.Option) and p.name == name)


@pytest.mark.parametrize("param", ["app", "project_dir"])
def test_app_and_project_are_declared_once_for_run_routes_and_check(param: str) -> None:
    ctx = cli.make_context("webkit", ["--help"], resilient_parsing=True)
    names = ("run", "routes", "check", "shell")
    options = [_option(cli.get_command(ctx, name), param) for name in names]  # type: ignore[arg-type]
    first = options[0]
    for option in options[1:]:
        assert option.opts == first.opts and option.secondary_opts == first.secondary_opts
        assert option.envvar == first.envvar and option.help == first.help
        assert type(option.type) is type(first.type) and option.metavar == first.metavar
    assert first.opts == (["-a", "--app"] if param == "app" else ["--project"])


@pytest.mark.parametrize("command", ["run", "routes", "check"])
def test_webkit_app_is_not_taken_for_the_option(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """click must not fill --app from WEBKIT_APP: the banner would say "(from --app)"."""
    monkeypatch.setenv("WEBKIT_APP", "from_env:app")
    monkeypatch.setenv(f"WEBKIT_{command.upper()}_APP", "from_auto_env:app")
    ctx = cli.make_context("webkit", [command], resilient_parsing=True)
    sub = cli.get_command(ctx, command)
    assert sub is not None
    sub_ctx = sub.make_context(command, [], parent=ctx)
    assert sub_ctx.params["app"] is None


@pytest.mark.parametrize("command", ["run", "routes", "check"])
def test_missing_project_dir_is_the_same_usage_error(
    command: str, runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(cli, [command, "--project", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "'--project': Directory" in result.output and "does not exist" in result.output


def test_check_takes_path_or_project_but_not_two_different_ones(
    runner: CliRunner, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    result = runner.invoke(cli, ["check", str(tmp_path / "a"), "--project", str(tmp_path / "b")])
    assert result.exit_code == 2
    assert "not both" in result.output


@pytest.mark.parametrize("command", ["routes", "check"])
def test_a_pyproject_that_is_not_utf8_is_reported_without_a_traceback(
    command: str, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _warm.use(monkeypatch)
    (tmp_path / "pyproject.toml").write_bytes(b"[tool.webkit]\n# caf\xe9\n")
    result = runner.invoke(cli, [command, "--project", str(tmp_path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "bug in webkit" not in result.output
    assert "pyproject.toml" in result.output
    assert ("is not UTF-8" if command == "routes" else "P001") in result.output


def test_check_project_option_is_the_same_as_its_path_argument(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _warm.use(monkeypatch)
    (tmp_path / "app.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    try:
        by_path = runner.invoke(cli, ["check", str(tmp_path), "--format", "json"])
        by_option = runner.invoke(cli, ["check", "--project", str(tmp_path), "--format", "json"])
    finally:
        sys.modules.pop("app", None)
    assert by_path.exit_code == by_option.exit_code == 0, by_option.output
    assert json.loads(by_path.output)["root"] == json.loads(by_option.output)["root"]
    assert json.loads(by_option.output)["root"] == str(tmp_path.resolve())
