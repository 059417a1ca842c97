"""The warm ``flask`` the template tests run commands with: it answers what ``flask`` answers."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.templates.conftest import VENV_BIN, WarmFlask, child_env

APP = """
import os
import sys

import click
from flask import Flask


def create_app():
    app = Flask(__name__)

    @app.cli.command("show")
    @click.argument("name")
    @click.option("--stdin", is_flag=True)
    def show(name, stdin):
        secret = sys.stdin.read().strip() if stdin else "-"
        click.echo(f"{name} {os.environ.get('GREETING')} {VERSION} {secret} {sys.path[0]}")
        click.echo(f"cwd {os.getcwd()}", err=True)
        if name == "fail":
            raise click.ClickException("it failed")

    return app


VERSION = 1
"""


def make_project(root: Path) -> Path:
    (root / "src" / "greeter").mkdir(parents=True)
    (root / "src" / "greeter" / "__init__.py").write_text(APP)
    (root / ".env").write_text("GREETING=hello-from-dotenv\n")
    return root


def cold_flask(project: Path, *args: str, input: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "greeter", *args],
        cwd=project,
        env=child_env({"PYTHONPATH": "src"}),
        input=input,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_command_answers_as_flask_does_and_sees_each_change(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    (tmp_path / "warm").mkdir()
    warm = WarmFlask(tmp_path / "warm")
    env = child_env({"PYTHONPATH": "src"})

    def run(*args: str, input: str = "") -> subprocess.CompletedProcess[str]:
        return warm.run(["--app", "greeter", *args], cwd=project, env=env, script=True, input=input)

    try:
        first, cold_first = run("show", "ada"), cold_flask(project, "show", "ada")
        (project / "src" / "greeter" / "__init__.py").write_text(
            APP.replace("VERSION = 1", "VERSION = 2")
        )
        second = run("show", "--stdin", "bob", input="s3cret\n")
        failed = run("show", "fail")
        unknown = run("nope")
    finally:
        warm.close()
    assert warm.process.poll() is not None  # closed: no process left
    cold_second = cold_flask(project, "show", "--stdin", "bob", input="s3cret\n")
    cold_failed, cold_unknown = cold_flask(project, "show", "fail"), cold_flask(project, "nope")
    for answer, cold in (
        (first, cold_first),
        (second, cold_second),
        (failed, cold_failed),
        (unknown, cold_unknown),
    ):
        assert (answer.returncode, answer.stdout, answer.stderr) == (
            cold.returncode,
            cold.stdout,
            cold.stderr,
        )
    # Flask put the project folder first on sys.path; .env read; stdin given; the edit seen.
    assert first.stdout == f"ada hello-from-dotenv 1 - {project}\n"
    assert second.stdout == f"bob hello-from-dotenv 2 s3cret {project}\n"
    assert second.stderr == f"cwd {project}\n"
    assert failed.returncode == 1 and "Error: it failed" in failed.stderr
    assert unknown.returncode == 2 and "No such command 'nope'" in unknown.stderr
