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

import pytest

from tests.templates._postgres import free_port
from tests.templates.conftest import (
    Server,
    child_env,
    form_with_token,
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


class RedisServer:
    """A private redis-server: no persistence, loopback only; ``stop()`` is safe to repeat."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while not redis_ping(self.port):
            if self.process.poll() is not None:
                assert self.process.stderr is not None
                raise AssertionError(f"redis-server exited: {self.process.stderr.read().decode()}")
            assert time.monotonic() < deadline, "redis-server did not answer PING"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        assert self.process.stderr is not None
        self.process.stderr.close()
        assert not redis_ping(self.port)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


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


@pytest.fixture(scope="module")
def production_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A site project set up as in production, once for the module: the project (its schema
    made) and the servers' environment. The servers of each test count their limits in the
    Redis they are given (``limited_by``); nothing of a login attempt is in the database."""
    project = generate("site", tmp_path_factory.mktemp("redis-limits"))
    (project / ".env").unlink()  # production: settings from the environment only
    env = child_env(
        {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),  # one key: a session works on both servers
            "INSTANCE_PATH": str(project.parent / "instance"),  # one SQLite database for both
        }
    )
    upgrade_database(project, env)
    return project, env


def limited_by(
    production_site: tuple[Path, dict[str, str]], redis_url: str
) -> tuple[Path, dict[str, str], list[str]]:
    """The project, the servers' environment with their limits in ``redis_url``, and the
    gunicorn command line."""
    project, env = production_site
    target = f"{project_package(project)}:create_app()"
    command = [str(GUNICORN), "-w", "1", "-b", "127.0.0.1:0", "--pythonpath", "src", target]
    return project, {**env, "RATELIMIT_STORAGE_URI": redis_url}, command


def login_form(server: Server) -> tuple[bytes, str]:
    """A wrong-password login form for ada@example.com with its CSRF token, and its cookie."""
    status, headers, page = request(server, "GET", "/auth/login")
    assert status == 200
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    form = form_with_token(page, {"email": "ada@example.com", "password": "not the password"})
    return form, cookie


def test_two_gunicorns_share_one_login_limit_through_redis(
    production_site: tuple[Path, dict[str, str]], redis_url: str
) -> None:
    project, env, command = limited_by(production_site, redis_url)
    servers = [start_server(command, cwd=project, env=env, url_pattern=LISTENING)]
    try:
        servers.append(start_server(command, cwd=project, env=env, url_pattern=LISTENING))
        form, cookie = login_form(servers[0])
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


def test_logins_keep_working_and_limited_when_redis_goes_away(
    production_site: tuple[Path, dict[str, str]], redis_server: RedisServer
) -> None:
    """Redis stopped under a running server: logins are answered (never a 500), the server
    counts in its own memory (the 11th attempt is refused) and says so in its log."""
    project, env, command = limited_by(production_site, redis_server.url)
    server = start_server(command, cwd=project, env=env, url_pattern=LISTENING)
    try:
        form, cookie = login_form(server)
        assert [request(server, "POST", "/auth/login", form, cookie)[0] for _ in range(3)] == [
            422
        ] * 3
        redis_server.stop()
        statuses = [request(server, "POST", "/auth/login", form, cookie)[0] for _ in range(10)]
        assert statuses == [422] * 10
        status, headers, page = request(server, "POST", "/auth/login", form, cookie)
        assert status == 429, page[:500]
        assert int(headers["Retry-After"]) > 0
        server.wait_for_output("storage unreachable")
    finally:
        server.stop()
