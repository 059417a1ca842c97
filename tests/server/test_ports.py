"""Binding: a busy port both ways, the port holder named, the non-loopback warning."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import build_file_tree
from tests.server._server import WEBKIT, Server
from webkit_cli.errors import WebkitError
from webkit_cli.server.config import ServerConfig
from webkit_cli.server.sockets import bind_socket, find_port_holder

APP = (
    "from flask import Flask\napp = Flask(__name__)\n\n@app.route('/')\ndef i():\n    return 'ok'\n"
)


@pytest.fixture
def busy_port() -> Iterator[int]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


def test_holder_of_a_port_is_found_from_proc(busy_port: int) -> None:
    holder = find_port_holder(busy_port)
    assert holder is not None
    assert f"pid {os.getpid()}" in holder


def test_explicit_busy_port_is_one_error_naming_port_and_holder(busy_port: int) -> None:
    config = ServerConfig.from_options(port=busy_port, port_explicit=True)
    with pytest.raises(WebkitError) as info:
        bind_socket(config)
    message = info.value.format_message()
    assert f"Port {busy_port} is already in use" in message
    assert f"pid {os.getpid()}" in message
    assert "--port" in message


def test_default_port_busy_moves_to_the_next_and_says_so(busy_port: int) -> None:
    config = ServerConfig.from_options(port=busy_port, port_explicit=False)
    sock, note = bind_socket(config)
    try:
        assert sock.getsockname()[1] > busy_port
        assert note is not None and f"Port {busy_port} is in use" in note
    finally:
        sock.close()


@pytest.mark.slow
def test_cli_busy_explicit_port_fails_with_one_line(tmp_path: Path, busy_port: int) -> None:
    project = build_file_tree(tmp_path / "p", {"app.py": APP})
    result = subprocess.run(
        [*WEBKIT, "run", "--port", str(busy_port)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if line.startswith("Error:")
    ]
    assert f"Port {busy_port} is already in use" in result.stderr


@pytest.mark.slow
def test_cli_busy_port_from_env_is_explicit_too(tmp_path: Path, busy_port: int) -> None:
    project = build_file_tree(tmp_path / "p", {"app.py": APP})
    result = subprocess.run(
        [*WEBKIT, "run"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "NO_COLOR": "1", "PORT": str(busy_port)},
    )
    assert result.returncode == 1
    assert f"Port {busy_port} is already in use" in result.stderr


@pytest.mark.slow
def test_cli_busy_default_port_serves_on_the_next_one(tmp_path: Path) -> None:
    project = build_file_tree(tmp_path / "p", {"app.py": APP})
    # Make the default port 8000 busy (when something else already holds it, fine too).
    holder = socket.socket()
    try:
        with contextlib.suppress(OSError):
            holder.bind(("127.0.0.1", 8000))
            holder.listen()
        server = Server(project, ["--no-reload"], any_port=False)
        try:
            assert server.port > 8000
            assert "Port 8000 is in use; serving on port" in server.stderr
            assert server.get("/")[2] == "ok"
        finally:
            server.close()
    finally:
        holder.close()


@pytest.mark.slow
def test_non_loopback_host_warns(tmp_path: Path) -> None:
    project = build_file_tree(tmp_path / "p", {"app.py": APP})
    server = Server(project, ["--host", "0.0.0.0", "--no-reload"])
    try:
        assert "Warning: Listening on 0.0.0.0" in server.stderr
        assert server.get("/")[2] == "ok"
    finally:
        server.close()
