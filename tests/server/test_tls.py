"""``webkit run --https``: a local CA made once per machine, a certificate that verifies for
localhost and 127.0.0.1, the trust commands, Secure cookies, and one Error line without
the cryptography package."""

from __future__ import annotations

import http.client
import re
import ssl
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.server._server import Server
from webkit_cli.cli import cli

APP = """\
from flask import Flask, request, make_response

app = Flask(__name__)


@app.get("/")
def index():
    response = make_response(f"scheme={request.scheme}")
    response.set_cookie("session_id", "s1", secure=True, httponly=True)
    return response
"""

HTTPS_URL = re.compile(r"https://127\.0\.0\.1:(\d+)/")


def start(project: Path, ca: Path) -> tuple[Server, int]:
    server = Server(project, ["--https", "--no-reload"], env={"WEBKIT_CA_DIR": str(ca)}, wait=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = HTTPS_URL.search(server.stderr)
        if match:
            return server, int(match.group(1))
        if server.proc.poll() is not None:
            raise AssertionError(server.stderr)
        time.sleep(0.05)
    server.close()
    raise AssertionError(server.stderr)


def https_get(port: int, host: str, cafile: Path) -> tuple[int, dict[str, str], str]:
    context = ssl.create_default_context(cafile=str(cafile))
    deadline = time.monotonic() + 20
    while True:
        conn = http.client.HTTPSConnection(host, port, timeout=10, context=context)
        try:
            conn.request("GET", "/", headers={"Accept": "text/plain"})
            response = conn.getresponse()
            headers = {k.lower(): v for k, v in response.getheaders()}
            return response.status, headers, response.read().decode()
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            conn.close()


@pytest.mark.slow
def test_https_with_a_local_ca_made_once(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "app.py").write_text(APP, encoding="utf-8")
    ca = tmp_path / "ca"
    server, port = start(project, ca)
    try:
        root = ca / "rootCA.pem"
        assert (ca / "rootCA-key.pem").stat().st_mode & 0o077 == 0
        # Verified against webkit's CA, for both names a browser may use.
        for host in ("localhost", "127.0.0.1"):
            status, headers, body = https_get(port, host, root)
            assert (status, body.split("<")[0]) == (200, "scheme=https")
            assert "Secure" in headers["set-cookie"]
        # Plain HTTP on the TLS port is dropped; the server goes on serving.
        with pytest.raises((http.client.HTTPException, OSError)):
            plain = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            plain.request("GET", "/")
            plain.getresponse().read()
        assert https_get(port, "localhost", root)[0] == 200
        err = server.stderr
        assert f"Local CA: {root}" in err
        assert "update-ca-certificates" in err and "add-trusted-cert" in err
        assert "Firefox" in err
    finally:
        server.close()
    server.assert_nothing_left()
    first = root.read_bytes()

    # The next run reuses the CA: one line with its path, no new authority to trust.
    server, port = start(project, ca)
    try:
        assert https_get(port, "localhost", root)[0] == 200
        assert root.read_bytes() == first
        assert "update-ca-certificates" not in server.stderr
        assert f"Local CA: {root}" in server.stderr
    finally:
        server.close()
    server.assert_nothing_left()


def test_without_cryptography_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    monkeypatch.setitem(sys.modules, "cryptography", None)
    monkeypatch.setenv("WEBKIT_CA_DIR", str(tmp_path / "ca"))
    result = CliRunner().invoke(cli, ["run", "--https", "--project", str(tmp_path), "--port", "0"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [
        "Error: --https needs the cryptography package: pip install 'webkit-cli[https]' "
        "(or pip install cryptography)."
    ]
    assert not (tmp_path / "ca").exists()


@pytest.mark.slow
def test_open_with_https_opens_the_https_url(tmp_path: Path) -> None:
    import stat

    project = tmp_path / "proj"
    project.mkdir()
    (project / "app.py").write_text(APP, encoding="utf-8")
    record = tmp_path / "opened.txt"
    browser = tmp_path / "fake-browser"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {record}\n', encoding="utf-8")
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    server = Server(
        project,
        ["--https", "--open", "--no-reload"],
        env={"WEBKIT_CA_DIR": str(tmp_path / "ca"), "BROWSER": str(browser)},
        wait=False,
    )
    try:
        deadline = time.monotonic() + 30
        # Until a whole line is there: the shell creates the file before it writes to it.
        while not _has_line(record) and time.monotonic() < deadline:
            assert server.proc.poll() is None, server.stderr
            time.sleep(0.05)
        port = HTTPS_URL.search(server.stderr)
        assert port is not None
        assert record.read_text(encoding="utf-8").splitlines() == [
            f"https://127.0.0.1:{port.group(1)}/"
        ]
    finally:
        server.close()
    server.assert_nothing_left()


def _has_line(path: Path) -> bool:
    try:
        return path.read_text(encoding="utf-8").endswith("\n")
    except FileNotFoundError:
        return False
