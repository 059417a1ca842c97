"""Rate limits shared by several servers through Redis, as the generated READMEs promise.

A real ``redis-server`` (Debian's, started by the test on a free loopback port, never the
system service) and two gunicorn masters serving the same site project with
``RATELIMIT_STORAGE_URI=redis://…``: login attempts spread over both count against one
limit (10 in 3 minutes per IP and per account), so the 11th, whichever server gets it, is
answered ``429`` with ``Retry-After``. With each server's own memory the 11th would pass:
each would have seen only 5 or 6.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.templates._postgres import free_port
from tests.templates.conftest import (
    Server,
    child_env,
    generate,
    project_package,
    start_server,
    upgrade_database,
)

pytestmark = pytest.mark.slow

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
GUNICORN = Path(sys.executable).parent / "gunicorn"
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


def redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private redis-server: no persistence, loopback only, stopped and gone afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while not redis_ping(port):
            assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "redis-server did not answer PING"
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        assert proc.stderr is not None
        proc.stderr.close()
    assert not redis_ping(port)


def request(
    server: Server, method: str, path: str, body: bytes | None = None, cookie: str = ""
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    headers = {"Cookie": cookie} if cookie else {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_two_gunicorns_share_one_login_limit_through_redis(tmp_path: Path, redis_url: str) -> None:
    project = generate("site", tmp_path)
    (project / ".env").unlink()  # production: settings from the environment only
    env = child_env(
        {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),  # one key: a session works on both servers
            "INSTANCE_PATH": str(tmp_path / "instance"),  # one SQLite database for both
            "RATELIMIT_STORAGE_URI": redis_url,
        }
    )
    upgrade_database(project, env)
    target = f"{project_package(project)}:create_app()"
    command = [str(GUNICORN), "-w", "1", "-b", "127.0.0.1:0", "--pythonpath", "src", target]
    servers = [start_server(command, cwd=project, env=env, url_pattern=LISTENING)]
    try:
        servers.append(start_server(command, cwd=project, env=env, url_pattern=LISTENING))
        status, headers, page = request(servers[0], "GET", "/auth/login")
        assert status == 200
        cookie = headers["Set-Cookie"].split(";", 1)[0]
        token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert token
        form = urlencode(
            {"csrf_token": token.group(1).decode(), "email": "ada@example.com",
             "password": "not the password"}
        ).encode()  # fmt: skip
        statuses = [
            request(servers[i % 2], "POST", "/auth/login", form, cookie)[0] for i in range(10)
        ]
        # Ten wrong passwords, five on each server: refused as wrong, not as too many.
        assert 429 not in statuses, statuses
        status, headers, page = request(servers[1], "POST", "/auth/login", form, cookie)
        assert status == 429, page[:500]
        assert int(headers["Retry-After"]) > 0
        # The other server refuses too: the count is in Redis, not in either process.
        assert request(servers[0], "POST", "/auth/login", form, cookie)[0] == 429
    finally:
        for server in servers:
            server.stop()
