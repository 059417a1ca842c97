"""Production behind a real TLS-terminating proxy: nginx in front of gunicorn.

The generated READMEs say production runs behind a proxy that terminates TLS and that
``TRUSTED_PROXIES=1`` tells the app so. Here Debian's nginx (started by the test, never the
system service) terminates TLS with a certificate from webkit's own local CA and forwards to
a gunicorn serving the project with the project's ``gunicorn.conf.py``. Over real HTTPS:

- Flask-WTF's Referer check is on (it only runs when the request is HTTPS): a form post with
  no ``Referer`` or a foreign one is refused, a same-origin one accepted;
- the session cookie is ``Secure`` and HSTS is sent, because the app sees the HTTPS;
- no server banner names a version (``server_tokens off`` for nginx; gunicorn sends its
  bare name and has no setting to drop it).
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
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
from webkit_cli.server import tls

pytestmark = pytest.mark.slow

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
GUNICORN = Path(sys.executable).parent / "gunicorn"
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")

NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port $server_port;
        }}
    }}
}}
"""


class Nginx:
    """nginx terminating TLS on ``port`` and forwarding to ``upstream``, in its own group."""

    def __init__(self, prefix: Path, upstream: int, cert: Path, key: Path) -> None:
        prefix.mkdir()
        self.port = free_port()
        # As root, nginx's workers would drop to "nobody", who cannot enter pytest's 0700
        # temporary folders; the workers stay root here (the test's own folder, loopback only).
        user = "user root;" if os.geteuid() == 0 else ""
        conf = prefix / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                user=user, prefix=prefix, port=self.port, upstream=upstream, cert=cert, key=key
            ),
            encoding="utf-8",
        )
        self.error_log = prefix / "error.log"
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(prefix), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"nginx did not start: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail("nginx did not listen within 15 s")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGQUIT)  # graceful shutdown of master and workers
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        # Nothing of the group is left (its workers included).
        deadline = time.monotonic() + 10
        while _group_alive(self.proc.pid):
            assert time.monotonic() < deadline, "nginx left a process behind"
            time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture
def behind_nginx(tmp_path: Path) -> Iterator[tuple[Server, Nginx, ssl.SSLContext]]:
    """The site in production under gunicorn, with nginx terminating TLS in front of it."""
    ca_folder = tmp_path / "ca"
    ca_cert, _ = tls.ensure_ca(ca_folder)
    cert, key = tls.ensure_server_cert(ca_folder, tls.server_names("127.0.0.1"))
    project = generate("site", tmp_path)
    (project / ".env").unlink()  # production reads its settings from the environment only
    env = child_env(
        {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_hex(32),
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "TRUSTED_PROXIES": "1",
            "BIND": "127.0.0.1:0",
            "WEB_CONCURRENCY": "1",  # one worker: what is checked is between proxy and app
        }
    )
    # The README's order: the schema first (flask db upgrade), then the server.
    upgrade_database(project, env)
    # The project's own gunicorn.conf.py (gunicorn reads it from the folder it starts in).
    command = [str(GUNICORN), "--pythonpath", "src", f"{project_package(project)}:create_app()"]
    server = start_server(command, cwd=project, env=env, url_pattern=LISTENING)
    proxy: Nginx | None = None
    try:
        proxy = Nginx(tmp_path / "nginx", server.port, cert, key)
        context = ssl.create_default_context(cafile=str(ca_cert))
        yield server, proxy, context
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()


def https(
    proxy: Nginx,
    context: ssl.SSLContext,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=context, timeout=15)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_behind_nginx_the_referer_check_secure_cookies_and_hsts_hold(
    behind_nginx: tuple[Server, Nginx, ssl.SSLContext],
) -> None:
    server, proxy, context = behind_nginx
    origin = f"https://127.0.0.1:{proxy.port}"

    status, headers, body = https(proxy, context, "GET", "/contact")
    assert status == 200
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    # Banners: nginx names itself without a version; gunicorn's name never gets through.
    assert headers.get_all("Server") == ["nginx"]
    cookie = headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    form = form_with_token(
        body, {"name": "Proxy", "email": "p@example.com", "message": "Through TLS at nginx."}
    )
    base = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie.split(";")[0]}

    for referer, expected in [
        (None, 400),
        ("https://evil.example/contact", 400),
        (f"http://127.0.0.1:{proxy.port}/contact", 400),  # same host, but not HTTPS
        (f"{origin}/contact", 302),
    ]:
        extra = {"Referer": referer} if referer else {}
        status, headers, _ = https(proxy, context, "POST", "/contact", form, {**base, **extra})
        assert status == expected, (referer, status)
    # The redirect after the accepted post stays on the HTTPS origin the browser used.
    location = headers["Location"]
    assert location.startswith(("/", f"{origin}/")) and not location.startswith("//"), location

    # Straight to gunicorn (what the proxy sees): its bare name at most, never a version.
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert response.status == 200
    banner = response.headers.get("Server", "")
    assert not re.search(r"\d", banner), banner
