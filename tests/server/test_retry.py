""" "Retry this request": a failed POST is kept by the server and replayed, after the fix
is saved, against the new worker - its form, JSON body and cookies - with the run's token."""

from __future__ import annotations

import html
import http.client
import json
import re
import time
from pathlib import Path

import pytest

from tests.server._server import Server

pytestmark = pytest.mark.slow

APP = """\
from flask import Flask, request

app = Flask(__name__)
app.config["PROPAGATE_EXCEPTIONS"] = True
VERSION = "broken"


@app.get("/version")
def version():
    return VERSION, {"Content-Type": "text/plain"}


@app.post("/cart")
def cart():
    data = request.get_json(silent=True) or request.form
    if VERSION == "broken":
        raise RuntimeError("cart is broken")
    text = f"added {data['name']} for {request.cookies.get('user')} via {request.method}"
    return text, {"Content-Type": "text/plain"}
"""


def post(
    port: int, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text
    finally:
        conn.close()


def retry_form(page: str) -> tuple[str, str]:
    match = re.search(
        r'<form class="retry" method="post" action="([^"]+)">'
        r'<input type="hidden" name="token" value="([^"]+)">',
        page,
    )
    assert match is not None, page
    return html.unescape(match.group(1)), html.unescape(match.group(2))


def test_a_failed_post_is_replayed_after_the_fix(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    (project / "app.py").write_text(APP, encoding="utf-8")
    server = Server(project, ["--reload"])
    try:
        form = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": "user=ann"}
        status, headers, page = post(server.port, "/cart", b"name=mug&password=s3cret", form)
        assert status == 500 and "RuntimeError" in page
        assert "s3cret" not in page
        action, token = retry_form(page)
        assert action.startswith("/__webkit/retry/")
        assert headers["x-webkit-error"] == "/__webkit/error/" + action.rsplit("/", 1)[1]

        # A JSON body is kept too.
        status, _, json_page = post(
            server.port,
            "/cart",
            json.dumps({"name": "cup"}).encode(),
            {"Content-Type": "application/json", "Accept": "text/html", "Cookie": "user=bob"},
        )
        assert status == 500
        json_action, _ = retry_form(json_page)

        # Without the token, or with a wrong one: refused, nothing replayed.
        plain = {"Content-Type": "application/x-www-form-urlencoded"}
        assert post(server.port, action, b"", plain)[0] == 403
        assert post(server.port, action, b"token=forged", plain)[0] == 403

        fixed = APP.replace('VERSION = "broken"', 'VERSION = "fixed"')
        temp = project / "app.py.tmp"
        temp.write_text(fixed, encoding="utf-8")
        temp.replace(project / "app.py")
        server.wait_for_body("/version", lambda text: text == "fixed")

        status, _, body = post(server.port, action, f"token={token}".encode(), plain)
        assert (status, body) == (200, "added mug for ann via POST")
        status, _, body = post(server.port, json_action, f"token={token}".encode(), plain)
        assert (status, body) == (200, "added cup for bob via POST")
        # The replay is logged as the request it replays.
        deadline = time.monotonic() + 10
        while len(re.findall(r"POST   /cart .* 200 ", server.stdout)) < 2:
            assert time.monotonic() < deadline, server.stdout
            time.sleep(0.05)
        assert "/__webkit/retry" not in server.stdout
        # An unknown id is gone, not an error of webkit's.
        assert (
            post(server.port, "/__webkit/retry/" + "x" * 24, f"token={token}".encode(), plain)[0]
            == 404
        )
    finally:
        server.close()
    server.assert_nothing_left()


def test_only_the_client_that_sent_it_may_replay_and_files_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stat

    from flask import Flask
    from werkzeug.test import Client

    from webkit_cli.server.config import ServerConfig
    from webkit_cli.server.wsgi import build_app

    monkeypatch.setenv("WEBKIT_RUN_TOKEN", "tok-retry")
    app = Flask("retryunit")

    @app.post("/boom")
    def boom() -> str:
        raise KeyError("no")

    cache = tmp_path / "run"
    cache.mkdir(mode=0o700)
    config = ServerConfig(reload=False, live_reload=False, cache_dir=str(cache))
    client = Client(build_app(app, config=config, hub=None, error=None))
    failed = client.post("/boom", data={"a": "1"}, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert failed.status_code == 500  # Flask's own 500 page: the request is still kept
    entry = failed.headers["X-Webkit-Error"].rsplit("/", 1)[1]
    assert failed.headers["X-Webkit-Error-Summary"] == "KeyError: 'no'"
    kept = sorted(path.name for path in cache.iterdir())
    assert kept == [f"page-{entry}", f"request-{entry}"]
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in cache.iterdir())
    other = client.post(
        f"/__webkit/retry/{entry}",
        data={"token": "tok-retry"},
        environ_base={"REMOTE_ADDR": "127.0.0.2"},
    )
    assert other.status_code == 403
    same = client.post(
        f"/__webkit/retry/{entry}",
        data={"token": "tok-retry"},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert same.status_code == 500 and "X-Webkit-Error" in same.headers  # replayed, fails again
    assert client.get(f"/__webkit/retry/{entry}").status_code == 405


def test_a_body_too_large_to_keep_is_not_replayed_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flask import Flask
    from werkzeug.test import Client

    from webkit_cli.server import wsgi
    from webkit_cli.server.config import ServerConfig

    monkeypatch.setenv("WEBKIT_RUN_TOKEN", "tok-big")
    monkeypatch.setattr(wsgi, "BODY_LIMIT", 10)
    app = Flask("retrybig")

    @app.post("/upload")
    def upload() -> str:
        raise KeyError("no")

    config = ServerConfig(reload=False, live_reload=False)
    client = Client(wsgi.build_app(app, config=config, hub=None, error=None))
    local = {"REMOTE_ADDR": "127.0.0.1"}
    failed = client.post(
        "/upload", data=b"x" * 50, content_type="application/octet-stream", environ_base=local
    )
    entry = failed.headers["X-Webkit-Error"].rsplit("/", 1)[1]
    again = client.post(f"/__webkit/retry/{entry}", data={"token": "tok-big"}, environ_base=local)
    assert again.status_code == 409, again.get_data(as_text=True)
    assert "too large" in again.get_data(as_text=True)
