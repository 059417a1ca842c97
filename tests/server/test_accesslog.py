"""The request log: line formats, status colours, tracebacks, and the real request handler."""

from __future__ import annotations

import http.client
import io
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, stream_with_context
from flask.logging import default_handler
from rich.console import Console
from werkzeug.serving import make_server

from tests._harness import wait_until
from tests.conftest import build_file_tree
from tests.server._server import Server
from webkit_cli.server.accesslog import (
    LOGGER_NAME,
    AccessEntry,
    AccessLogHandler,
    JsonFormatter,
    PlainFormatter,
    RichFormatter,
    clean,
    configure_access_logger,
    human_duration,
    human_size,
    make_formatter,
)
from webkit_cli.server.config import ServerConfig
from webkit_cli.server.livereload import LiveReloadHub
from webkit_cli.server.wsgi import build_app, make_request_handler

NOON = time.mktime((2026, 11, 22, 12, 34, 56, 0, 0, -1))


def entry(**fields: Any) -> AccessEntry:
    values: dict[str, Any] = {
        "time": NOON,
        "method": "GET",
        "path": "/about",
        "query": "",
        "status": 200,
        "duration_ms": 3.25,
        "size": 1234,
        "remote_addr": "127.0.0.1",
    }
    values.update(fields)
    return AccessEntry(**values)


def raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def colour_console() -> Console:
    return Console(
        file=io.StringIO(),
        width=100,
        color_system="standard",
        force_terminal=True,
        legacy_windows=False,
    )


# --- formatting -------------------------------------------------------------------------


def test_plain_line_has_time_method_path_query_status_duration_size() -> None:
    line = PlainFormatter().line(entry(query="page=2"))
    assert line.split() == ["12:34:56", "GET", "/about?page=2", "200", "3.2", "ms", "1.2", "kB"]
    assert "\x1b" not in line


def test_long_paths_and_queries_are_shortened_in_text_but_not_in_json() -> None:
    path = "/articles/" + "a" * 200
    query = "q=" + "x" * 100
    line = PlainFormatter().line(entry(path=path, query=query))
    target = line.split()[2]
    assert "…" in target
    assert len(target) < 100
    assert target.startswith("/articles/aaaa")
    data = json.loads(JsonFormatter().line(entry(path=path, query=query)))
    assert data["path"] == path
    assert data["query"] == query


def test_control_characters_in_the_url_cannot_forge_lines_or_colours() -> None:
    line = PlainFormatter().line(entry(path="/x\n12:00:00 GET /admin 200\x1b[31m"))
    assert "\n" not in line
    assert "\x1b" not in line
    assert "\\x0a" in line
    assert "\\x1b" in line


#: One of each: right-to-left override, line and paragraph separators, zero-width space,
#: byte order mark, soft hyphen (Cf in latin-1), a tag character beyond the BMP.
DISGUISING = "\u202e\u2028\u2029\u200b\ufeff\u00ad\U000e0001"


@pytest.mark.parametrize("log_format", ["plain", "rich"])
def test_unicode_format_and_separator_characters_are_escaped(log_format: str) -> None:
    fmt = make_formatter(log_format, colour_console() if log_format == "rich" else None)
    line = fmt.line(entry(method="GET", path=f"/a{DISGUISING}b", query=f"q={DISGUISING[:3]}"))
    assert not any(ch in line for ch in DISGUISING)
    assert len(line.splitlines()) == 1
    for escaped in ("\\u202e", "\\u2028", "\\u2029", "\\u200b", "\\ufeff", "\\xad"):
        assert escaped in line
    assert "\\U000e0001" in line


def test_every_format_and_separator_character_is_escaped() -> None:
    import sys
    import unicodedata

    hostile = "".join(
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp")
    )
    # (The line shortens the path: check the escaping itself on the whole text.)
    cleaned = clean(hostile)
    assert cleaned.isascii()
    assert cleaned.isprintable()
    assert PlainFormatter().line(entry(path=hostile)).isprintable()


def test_printable_non_ascii_characters_are_kept() -> None:
    line = PlainFormatter().line(entry(path="/café/日本/ü\u00a0x"))
    assert "/café/日本/ü" in line


def test_a_disguising_url_is_one_escaped_line_through_the_real_handler() -> None:
    with serving(make_app()) as (port, stream):
        get(port, "/x%E2%80%AE%E2%80%A812:00:00%20GET%20/admin%20200")
        lines = lines_when(stream, 1)
    assert len(lines) == 1
    assert "\\u202e\\u2028" in lines[0]
    assert "\u2028" not in stream.getvalue()


@pytest.mark.parametrize(
    ("size", "text"),
    [(None, "-"), (0, "0 B"), (999, "999 B"), (1234, "1.2 kB"), (5_600_000, "5.6 MB")],
)
def test_human_sizes(size: int | None, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(("ms", "text"), [(0.42, "0.4 ms"), (12.6, "13 ms"), (12_345, "12.3 s")])
def test_human_durations(ms: float, text: str) -> None:
    assert human_duration(ms) == text


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (101, "\x1b[2m"),
        (200, "\x1b[32m"),
        (302, "\x1b[36m"),
        (404, "\x1b[33m"),
        (500, "\x1b[1;31m"),
    ],
)
def test_rich_status_is_coloured_by_class(status: int, code: str) -> None:
    line = RichFormatter(colour_console()).line(entry(status=status))
    assert f"{code}{status}\x1b[0m" in line


def test_rich_static_files_are_dimmed_whole() -> None:
    line = RichFormatter(colour_console()).line(entry(path="/static/site.css", static=True))
    assert line.startswith("\x1b[2m")
    assert line.endswith("\x1b[0m")
    assert line.count("\x1b[") == 2  # one style for the whole line


def test_rich_without_colour_is_the_plain_line() -> None:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    assert RichFormatter(console).line(entry()) == PlainFormatter().line(entry())


def test_rich_slow_requests_stand_out() -> None:
    formatter = RichFormatter(colour_console())
    assert "\x1b[33m" in formatter.line(entry(duration_ms=800.0))
    assert "\x1b[1;31m" in formatter.line(entry(status=200, duration_ms=3000.0))


def test_json_line_has_the_documented_keys() -> None:
    data = json.loads(JsonFormatter().line(entry(query="a=1", static=True)))
    assert data == {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(NOON)),
        "method": "GET",
        "path": "/about",
        "query": "a=1",
        "status": 200,
        "duration_ms": 3.25,
        "size": 1234,
        "static": True,
        "remote_addr": "127.0.0.1",
    }


def test_json_5xx_carries_the_exception() -> None:
    exc = raised(ValueError("no such row"))
    line = JsonFormatter().line(entry(status=500, exc=exc))
    assert "\n" not in line
    data = json.loads(line)
    assert data["exception"]["type"] == "builtins.ValueError"
    assert data["exception"]["message"] == "no such row"
    assert "Traceback (most recent call last)" in data["exception"]["traceback"]


def test_handler_writes_the_5xx_traceback_after_the_line() -> None:
    stream = io.StringIO()
    handler = AccessLogHandler(PlainFormatter(), stream)
    exc = raised(KeyError("user_id"))
    handler.emit(logging.makeLogRecord({"msg": entry(status=500, exc=exc)}))
    lines = stream.getvalue().splitlines()
    assert " 500 " in lines[0]
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "KeyError: 'user_id'"


def test_rich_5xx_traceback_is_rendered_by_rich() -> None:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    stream = io.StringIO()
    handler = AccessLogHandler(RichFormatter(console), stream)
    handler.emit(logging.makeLogRecord({"msg": entry(status=500, exc=raised(KeyError("k")))}))
    text = stream.getvalue()
    assert text.index(" 500 ") < text.index("Traceback")
    assert "╭" in text  # rich's traceback panel
    assert "KeyError" in text


def test_a_4xx_never_gets_a_traceback() -> None:
    stream = io.StringIO()
    AccessLogHandler(PlainFormatter(), stream).emit(
        logging.makeLogRecord({"msg": entry(status=404, exc=raised(LookupError("x")))})
    )
    assert stream.getvalue().count("\n") == 1


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="rich, plain or json"):
        make_formatter("xml", None)


def test_logger_is_named_and_does_not_propagate() -> None:
    logger = configure_access_logger("plain", stream=io.StringIO())
    assert logger.name == LOGGER_NAME == "webkit.access"
    assert not logger.propagate
    configure_access_logger("json", stream=io.StringIO())
    assert len([h for h in logger.handlers if isinstance(h, AccessLogHandler)]) == 1


def test_str_of_an_entry_is_the_plain_line_for_other_handlers() -> None:
    assert str(entry()) == PlainFormatter().line(entry())


# --- the request handler in a real server -------------------------------------------------


def make_app() -> Flask:
    app = Flask("logged")

    @app.get("/")
    def index() -> str:
        return "<html><body>home</body></html>"

    @app.get("/boom")
    def boom() -> str:
        raise ZeroDivisionError("the view divided by zero")

    @app.get("/teapot")
    def teapot() -> tuple[str, int]:
        return "short and stout", 418

    @app.get("/stream")
    def stream() -> Response:
        return Response(stream_with_context(iter([b"a" * 10, b"b" * 15])), mimetype="text/plain")

    return app


@contextmanager
def serving(
    app: Any, *, log_format: str = "plain", access_log: bool = True, live: bool = False
) -> Iterator[tuple[int, io.StringIO]]:
    """The worker's stack (build_app + make_request_handler) in a thread on 127.0.0.1."""
    config = ServerConfig.from_options(
        reload=live, log_format=log_format, access_log=access_log, port=0
    )
    stream = io.StringIO()
    wsgi_app = build_app(app, config=config, hub=LiveReloadHub("g") if live else None, error=None)
    handler = make_request_handler(config, stream=stream)
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.port, stream
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def lines_when(stream: io.StringIO, count: int, timeout: float = 5.0) -> list[str]:
    """The lines written so far, once there are at least ``count`` (lines follow responses);
    fewer after ``timeout`` fail the test."""

    def enough() -> list[str]:
        lines = stream.getvalue().splitlines()
        return lines if len(lines) >= count else []

    return wait_until(
        enough,
        timeout,
        lambda: f"fewer than {count} line(s) logged:\n{stream.getvalue()}",
    )


def test_one_plain_line_per_request_with_real_status_and_size() -> None:
    with serving(make_app()) as (port, stream):
        status, body = get(port, "/?tab=1")
        assert status == 200
        get(port, "/teapot")
        get(port, "/missing")
        lines = lines_when(stream, 3)
    assert len(lines) == 3
    first = lines[0].split()
    assert first[1:4] == ["GET", "/?tab=1", "200"]
    assert first[-2:] == [str(len(body)), "B"]
    assert lines[1].split()[1:4] == ["GET", "/teapot", "418"]
    assert lines[2].split()[1:4] == ["GET", "/missing", "404"]


def test_streamed_response_size_is_counted() -> None:
    with serving(make_app(), log_format="json") as (port, stream):
        assert get(port, "/stream") == (200, b"a" * 10 + b"b" * 15)
        data = json.loads(lines_when(stream, 1)[0])
    assert data["size"] == 25
    assert data["status"] == 200


def test_json_lines_for_tools() -> None:
    with serving(make_app(), log_format="json") as (port, stream):
        get(port, "/static/missing.css?v=3")
        get(port, "/")
        lines = lines_when(stream, 2)
    records = [json.loads(line) for line in lines]
    assert records[0]["path"] == "/static/missing.css"
    assert records[0]["query"] == "v=3"
    assert records[0]["static"] is True
    assert records[0]["status"] == 404
    assert records[1]["static"] is False
    assert records[1]["remote_addr"] == "127.0.0.1"
    assert isinstance(records[1]["duration_ms"], float)


def test_5xx_line_is_followed_by_the_traceback_once(capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app()
    # As in a project that configured no logging: Flask then prints errors through its
    # default handler (pytest's own logging handlers would otherwise stand in for it).
    app.logger.addHandler(default_handler)
    app.logger.propagate = False
    try:
        with serving(app) as (port, stream):
            status, _ = get(port, "/boom")
            lines = lines_when(stream, 3)
            app.logger.error("an unrelated error")
    finally:
        app.logger.removeHandler(default_handler)
    assert status == 500
    assert lines[0].split()[1:4] == ["GET", "/boom", "500"]
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ZeroDivisionError: the view divided by zero"
    err = capsys.readouterr().err
    # Flask's own "Exception on /boom [GET]" would print the same traceback a second time,
    # but the app's other error records still reach its handler.
    assert "Exception on /boom" not in err
    assert "an unrelated error" in err


def test_json_5xx_has_the_exception_inside_the_one_line() -> None:
    with serving(make_app(), log_format="json") as (port, stream):
        get(port, "/boom")
        lines = lines_when(stream, 1)
        time.sleep(0.05)  # nothing else may follow
        lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["exception"]["type"] == "builtins.ZeroDivisionError"


def test_no_access_log_still_reports_failed_requests() -> None:
    with serving(make_app(), access_log=False) as (port, stream):
        get(port, "/")
        get(port, "/boom")
        lines = lines_when(stream, 2)
    assert lines[0] == "Traceback (most recent call last):"
    assert " 200 " not in stream.getvalue()


def test_users_own_logging_handler_still_gets_flasks_error_record() -> None:
    app = make_app()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    app.logger.addHandler(keep)
    try:
        with serving(app) as (port, stream):
            get(port, "/boom")
            lines_when(stream, 3)
    finally:
        app.logger.removeHandler(keep)
    assert [r.getMessage() for r in records] == ["Exception on /boom [GET]"]


def test_live_reload_urls_are_not_logged() -> None:
    with serving(make_app(), live=True) as (port, stream):
        get(port, "/__webkit/livereload.js")
        get(port, "/")
        lines = lines_when(stream, 1)
        time.sleep(0.05)
    assert len(stream.getvalue().splitlines()) == 1
    assert "/__webkit/" not in lines[0]


def test_a_malformed_request_is_logged_too() -> None:
    with serving(make_app()) as (port, stream):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GARBAGE\r\n\r\n")
            sock.recv(4096)
        lines = lines_when(stream, 1)
    assert " 400 " in lines[0]


def test_werkzeug_does_not_print_its_own_request_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="werkzeug")
    with serving(make_app()) as (port, stream):
        get(port, "/")
        lines_when(stream, 1)
    assert not [r for r in caplog.records if r.name == "werkzeug"]


def test_non_ascii_paths_are_shown_as_characters() -> None:
    with serving(make_app(), log_format="json") as (port, stream):
        get(port, "/caf%C3%A9")
        data = json.loads(lines_when(stream, 1)[0])
    assert data["path"] == "/café"


# --- end to end: the real `webkit run` in a subprocess -----------------------------------

E2E_APP = """\
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return "<html><body>home</body></html>"


@app.get("/boom")
def boom():
    raise LookupError("no such thing in the view")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return build_file_tree(
        tmp_path / "logged", {"app.py": E2E_APP, "static/site.css": "body { margin: 0 }\n"}
    )


def stdout_lines(server: Server, count: int, *, skip: int = 0, timeout: float = 10.0) -> list[str]:
    """Lines of the server's stdout after the first ``skip``, once there are ``count``."""
    deadline = time.monotonic() + timeout
    while True:
        lines = server.stdout.splitlines()[skip:]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def started(serve: Callable[..., Server], project: Path, *args: str) -> tuple[Server, int]:
    """A server, and how many lines it logged before the test's requests.

    (The helper waits for the first worker with a request of its own: a sized response
    is logged before its body is sent, so that line is already written.)
    """
    server = serve(project, *args)
    return server, len(server.stdout.splitlines())


@pytest.mark.slow
def test_webkit_run_plain_log_lines(project: Path, serve: Callable[..., Server]) -> None:
    server, skip = started(serve, project, "--log-format", "plain", "--no-reload")
    server.get("/?from=test")
    server.get("/static/site.css")
    server.get("/nowhere")
    server.get("/boom")
    lines = stdout_lines(server, 8, skip=skip)
    assert lines[0].split()[1:4] == ["GET", "/?from=test", "200"]
    assert lines[1].split()[1:4] == ["GET", "/static/site.css", "200"]
    assert lines[2].split()[1:4] == ["GET", "/nowhere", "404"]
    assert lines[3].split()[1:4] == ["GET", "/boom", "500"]
    # The traceback follows the 5xx line, once, and names the user's code.
    rest = "\n".join(lines[4:])
    assert lines[4] == "Traceback (most recent call last):"
    assert 'app.py", line 13, in boom' in rest
    assert lines[-1] == "LookupError: no such thing in the view"
    assert "Exception on /boom" not in server.stdout + server.stderr
    # The request lines are not on stderr, where werkzeug would have written its own.
    assert "GET /" not in server.stderr


@pytest.mark.slow
def test_webkit_run_json_log_lines(project: Path, serve: Callable[..., Server]) -> None:
    server, skip = started(serve, project, "--log-format", "json")
    server.get("/")
    server.get("/static/site.css")
    server.get("/boom", headers={"Accept": "application/json"})
    server.get("/__webkit/livereload.js")  # webkit's own URL: not logged
    lines = stdout_lines(server, 3, skip=skip)
    records = [json.loads(line) for line in lines]
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("GET", "/", 200),
        ("GET", "/static/site.css", 200),
        ("GET", "/boom", 500),
    ]
    assert set(records[0]) == {
        "time",
        "method",
        "path",
        "query",
        "status",
        "duration_ms",
        "size",
        "static",
        "remote_addr",
    }
    assert records[0]["size"] > len("<html><body>home</body></html>")  # the script was added
    assert records[1]["static"] is True
    assert records[2]["exception"]["type"] == "builtins.LookupError"


@pytest.mark.slow
def test_webkit_run_no_access_log(project: Path, serve: Callable[..., Server]) -> None:
    server, skip = started(serve, project, "--no-access-log", "--log-format", "plain")
    assert skip == 0
    server.get("/")
    server.get("/boom")
    lines = stdout_lines(server, 2, skip=skip)
    assert lines[0] == "Traceback (most recent call last):"
    assert not [line for line in lines if " 200 " in line]


# --- smaller paths ---------------------------------------------------------------------


def test_json_without_lines_still_writes_a_readable_traceback() -> None:
    stream = io.StringIO()
    handler = AccessLogHandler(JsonFormatter(), stream, lines=False)
    handler.emit(logging.makeLogRecord({"msg": entry(status=502, exc=raised(OSError("gone")))}))
    text = stream.getvalue()
    assert text.startswith("Traceback (most recent call last):")
    assert text.rstrip().endswith("OSError: gone")


def test_other_records_on_the_access_logger_are_written_too() -> None:
    stream = io.StringIO()
    logger = configure_access_logger("plain", stream=stream)
    logger.warning("access log rotated")
    assert stream.getvalue() == "access log rotated\n"


def test_blueprint_static_files_count_as_static(tmp_path: Path) -> None:
    from flask import Blueprint

    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.js").write_text("// js\n", encoding="utf-8")
    app = make_app()
    shop = Blueprint(
        "shop",
        __name__,
        url_prefix="/shop",
        static_folder=str(tmp_path / "assets"),
        static_url_path="/assets",
    )

    @shop.get("/")
    def shop_index() -> str:
        return "shop"

    app.register_blueprint(shop)
    with serving(app, log_format="json") as (port, stream):
        assert get(port, "/shop/assets/app.js")[0] == 200
        get(port, "/shop/")
        records = [json.loads(line) for line in lines_when(stream, 2)]
    assert [(r["path"], r["static"]) for r in records] == [
        ("/shop/assets/app.js", True),
        ("/shop/", False),
    ]


def test_json_lines_escape_every_character_correctly() -> None:
    tricky = '/a"b\\c\nd\x1be\u00e9\u2028f'
    line = JsonFormatter().line(
        entry(path=tricky, query="q=\"'", method="PATCH", size=None, duration_ms=1 / 3)
    )
    assert line.isascii()
    assert "\n" not in line
    data = json.loads(line)
    assert data["path"] == tricky
    assert data["query"] == "q=\"'"
    assert data["size"] is None
    assert data["duration_ms"] == 0.333
