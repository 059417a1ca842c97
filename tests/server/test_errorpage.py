"""The 500 page of a failed app load or a failed request: HTML, JSON, text, escaping."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import Client

from tests.server._server import Server
from webkit_cli.server.config import ServerConfig
from webkit_cli.server.errorpage import describe, error_app
from webkit_cli.server.livereload import LiveReloadHub
from webkit_cli.server.wsgi import build_app, debugger_pin

HOSTILE = "<script>alert('x')</script> & \"quotes\""
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def raised(exc: BaseException) -> BaseException:
    """``exc`` with a real traceback."""
    try:
        raise exc
    except BaseException as caught:
        return caught


def load_failure(tmp_path: Path, source: str, name: str = "brokenapp") -> BaseException:
    """The exception of importing a module with ``source`` (as webkit's import would see it)."""
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    code = path.read_text(encoding="utf-8")
    try:
        exec(compile(code, str(path), "exec"), {"__name__": name})
    except BaseException as exc:
        return exc
    raise AssertionError("the source did not fail")


def config(**options: Any) -> ServerConfig:
    return ServerConfig.from_options(**options)


def error_client(error: BaseException, *, live: bool = True) -> Client:
    hub = LiveReloadHub("gen-e") if live else None
    return Client(build_app(None, config=config(reload=live), hub=hub, error=error))


def test_html_page_for_browsers_with_the_users_traceback(tmp_path: Path) -> None:
    error = load_failure(
        tmp_path, "import os\n\ndef create_app():\n    pass\n\nraise KeyError('DATABASE_URL')\n"
    )
    response = error_client(error).get("/any/path", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 500
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert "The app failed to load" in text
    assert "KeyError" in text
    assert "DATABASE_URL" in text
    assert str(tmp_path / "brokenapp.py") in text
    # The failing line is highlighted in its context.
    assert '<span class="hl"><i>    6 </i>raise KeyError(&#x27;DATABASE_URL&#x27;)</span>' in text
    # webkit's own frames are not the user's business.
    assert "webkit_cli" not in text.split("<details>")[0]


def test_every_method_and_path_gets_the_error(tmp_path: Path) -> None:
    client = error_client(load_failure(tmp_path, "1/0\n"))
    for method in ("get", "post", "put", "delete"):
        assert getattr(client, method)("/x/y?z=1").status_code == 500


def test_json_for_api_clients(tmp_path: Path) -> None:
    error = load_failure(
        tmp_path, "def create_app():\n    return 1\n\nraise ValueError('bad config')\n"
    )
    response = error_client(error).get("/api/items", headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    data = json.loads(response.data)["error"]
    assert data["title"] == "The app failed to load"
    assert data["type"] == "ValueError"
    assert data["message"] == "bad config"
    assert data["traceback"].startswith("Traceback (most recent call last):")
    assert data["traceback"].rstrip().endswith("ValueError: bad config")
    assert data["frames"][-1] == {
        "file": str(tmp_path / "brokenapp.py"),
        "line": 4,
        "function": "<module>",
        "code": "raise ValueError('bad config')",
    }
    assert b"livereload" not in response.data


def test_plain_text_when_asked(tmp_path: Path) -> None:
    response = error_client(load_failure(tmp_path, "1/0\n")).get(
        "/", headers={"Accept": "text/plain"}
    )
    assert response.mimetype == "text/plain"
    assert "ZeroDivisionError: division by zero" in response.get_data(as_text=True)


def test_no_accept_header_gets_html(tmp_path: Path) -> None:
    response = error_client(load_failure(tmp_path, "1/0\n")).get("/")
    assert response.mimetype == "text/html"


def test_exception_text_is_escaped_everywhere() -> None:
    error = raised(RuntimeError(HOSTILE))
    response = error_client(error).get("/", headers={"Accept": BROWSER_ACCEPT})
    text = response.get_data(as_text=True)
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in text
    # The only script on the page is webkit's same-origin live-reload script.
    assert text.count("<script") == 1
    assert '<script src="/__webkit/livereload.js?g=gen-e&amp;v=0" defer></script>' in text
    # JSON carries the text verbatim (JSON escaping makes it inert).
    data = error_client(error).get("/", headers={"Accept": "application/json"}).json
    assert data is not None and data["error"]["message"] == HOSTILE


def test_page_has_a_strict_csp_that_still_allows_live_reload(tmp_path: Path) -> None:
    response = error_client(load_failure(tmp_path, "1/0\n")).get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "connect-src 'self'" in csp
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'<style nonce="{nonce}">' in response.get_data(as_text=True)


def test_page_includes_live_reload_and_says_it_recovers_by_itself(tmp_path: Path) -> None:
    text = error_client(load_failure(tmp_path, "1/0\n")).get("/").get_data(as_text=True)
    assert "reloads by itself" in text
    assert text.index("/__webkit/livereload.js") < text.index("</body>")


def test_without_reload_the_hint_says_to_restart(tmp_path: Path) -> None:
    text = error_client(load_failure(tmp_path, "1/0\n"), live=False).get("/").get_data(as_text=True)
    assert "livereload" not in text
    assert "restart webkit run" in text


def test_syntax_error_points_at_the_line_and_column(tmp_path: Path) -> None:
    error = load_failure(tmp_path, "x = 1\ndef view(:\n    pass\n")
    assert isinstance(error, SyntaxError)
    text = error_client(error).get("/").get_data(as_text=True)
    assert "SyntaxError" in text
    assert "line 2" in text
    assert "def view(:" in text
    assert "^" in text
    data = error_client(error).get("/", headers={"Accept": "application/json"}).json
    assert data is not None and data["error"]["type"] == "SyntaxError"


def test_chained_exceptions_are_all_shown_oldest_first() -> None:
    def factory() -> None:
        try:
            {}["SECRET_KEY"]
        except KeyError as exc:
            raise RuntimeError("config incomplete") from exc

    error = raised_from(factory)
    chain = describe(error)
    assert [info.type for info in chain] == ["KeyError", "RuntimeError"]
    assert chain[1].link.startswith("The above exception was the direct cause")
    text = error_client(error).get("/").get_data(as_text=True)
    first = text.index("<h2><code>KeyError</code>")
    assert first < text.index("direct cause") < text.index("<h2><code>RuntimeError</code>")


def raised_from(function: Callable[[], None]) -> BaseException:
    try:
        function()
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def test_head_request_gets_headers_only(tmp_path: Path) -> None:
    response = error_client(load_failure(tmp_path, "1/0\n")).head("/")
    assert response.status_code == 500
    assert response.data == b""


def test_error_app_alone_is_a_wsgi_app() -> None:
    app = error_app(raised(OSError("disk")), reload=True, live_reload=False)
    response = Client(app).get("/")
    assert response.status_code == 500
    assert "OSError" in response.get_data(as_text=True)


def test_no_app_and_no_error_still_serves_a_500() -> None:
    response = Client(build_app(None, config=config(), hub=None, error=None)).get("/")
    assert response.status_code == 500


# --- exceptions of a loaded app ---------------------------------------------------------


def test_exception_escaping_a_plain_wsgi_app_gets_the_traceback_page() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        raise LookupError(HOSTILE)

    client = Client(build_app(app, config=config(), hub=LiveReloadHub("g"), error=None))
    response = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "The request failed" in text
    assert "LookupError" in text
    assert "<script>alert" not in text
    assert "livereload.js" in text  # the page recovers by itself too
    data = client.get("/", headers={"Accept": "application/json"}).json
    assert data is not None and data["error"]["type"] == "LookupError"


def test_flask_propagated_exceptions_get_the_traceback_page() -> None:
    app = Flask("propagating")
    app.config["PROPAGATE_EXCEPTIONS"] = True  # what Flask's debug and testing modes do

    @app.get("/boom")
    def boom() -> str:
        raise ValueError("kaput")

    wrapped = build_app(app, config=config(reload=False), hub=None, error=None)
    response = Client(wrapped).get("/boom", headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert response.json is not None
    assert response.json["error"]["title"] == "The request failed"
    assert response.json["error"]["message"] == "kaput"


def test_the_users_own_500_handler_still_renders() -> None:
    app = Flask("handlerapp")

    @app.get("/boom")
    def boom() -> str:
        raise ValueError("kaput")

    @app.errorhandler(500)
    def oops(error: Exception) -> tuple[str, int]:
        return "<html><body>our own oops page</body></html>", 500

    wsgi_app = build_app(app, config=config(), hub=LiveReloadHub("g"), error=None)
    response = Client(wsgi_app).get("/boom")
    assert response.status_code == 500
    assert b"our own oops page" in response.data
    assert b"livereload.js" in response.data


def test_debug_mode_serves_werkzeugs_interactive_debugger() -> None:
    app = Flask("dbg")
    app.debug = True

    @app.get("/boom")
    def boom() -> str:
        raise ValueError("kaput")

    wsgi_app = build_app(app, config=config(debug=True), hub=LiveReloadHub("g"), error=None)
    response = Client(wsgi_app).get("/boom")
    assert response.status_code == 500
    assert b"Werkzeug Debugger" in response.data
    # The debugger page recovers by itself too once the fix is saved.
    tag = b'<script src="/__webkit/livereload.js?g=g&amp;v=0" defer></script>'
    assert tag + b"</body>" in response.data
    assert debugger_pin(wsgi_app) is not None


def test_without_debug_there_is_no_debugger() -> None:
    app = Flask("nodbg")
    assert debugger_pin(build_app(app, config=config(), hub=None, error=None)) is None


# --- end to end: the real `webkit run` -----------------------------------------------------

BROKEN_APP = """\
import pytest
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index(:
    return "<html><body>fixed</body></html>"
"""


@pytest.mark.slow
def test_webkit_run_serves_the_error_page_until_the_fix_is_saved(tmp_path: Path) -> None:
    project = tmp_path / "broken"
    project.mkdir()
    (project / "app.py").write_text(BROKEN_APP, encoding="utf-8")
    server = Server(project, ["--reload"])
    try:
        status, headers, body = server.get("/", headers={"Accept": BROWSER_ACCEPT})
        assert status == 500
        assert headers["content-type"].startswith("text/html")
        assert "SyntaxError" in body
        assert "def index(:" in body
        assert '<script src="/__webkit/livereload.js?g=' in body
        status, headers, body = server.get("/api/x", headers={"Accept": "application/json"})
        assert status == 500
        assert json.loads(body)["error"]["type"] == "SyntaxError"

        fixed = BROKEN_APP.replace("def index(:", "def index():")
        tmp = project / "app.py.tmp-save"
        tmp.write_text(fixed, encoding="utf-8")
        tmp.replace(project / "app.py")
        assert "fixed" in server.wait_for_body("/", lambda text: "fixed" in text)
    finally:
        server.close()


# -- the user's code first, the request on top, editor links -------------------------------

PROJECT_VIEWS = """\
from flask import Flask, render_template, request

app = Flask(__name__)
app.config["PROPAGATE_EXCEPTIONS"] = True


def total(items):
    return sum(item["price"] for item in items)


@app.post("/cart")
def cart():
    return str(total([{"name": (request.get_json(silent=True) or request.form)["name"]}]))


@app.get("/page")
def page():
    return render_template("page.html", user=None)
"""

PAGE_TEMPLATE = """\
<!doctype html>
<html><body>
<h1>Hello</h1>
<p>{{ user.name.first }}</p>
</body></html>
"""


WHERE = r'<div class="where"><b>([^<]+)</b>, line (\d+)'


def project_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Client]:
    """A project folder with a Flask app that fails, served through webkit's pipeline."""
    import importlib.util

    root = tmp_path / "shop"
    (root / "templates").mkdir(parents=True)
    (root / "views.py").write_text(PROJECT_VIEWS, encoding="utf-8")
    (root / "templates" / "page.html").write_text(PAGE_TEMPLATE, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("shop_views", root / "views.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # Flask finds the templates folder next to the module it is named after.
    monkeypatch.setitem(sys.modules, "shop_views", module)
    spec.loader.exec_module(module)
    monkeypatch.setenv("WEBKIT_EDITOR", "code")
    cfg = config(reload=False, project_dir=root)
    return root, Client(build_app(module.app, config=cfg, hub=None, error=None))


def test_the_page_leads_with_the_frame_that_raised_in_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, client = project_app(tmp_path, monkeypatch)
    response = client.post(
        "/cart?step=2",
        data={"name": "Mug", "password": "hunter2", "csrf_token": "abc123"},
        headers={"Accept": BROWSER_ACCEPT},
    )
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    main = text.split("<details><summary>Plain traceback")[0]
    frames = re.findall(WHERE, main)
    # The project's frames first, the one that raised leading; paths relative to the project.
    # (the generator expression raised, in total(), called by the view)
    assert frames[:3] == [("views.py", "8"), ("views.py", "8"), ("views.py", "13")]
    fold = main.index('<details class="fold">')
    assert main.index("views.py") < fold
    assert re.search(r"<summary>\d+ framework frames folded: webkit, Werkzeug, Flask", main)
    # Flask's wsgi_app re-raises: its frame is listed once, not at two lines.
    assert main.count("in <b>wsgi_app</b>") == 1
    # The request on top: method, URL, form fields; never the value of a secret.
    assert main.index("POST /cart") < main.index("views.py")
    assert "form name</th><td>Mug" in main
    assert "hunter2" not in text and "abc123" not in text
    assert "form password</th><td>(hidden)" in main
    # Open-in-editor on every project frame (VS Code here), with the absolute path.
    links = re.findall(r'<a class="open" href="([^"]+)">', main)
    views = root.resolve() / "views.py"
    assert links == [
        f"vscode://file{views}:8",
        f"vscode://file{views}:8",
        f"vscode://file{views}:13",
    ]


def test_json_bodies_are_summarised_without_secret_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = project_app(tmp_path, monkeypatch)
    text = client.post(
        "/cart", json={"name": "Mug", "api_key": "sk-live-1"}, headers={"Accept": BROWSER_ACCEPT}
    ).get_data(as_text=True)
    assert "json name</th><td>Mug" in text
    assert "json api_key</th><td>(hidden)" in text
    assert "sk-live-1" not in text


def test_a_template_error_leads_with_the_template_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = project_app(tmp_path, monkeypatch)
    text = client.get("/page", headers={"Accept": BROWSER_ACCEPT}).get_data(as_text=True)
    main = text.split("<details")[0]
    first = re.search('<div class="frame lead">' + WHERE, main)
    assert first is not None and first.groups() == ("templates/page.html", "4")
    lead = main[first.start() :].split("</pre></div>")[0]
    assert '<span class="hl"><i>    4 </i>&lt;p&gt;{{ user.name.first }}&lt;/p&gt;</span>' in lead
    # Then the view that rendered it; Jinja's and Flask's frames only behind the fold.
    shown = re.findall(r'<div class="where"><b>([^<]+)</b>', main)
    assert shown == ["templates/page.html", "views.py"]
    assert re.search(r'<details class="fold"><summary>\d+ framework frames folded', text)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("code --wait", "vscode://file/p/app.py:7"),
        ("pycharm", "idea://open?file=%2Fp%2Fapp.py&line=7"),
        ("subl -w", "subl://open?url=file%3A%2F%2F%2Fp%2Fapp.py&line=7"),
        ("myeditor://open?f={file}&l={line}", "myeditor://open?f=/p/app.py&l=7"),
        ("", None),
    ],
)
def test_editor_links_follow_the_configured_editor(setting: str, expected: str | None) -> None:
    from webkit_cli.server.editor import editor_link

    assert editor_link("/p/app.py", 7, setting=setting) == expected


def test_a_command_editor_gets_a_tokened_webkit_link(monkeypatch: pytest.MonkeyPatch) -> None:
    from webkit_cli.server.editor import editor_link

    monkeypatch.setenv("WEBKIT_RUN_TOKEN", "tok-1")
    link = editor_link("/p/app.py", 7, setting="emacsclient -n")
    assert link == "/__webkit/open?file=%2Fp%2Fapp.py&line=7&token=tok-1"
