"""Tracebacks start at the user's first frame; webkit's, Werkzeug's and Flask's dispatch
above it are folded into a count, on the error page, in the request log and the terminal.
And an error in webkit's own code says it is a webkit bug."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from rich.console import Console
from werkzeug.test import Client

from tests.conftest import build_file_tree
from tests.server._server import Server
from webkit_cli.server.accesslog import PlainFormatter, RichFormatter
from webkit_cli.server.config import ServerConfig
from webkit_cli.server.tracebacks import format_exception, framework_prefix, rich_traceback
from webkit_cli.server.wsgi import build_app

FOLD = re.compile(r"\[(\d+) framework frames? folded: webkit, Werkzeug, Flask\]")


def failing_request(wrap: Callable[[Flask], None] | None = None) -> tuple[Client, BaseException]:
    """A Flask view that raises, served through webkit's pipeline; and the exception.
    ``wrap`` is called with the app before it is served (an extension's set-up)."""
    app = Flask("foldapp")
    app.config["PROPAGATE_EXCEPTIONS"] = True
    caught: list[BaseException] = []

    @app.get("/boom")
    def boom() -> str:
        try:
            {}["missing"]
        except KeyError as exc:
            caught.append(exc)
            raise
        return "unreachable"

    if wrap is not None:
        wrap(app)
    config = ServerConfig.from_options(reload=False)
    return Client(build_app(app, config=config, hub=None, error=None)), caught  # type: ignore[return-value]


def request_exception() -> BaseException:
    client, caught = failing_request()
    client.get("/boom", headers={"Accept": "text/plain"})
    (exc,) = caught  # type: ignore[misc]
    return exc


def test_the_text_traceback_starts_at_the_view_with_the_dispatch_folded() -> None:
    text = format_exception(request_exception())
    lines = text.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    match = FOLD.fullmatch(lines[1].strip())
    assert match is not None, text
    assert int(match.group(1)) >= 2  # webkit's catcher and Flask's dispatch at least
    assert lines[2].startswith(f'  File "{__file__}"')  # the user's view comes next
    assert "wsgi.py" not in text and "flask/app.py" not in text
    assert lines[-1] == "KeyError: 'missing'"


def test_the_request_logs_plain_and_rich_tracebacks_fold_too() -> None:
    exc = request_exception()
    plain = PlainFormatter().traceback(exc)
    assert FOLD.search(plain) and "wsgi.py" not in plain
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(rich_traceback(exc))
    rendered = buffer.getvalue()
    assert FOLD.search(rendered.splitlines()[0]), rendered  # said before the panel
    assert "wsgi.py" not in rendered and "test_tracebacks.py" in rendered


def test_the_error_page_folds_the_framework_frames_it_still_lists() -> None:
    client, _ = failing_request()
    page = client.get("/boom", headers={"Accept": "text/html"}).get_data(as_text=True)
    fold = page.index('<details class="fold">')
    folded_end = page.index("</details>", fold)
    summary = page[fold:folded_end].split("<summary>")[1].split("</summary>")[0]
    assert FOLD.fullmatch(f"[{summary}]")
    # Folded, not removed: webkit's frame is inside the fold; the user's comes before it.
    assert fold < page.index("wsgi.py") < folded_end
    assert page.index(__file__) < fold

    data = client.get("/boom", headers={"Accept": "application/json"}).get_json()
    error = data["error"]
    assert error["frames"][0]["file"] == __file__
    assert error["framework_frames"] >= 2
    assert FOLD.search(error["traceback"])

    text = client.get("/boom", headers={"Accept": "text/plain"}).get_data(as_text=True)
    assert FOLD.search(text) and "wsgi.py" not in text


#: An extension that wraps Flask's dispatch, as Flask-DebugToolbar does, installed as a library.
WRAPPING_EXTENSION = """\
def wrap(app):
    original = app.dispatch_request

    def dispatch_request():
        return original()

    app.dispatch_request = dispatch_request
"""


def test_an_extensions_wrapper_above_the_view_is_folded_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_file_tree(tmp_path, {"site-packages/toolbar_lib/__init__.py": WRAPPING_EXTENSION})
    monkeypatch.syspath_prepend(str(tmp_path / "site-packages"))
    import toolbar_lib

    client, caught = failing_request(toolbar_lib.wrap)
    client.get("/boom", headers={"Accept": "text/plain"})
    (exc,) = caught  # type: ignore[misc]
    lines = format_exception(exc).splitlines()
    note = re.fullmatch(
        r"\[(\d+) framework and library frames folded: webkit, Werkzeug, Flask, toolbar_lib\]",
        lines[1].strip(),
    )
    assert note is not None, lines
    assert lines[2].startswith(f'  File "{__file__}"')  # the user's view comes next
    # The request log, not on a terminal (a pipe, a file): the longer note stays one line.
    log = RichFormatter(Console(file=io.StringIO(), width=60)).traceback(exc).splitlines()
    assert log[0] == lines[1].strip(), log[:3]
    # Below the user's frame a library's frames stay: the user called them.
    assert framework_prefix(["/project/views.py", toolbar_lib.__file__]) == 0


def test_an_error_of_the_framework_itself_keeps_every_frame() -> None:
    import flask

    inside = str(Path(flask.__file__).parent / "app.py")
    assert framework_prefix([inside, inside]) == 0
    assert framework_prefix([inside, "/project/views.py"]) == 1
    assert framework_prefix(["/project/views.py", inside]) == 0


# -- webkit's own errors ----------------------------------------------------------------

#: Makes webkit's app loading fail the way a bug in it would (it runs in every process).
SIMULATED_BUG = """\
import webkit_cli.project


def load_app(self):
    raise RuntimeError("simulated webkit bug")


webkit_cli.project.ProjectContext.load_app = load_app
"""

APP = "from flask import Flask\napp = Flask(__name__)\n"


@pytest.mark.slow
@pytest.mark.parametrize("mode", [(), ("--no-warm",)], ids=["forked", "spawned"])
def test_an_error_in_webkits_own_code_is_reported_as_a_webkit_bug(
    tmp_path: Path, mode: tuple[str, ...]
) -> None:
    site = build_file_tree(tmp_path / "site-extra", {"sitecustomize.py": SIMULATED_BUG})
    project = build_file_tree(tmp_path / "p", {"app.py": APP})
    server = Server(project, mode, env={"PYTHONPATH": str(site)}, wait=False)
    try:
        server.port = server.wait_for_url()
        server.wait_for_output("a bug in webkit")
        server.wait_for_output("while loading the app")
        err = server.stderr
        assert "RuntimeError: simulated webkit bug" in err  # with its traceback
        assert "Traceback (most recent call last)" in err
        assert "C extension" not in err
        status, _, body = server.get("/", headers={"Accept": "application/json"})
        assert status == 500
        assert "webkit's own code" in json.loads(body)["error"]["message"]
    finally:
        server.close()
