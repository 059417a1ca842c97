"""A generated project installs and passes its tests on a fresh machine, following its README.

The commands of the README's "Run" and "Test" sections run literally, in bash, in a fresh
virtual environment that does not contain webkit: the project must need nothing but its own
dependencies. The one line skipped starts the development server (it would not return).
pip installs from this machine's index and cache, and reaches PyPI for what they lack.

No Docker engine runs here, so the Dockerfile is checked the same way: its ``pip install``
runs in that fresh environment, then its ``ENTRYPOINT`` (the migrations, from the installed
package) with its ``CMD`` (with ``--check-config``: gunicorn reads ``gunicorn.conf.py``, loads
the app in production settings and exits) must succeed and leave the database migrated.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.templates.conftest import child_env, generate, project_package

pytestmark = pytest.mark.slow

SERVER_COMMAND = re.compile(r"^flask --app \S+ run\b")


def readme_commands(readme: str, section: str) -> list[str]:
    """The command lines of the first code block of ``## section``, prompts removed."""
    body = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```(?:console|bash)\n(.*?)```", body, re.S)
    assert block, f"no code block in the README's {section} section"
    return [line.removeprefix("$ ") for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_works_in_a_fresh_virtualenv_without_webkit(tmp_path: Path) -> None:
    project = generate("site", tmp_path)
    readme = (project / "README.md").read_text()
    commands = readme_commands(readme, "Run") + readme_commands(readme, "Test")
    assert commands[:2] == [
        "python -m venv .venv && . .venv/bin/activate",
        "pip install -e '.[dev]'",
    ]
    servers = [c for c in commands if SERVER_COMMAND.match(c)]
    assert len(servers) == 1, commands
    # `python` is the interpreter itself, not webkit's virtual environment.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(getattr(sys, "_base_executable", sys.executable))
    dockerfile = (project / "Dockerfile").read_text()
    docker_install = re.search(r"^RUN (pip install [^\\\n&]+?)\s*(?:\\|&&|$)", dockerfile, re.M)
    docker_cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    docker_entrypoint = re.search(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.M)
    assert docker_install and docker_cmd and docker_entrypoint, dockerfile
    cmd = json.loads(docker_cmd.group(1))
    assert cmd[0] == "gunicorn"
    # The image's WORKDIR /app is the project folder here.
    entrypoint = [
        str(project / arg.removeprefix("/app/")) if arg.startswith("/app/") else arg
        for arg in json.loads(docker_entrypoint.group(1))
    ]
    database = tmp_path / "instance" / f"{project_package(project)}.db"
    production = (
        f"APP_ENV=production SECRET_KEY={secrets.token_hex(32)} "
        f"INSTANCE_PATH={shlex.quote(str(tmp_path / 'instance'))}"
    )
    script = "\n".join(
        [
            "set -euo pipefail",
            *(c for c in commands if c not in servers),
            # The project's environment holds no webkit: nothing above needed it.
            "! command -v webkit",
            "! python -c 'import webkit_cli' 2>/dev/null",
            "echo README-OK",
            # The Dockerfile's steps: its install (the PostgreSQL driver with it), its command.
            docker_install.group(1),
            "python -c 'import psycopg'",
            f"{production} {shlex.join([*entrypoint, 'gunicorn', '--check-config', *cmd[1:]])}",
            # The entrypoint migrated the database before gunicorn loaded the app.
            "python -c 'import sqlite3, sys; print(*sqlite3.connect(sys.argv[1]).execute("
            '"SELECT version_num FROM alembic_version").fetchone())\' '
            + shlex.quote(str(database)),
            "echo DOCKERFILE-OK",
        ]
    )
    # pip does not byte-compile what it installs; each module is compiled when first imported
    # and its bytecode written, as on a user's machine (child_env's PYTHONDONTWRITEBYTECODE
    # would compile it again in every process). Same packages, same files: the README's
    # commands are what is tested, not when the bytecode is made (pip compiled every module
    # of every package, most of which the project never imports). PIP_COMPILE=0, not
    # PIP_NO_COMPILE=1: pip gives an environment variable's value to the option's destination,
    # so PIP_NO_COMPILE=1 means compile=1 (it compiled 1,320 files, 3 s of CPU).
    env = child_env({"PATH": f"{bin_dir}:/usr/bin:/bin", "PIP_COMPILE": "0"})
    for variable in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE"):
        env.pop(variable, None)
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "README-OK" in result.stdout
    assert "DOCKERFILE-OK" in result.stdout, output
    # Every migration applied (0001, then 0002's accounts, ...): the database is at the head.
    versions = project / "src" / project_package(project) / "migrations" / "versions"
    head = sorted(versions.glob("[0-9][0-9][0-9][0-9]_*.py"))[-1].name[:4]
    assert re.search(rf"^{head}$", result.stdout, re.M), output
    assert re.search(r"\d+ passed", result.stdout), output
    assert "Required test coverage of 90" in result.stdout, output
