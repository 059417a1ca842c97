"""``webkit run`` option parsing: flags, WEBKIT_* variables, PORT, and refusals before binding."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.core import ParameterSource
from click.testing import CliRunner

from webkit_cli.cli import cli
from webkit_cli.commands.run import run_command
from webkit_cli.server import describe_app
from webkit_cli.server.config import ServerConfig


def parse(args: list[str]) -> dict[str, object]:
    ctx = run_command.make_context("run", args, auto_envvar_prefix="WEBKIT")
    params = dict(ctx.params)
    params["_port_source"] = ctx.get_parameter_source("port")
    return params


def test_defaults() -> None:
    params = parse([])
    assert params["host"] == "127.0.0.1"
    assert params["port"] == 8000
    assert params["reload"] is True
    assert params["debug"] is False
    assert params["live_reload"] is None
    assert params["log_format"] == "rich"
    assert params["_port_source"] is ParameterSource.DEFAULT


def test_every_option_has_a_webkit_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("WEBKIT_HOST", "localhost")
    monkeypatch.setenv("WEBKIT_PORT", "5050")
    monkeypatch.setenv("WEBKIT_RELOAD", "0")
    monkeypatch.setenv("WEBKIT_DEBUG", "1")
    monkeypatch.setenv("WEBKIT_APP", "pkg:create_app")
    monkeypatch.setenv("WEBKIT_PROJECT", str(tmp_path))
    monkeypatch.setenv("WEBKIT_EXCLUDE", "data/* *.log")
    monkeypatch.setenv("WEBKIT_LIVE_RELOAD", "false")
    monkeypatch.setenv("WEBKIT_ACCESS_LOG", "no")
    monkeypatch.setenv("WEBKIT_LOG_FORMAT", "json")
    monkeypatch.setenv("WEBKIT_POLL", "1")
    params = parse([])
    assert params["host"] == "localhost"
    assert params["port"] == 5050
    assert params["_port_source"] is ParameterSource.ENVIRONMENT
    assert params["reload"] is False
    assert params["debug"] is True
    # WEBKIT_APP is read where the app is resolved, not by click: the banner then says
    # "(from WEBKIT_APP)", not "(from --app)".
    assert params["app"] is None
    config = ServerConfig.from_options(app=params["app"], project_dir=str(params["project_dir"]))
    assert describe_app(config) == "pkg:create_app (from WEBKIT_APP)"
    assert params["project_dir"] == str(tmp_path)
    assert params["exclude"] == ("data/*", "*.log")
    assert params["live_reload"] is False
    assert params["access_log"] is False
    assert params["log_format"] == "json"
    assert params["poll"] is True


def test_port_variable_is_honoured_and_webkit_port_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "7000")
    assert parse([])["port"] == 7000
    monkeypatch.setenv("WEBKIT_PORT", "7001")
    assert parse([])["port"] == 7001
    assert parse(["--port", "7002"])["port"] == 7002


def test_debugger_on_all_interfaces_is_refused_with_the_reason(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["run", "--host", "0.0.0.0", "--debug"])
    assert result.exit_code == 2
    assert "--debug is refused on host 0.0.0.0" in result.output
    assert "run code on this machine" in result.output


def test_bad_port_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["run", "--port", "99999"])
    assert result.exit_code == 2
    assert "99999" in result.output


def test_missing_project_directory(runner: CliRunner, tmp_path: object) -> None:
    result = runner.invoke(cli, ["run", "--project", f"{tmp_path}/nope"])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_help_lists_the_options_and_variables(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["run", "--help"])
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--reload",
        "--debug",
        "--app",
        "--project",
        "--watch",
        "--exclude",
        "--live-reload",
        "--access-log",
        "--log-format",
        "--poll",
    ):
        assert option in result.output
    assert "WEBKIT_PORT" in result.output and "PORT" in result.output
    assert "--warm" not in result.output  # an internal switch


def test_windows_gets_one_error_line_not_a_traceback(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.platform", "win32")
    result = runner.invoke(cli, ["run", "--port", "0"])
    assert result.exit_code == 1
    assert "does not run on Windows yet" in result.output and "WSL" in result.output


def test_no_app_is_one_error_line_and_no_banner(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "webkit_cli", "run", "--port", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: Could not locate a Flask app."), lines
    assert "webkit run" not in result.stderr and "URL" not in result.stderr


@pytest.mark.slow
def test_open_starts_the_browser_once_the_server_answers(tmp_path: Path) -> None:
    import stat
    import time

    from tests.server._server import Server

    project = tmp_path / "proj"
    project.mkdir()
    (project / "app.py").write_text(
        "from flask import Flask\napp = Flask(__name__)\n\n\n@app.get('/')\ndef index():\n"
        "    return 'hello'\n",
        encoding="utf-8",
    )
    record = tmp_path / "opened.txt"
    browser = tmp_path / "fake-browser"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {record}\n', encoding="utf-8")
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    server = Server(project, ["--open", "--no-reload"], env={"BROWSER": str(browser)})
    try:
        deadline = time.monotonic() + 20
        # Until a whole line is there: the shell creates the file before it writes to it.
        while not _has_line(record) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert record.read_text(encoding="utf-8").splitlines() == [
            f"http://127.0.0.1:{server.port}/"
        ]
        assert "/__webkit/" not in server.stdout  # the probe is not in the request log
    finally:
        server.close()
    server.assert_nothing_left()
    assert len(record.read_text(encoding="utf-8").splitlines()) == 1


def _has_line(path: Path) -> bool:
    try:
        return path.read_text(encoding="utf-8").endswith("\n")
    except FileNotFoundError:
        return False
