"""Production serving: each generated project under gunicorn with two workers.

One test follows the README's "past one machine" path: two gunicorn masters
(two app servers behind a load balancer) sharing one PostgreSQL database and one
``SECRET_KEY``.

The README of every template says ``gunicorn -w 4 '<package>:create_app()'``; here
a real gunicorn master with two workers serves the project on 127.0.0.1, in
production settings (``APP_ENV=production``, ``SECRET_KEY`` from the environment,
no ``.env``), and is stopped with SIGTERM, leaving no process behind. Requests
that write go through the same shared SQLite database whichever worker answers.

Each template is generated once for the module, and the tests that only need it served
share one gunicorn of it (``served``): each start is an import of the app per worker.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.templates._postgres import PostgresServer
from tests.templates.conftest import (
    Server,
    child_env,
    flask_command,
    form_with_token,
    generate,
    project_package,
    start_server,
    upgrade_database,
)

pytestmark = pytest.mark.slow

GUNICORN = Path(sys.executable).parent / "gunicorn"
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
TEMPLATES = ["site", "ajax", "api"]
# A page each template serves without credentials.
HOME = {"site": "/", "ajax": "/", "api": "/openapi.json"}


def gunicorn_command(project: Path, workers: int = 2) -> list[str]:
    """The README's command with two workers (or ``workers``) on a free loopback port."""
    target = f"{project_package(project)}:create_app()"
    return [str(GUNICORN), "-w", str(workers), "-b", "127.0.0.1:0", "--pythonpath", "src", target]


class Gunicorns:
    """One generated project per template for the whole module, and the gunicorns serving them.

    A project is only read by its servers (their SQLite database lives in ``instance`` beside
    it), so every test of a template serves the same folder: ``webkit new`` runs once per
    template, ``flask db upgrade`` once per database.
    """

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._projects: dict[str, Path] = {}
        self._upgraded: set[tuple[Path, str]] = set()

    def project(self, template: str) -> Path:
        """The module's project of ``template``, generated on first use, without its ``.env``."""
        if template not in self._projects:
            project = generate(template, self._tmp.mktemp(f"gunicorn-{template}"))
            (project / ".env").unlink()  # gunicorn never reads it: production needs none
            self._projects[template] = project
        return self._projects[template]

    def start(self, template: str, workers: int = 2, **settings: str) -> Server:
        """The project of ``template`` served by gunicorn -w 2 (or ``workers``) in production
        settings."""
        project = self.project(template)
        env = child_env(
            {
                "APP_ENV": "production",
                "SECRET_KEY": secrets.token_hex(32),
                "INSTANCE_PATH": str(project.parent / "instance"),
                **settings,
            }
        )
        database = (project, env.get("DATABASE_URL", "sqlite"))
        if database not in self._upgraded:  # the README's step before the first start
            upgrade_database(project, env)
            self._upgraded.add(database)
        command = gunicorn_command(project, workers)
        return start_server(command, cwd=project, env=env, url_pattern=LISTENING)


@pytest.fixture(scope="module")
def gunicorns(tmp_path_factory: pytest.TempPathFactory) -> Gunicorns:
    return Gunicorns(tmp_path_factory)


@pytest.fixture(scope="module")
def served(gunicorns: Gunicorns) -> Iterator[Callable[[str], Server]]:
    """``served(template)``: one gunicorn -w 2 per template shared by the module's tests that
    only need it running (SQLite, no extra settings); each is stopped at the module's end,
    and its stop fails the module's last test if a process of it is left."""
    servers: dict[str, Server] = {}

    def get(template: str) -> Server:
        if template not in servers:
            servers[template] = gunicorns.start(template)
        return servers[template]

    yield get
    for server in servers.values():
        server.stop()


@pytest.fixture
def gunicorn(gunicorns: Gunicorns) -> Iterator[Callable[..., Server]]:
    """``gunicorn(template, workers=2, **env)``: a gunicorn of the test's own on the module's
    project of ``template``, stopped (and checked for leftovers) when the test ends."""
    servers: list[Server] = []

    def start(template: str, workers: int = 2, **settings: str) -> Server:
        server = gunicorns.start(template, workers, **settings)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def request(
    server: Server,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request on a fresh connection (so successive ones may reach either worker)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        header_map = {name.lower(): value for name, value in response.getheaders()}
        return response.status, header_map, response.read()
    finally:
        connection.close()


def session_cookie(headers: dict[str, str]) -> str:
    """``session=...`` from a Set-Cookie header, checking the production flags."""
    cookie = headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    return cookie.split(";", 1)[0]


PASSWORD = "correct horse battery"


def create_account(project: Path, email: str, *, admin: bool = False, **settings: str) -> None:
    """``flask users create`` in the project, on the database its gunicorn uses."""
    env = child_env(
        {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),
            "INSTANCE_PATH": str(project.parent / "instance"),
            "PYTHONPATH": "src",
            **settings,
        }
    )
    args = ["users", "create", email, "--password-stdin", *(["--admin"] if admin else [])]
    result = flask_command(project, env, *args, script=True, input=PASSWORD)
    assert result.returncode == 0, result.stdout + result.stderr


def log_in(server: Server, email: str) -> str:
    """Log in through the form over HTTP; returns the logged-in ``session=...`` cookie."""
    status, headers, body = request(server, "GET", "/auth/login")
    assert status == 200
    form = form_with_token(body, {"email": email, "password": PASSWORD})
    status, headers, _ = request(
        server,
        "POST",
        "/auth/login",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": session_cookie(headers),
        },
    )
    assert status == 302, headers
    return session_cookie(headers)


def wait_for_workers(server: Server, count: int) -> None:
    """Both workers booted (gunicorn logs one line per worker)."""
    for _ in range(200):
        booted = sum("Booting worker with pid" in line for line in server.output)
        if booted >= count:
            return
        request(server, "GET", "/")  # gives the workers time without sleeping blindly
    pytest.fail("gunicorn did not boot its workers:\n" + "".join(server.output))


@pytest.mark.parametrize("template", TEMPLATES)
def test_gunicorn_with_two_workers_serves_the_project(
    template: str, served: Callable[[str], Server]
) -> None:
    server = served(template)
    wait_for_workers(server, 2)
    for _ in range(10):
        status, headers, _body = request(server, "GET", HOME[template])
        assert status == 200
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
    assert "Error" not in "".join(server.output)


def test_gunicorn_site_form_round_trip_across_workers(
    served: Callable[[str], Server], gunicorns: Gunicorns
) -> None:
    server = served("site")
    wait_for_workers(server, 2)
    status, headers, body = request(server, "GET", "/contact")
    assert status == 200
    cookie = session_cookie(headers)
    form = form_with_token(
        body,
        {"name": "Gunicorn", "email": "g@example.com", "message": "Served by one of two workers."},
    )
    status, headers, _ = request(
        server,
        "POST",
        "/contact",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    assert status == 302
    assert headers["location"] == "/contact"
    # /messages is for admins (template 1.2.0): one logs in, on either worker.
    create_account(gunicorns.project("site"), "admin@example.com", admin=True)
    admin = log_in(server, "admin@example.com")
    for _ in range(4):
        status, _, body = request(server, "GET", "/messages", headers={"Cookie": admin})
        assert b"Served by one of two workers." in body


def test_gunicorn_ajax_json_post_across_workers(
    served: Callable[[str], Server], gunicorns: Gunicorns
) -> None:
    server = served("ajax")
    wait_for_workers(server, 2)
    # The to-dos are their owner's (template 1.2.0): log in first.
    create_account(gunicorns.project("ajax"), "ada@example.com")
    cookie = log_in(server, "ada@example.com")
    status, headers, body = request(server, "GET", "/", headers={"Cookie": cookie})
    cookie = session_cookie(headers)  # now with the page's CSRF token in it
    token = re.search(rb'<meta name="csrf-token" content="([^"]+)">', body)
    assert token
    status, _, body = request(
        server,
        "POST",
        "/api/todos",
        body=json.dumps({"title": "Deploy"}).encode(),
        headers={
            "Content-Type": "application/json",
            "X-CSRFToken": token.group(1).decode(),
            "Cookie": cookie,
        },
    )
    assert status == 201, body
    for _ in range(4):
        status, _, body = request(server, "GET", "/api/todos", headers={"Cookie": cookie})
        assert [t["title"] for t in json.loads(body)["todos"]] == ["Deploy"]


def test_gunicorn_without_secret_key_refuses_to_start(gunicorns: Gunicorns, tmp_path: Path) -> None:
    project = gunicorns.project("site")  # without its .env
    env = child_env({"INSTANCE_PATH": str(tmp_path / "instance")})
    # One worker: each worker refuses on its own (create_app raises), a second would only
    # import the app again to say the same.
    command = [
        str(GUNICORN),
        "--workers",
        "1",
        "--bind",
        "127.0.0.1:0",
        "--pythonpath",
        "src",
        f"{project_package(project)}:create_app()",
    ]
    result = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.postgres
def test_two_app_servers_share_postgresql_and_sessions(
    gunicorn: Callable[..., Server], gunicorns: Gunicorns, postgres: PostgresServer
) -> None:
    """A form fetched from one server is accepted by the other, and data is shared.

    One worker each: what is shared here is between the two servers (the tests above share
    between the workers of one)."""
    shared = {
        "DATABASE_URL": postgres.create_database("site_shared"),
        "SECRET_KEY": secrets.token_hex(32),
    }
    first, second = gunicorn("site", 1, **shared), gunicorn("site", 1, **shared)
    wait_for_workers(first, 1)
    wait_for_workers(second, 1)

    status, headers, body = request(first, "GET", "/contact")
    assert status == 200
    form = form_with_token(
        body,
        {
            "name": "Load balancer",
            "email": "lb@example.com",
            "message": "Posted to the second server.",
        },
    )
    status, _, _ = request(
        second,
        "POST",
        "/contact",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": session_cookie(headers),
        },
    )
    assert status == 302
    # Logged in on the second server, the admin reads the messages on the first.
    create_account(gunicorns.project("site"), "admin@example.com", admin=True, **shared)
    admin = log_in(second, "admin@example.com")
    _, _, body = request(first, "GET", "/messages", headers={"Cookie": admin})
    assert b"Posted to the second server." in body


def test_a_new_request_is_answered_while_50_slow_clients_are_held(
    served: Callable[[str], Server],
) -> None:
    """The project's gunicorn.conf.py (threaded workers): 50 connections that sent half a
    request and wait do not freeze ``-w 2``, as they froze its sync workers."""
    server = served("site")
    wait_for_workers(server, 2)
    assert "Using worker: gthread" in "".join(server.output)
    slow: list[socket.socket] = []
    try:
        for _ in range(50):
            client = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
            slow.append(client)
        # A fresh connection is answered while all 50 are held (the wait, not a timing: sync
        # workers would never answer while the 50 are open; 60 s is slack for a loaded CI).
        status, _, body = request(server, "GET", "/about", timeout=60)
        assert status == 200
        assert b"<h1" in body
    finally:
        for client in slow:
            client.close()
