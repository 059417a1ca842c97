"""Live reload: HTML injection rules, the script endpoint, and the SSE hub over real HTTP."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from tests.conftest import build_file_tree
from tests.server._server import Server
from webkit_cli.server.livereload import (
    EVENTS_PATH,
    SCRIPT_PATH,
    LiveReloadHub,
    LiveReloadMiddleware,
    inject,
    script_tag,
)

TAG = b'<script src="/__webkit/livereload.js?g=gen-1&amp;v=0" defer></script>'
PAGE = b"<!doctype html><html><head><title>t</title></head><body><h1>Hi</h1></body></html>"


def wsgi(
    body: bytes | Iterable[bytes],
    *,
    status: int = 200,
    mimetype: str = "text/html",
    headers: dict[str, str] | None = None,
    stream: bool = False,
) -> Callable[..., Any]:
    """A WSGI app answering every request with the given response."""

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        content: Any = body
        if stream:
            content = iter([body] if isinstance(body, bytes) else list(body))
        response = Response(content, status=status, mimetype=mimetype, headers=headers)
        return response

    return app


def client_for(app: Callable[..., Any], generation: str = "gen-1") -> Client:
    return Client(LiveReloadMiddleware(app, LiveReloadHub(generation)))


# --- injection rules -------------------------------------------------------------------


def test_html_page_gets_the_script_before_body_end_and_a_fixed_content_length() -> None:
    response = client_for(wsgi(PAGE)).get("/")
    assert response.data == PAGE.replace(b"</body>", TAG + b"</body>")
    assert int(response.headers["Content-Length"]) == len(response.data) == len(PAGE) + len(TAG)


def test_a_page_carries_the_version_its_request_began_at() -> None:
    """A page event during the render finds the page stale: its tag names the version from
    before it, so the page's stream (whose hello names the later one) reloads it."""
    hub = LiveReloadHub("gen-1")

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        if request.path == "/during":
            hub.notify("reload", ["templates/index.html"])  # a save while rendering
        return Response(PAGE, mimetype="text/html")

    client = Client(LiveReloadMiddleware(app, hub))
    assert b"?g=gen-1&amp;v=0" in client.get("/").data
    assert b"?g=gen-1&amp;v=0" in client.get("/during").data  # began before the event
    assert hub.version == 1
    assert b"?g=gen-1&amp;v=1" in client.get("/").data


def test_script_is_same_origin_and_deferred_not_inline() -> None:
    data = client_for(wsgi(PAGE)).get("/").data
    assert data.count(b"<script") == 1
    assert b'src="/__webkit/livereload.js' in data
    assert b" defer>" in data


def test_body_end_tag_is_found_case_insensitively_and_last_one_wins() -> None:
    page = b"<html><BODY><pre>&lt;/body&gt; </body> in text</pre></BODY></html>"
    data = client_for(wsgi(page)).get("/").data
    assert data.endswith(TAG + b"</BODY></html>")


def test_fragment_without_body_tag_gets_the_script_appended() -> None:
    data = client_for(wsgi(b"<p>partial</p>")).get("/").data
    assert data == b"<p>partial</p>" + TAG


def test_json_is_never_touched() -> None:
    body = b'{"html": "</body>"}'
    response = client_for(wsgi(body, mimetype="application/json")).get("/")
    assert response.data == body
    assert response.headers["Content-Length"] == str(len(body))


def test_streamed_html_without_content_length_passes_through_untouched() -> None:
    chunks = [b"<html><body>", b"streaming", b"</body></html>"]
    seen: list[bytes] = []

    def body() -> Iterator[bytes]:
        for chunk in chunks:
            seen.append(chunk)
            yield chunk

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return body()

    response = client_for(app).get("/", buffered=False)
    stream = iter(response.response)
    # The first chunk is available before the app produced the rest: nothing was buffered.
    assert next(stream) == chunks[0]
    assert seen == chunks[:1]
    assert b"".join(stream) == b"streaming</body></html>"
    response.close()


def test_event_stream_from_the_app_is_not_touched() -> None:
    body = b"data: </body>\n\n"
    response = client_for(wsgi(body, mimetype="text/event-stream")).get("/")
    assert response.data == body


def test_page_already_carrying_the_script_is_not_injected_twice() -> None:
    page = PAGE.replace(b"</body>", TAG + b"</body>")
    assert client_for(wsgi(page)).get("/").data == page
    # Two middlewares stacked (an app mounted in another) still give one tag.
    hub = LiveReloadHub("gen-1")
    doubled = Client(LiveReloadMiddleware(LiveReloadMiddleware(wsgi(PAGE), hub), hub))
    assert doubled.get("/").data.count(b"livereload.js") == 1


def test_mentioning_the_script_url_in_text_does_not_block_injection() -> None:
    page = b"<html><body><p>see /__webkit/livereload.js</p></body></html>"
    assert TAG in client_for(wsgi(page)).get("/").data


def test_compressed_html_is_not_touched() -> None:
    body = b"\x1f\x8b\x08\x00 pretend gzip </body>"
    app = wsgi(body, headers={"Content-Encoding": "gzip"})
    response = client_for(app).get("/")
    assert response.data == body
    assert response.headers["Content-Length"] == str(len(body))


def test_identity_encoding_is_still_injected() -> None:
    response = client_for(wsgi(PAGE, headers={"Content-Encoding": "identity"})).get("/")
    assert TAG in response.data


def test_head_request_keeps_the_original_length() -> None:
    response = client_for(wsgi(PAGE)).head("/")
    assert response.headers["Content-Length"] == str(len(PAGE))
    assert response.data == b""


@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_statuses_are_not_touched(status: int) -> None:
    response = client_for(wsgi(b"", status=status)).get("/")
    assert response.data == b""


def test_html_download_is_not_touched() -> None:
    app = wsgi(PAGE, headers={"Content-Disposition": "attachment; filename=page.html"})
    assert client_for(app).get("/").data == PAGE


def test_error_pages_in_html_are_injected_so_they_recover_too() -> None:
    response = client_for(wsgi(PAGE, status=404)).get("/missing")
    assert response.status_code == 404
    assert TAG in response.data


def test_csp_nonce_is_reused_so_a_nonce_only_policy_still_runs_the_script() -> None:
    csp = "default-src 'self'; script-src 'nonce-r4nd0m' 'strict-dynamic'"
    data = client_for(wsgi(PAGE, headers={"Content-Security-Policy": csp})).get("/").data
    assert b'nonce="r4nd0m"' in data


def test_post_responses_in_html_are_injected() -> None:
    assert TAG in client_for(wsgi(PAGE)).post("/form", data={"a": "b"}).data


def test_legacy_write_callable_is_buffered_and_injected() -> None:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        write = start_response(
            "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(PAGE)))]
        )
        write(PAGE[:20])
        return [PAGE[20:]]

    response = client_for(app).get("/")
    assert response.data == PAGE.replace(b"</body>", TAG + b"</body>")
    assert response.headers["Content-Length"] == str(len(response.data))


def test_lazy_generator_app_is_injected_like_any_other() -> None:
    """werkzeug's debugger is such an app: start_response comes with the first chunk."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response(
            "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(PAGE)))]
        )
        yield PAGE[:30]
        yield PAGE[30:]

    response = client_for(app).get("/")
    assert response.data == PAGE.replace(b"</body>", TAG + b"</body>")
    assert response.headers["Content-Length"] == str(len(response.data))


def test_lazy_generator_stream_passes_through_and_is_closed() -> None:
    closed: list[bool] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        try:
            yield b"<p>one</p>"
            yield b"<p>two</p>"
        finally:
            closed.append(True)

    response = client_for(app).get("/")
    assert response.data == b"<p>one</p><p>two</p>"
    response.close()
    assert closed == [True]


def test_inner_iterable_is_closed() -> None:
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield PAGE

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Body:
        start_response(
            "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(PAGE)))]
        )
        return Body()

    client_for(app).get("/")
    assert closed == [True]


def test_inject_helper_and_tag() -> None:
    assert inject(b"<body></body>", b"<x>") == b"<body><x></body>"
    assert script_tag("a b") == b'<script src="/__webkit/livereload.js?g=a%20b" defer></script>'
    assert b'nonce="n"' in script_tag("g", "n")


# --- the script endpoint ---------------------------------------------------------------


def test_script_endpoint_serves_the_packaged_script() -> None:
    response = client_for(wsgi(PAGE)).get(SCRIPT_PATH)
    packaged = resources.files("webkit_cli.server").joinpath("static/livereload.js").read_bytes()
    assert response.status_code == 200
    assert response.data == packaged
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The script talks to the same-origin event stream and reacts to the three events.
    for needle in (b"EventSource", b'"hello"', b'"reload"', b'"css"', b"events"):
        assert needle in response.data


def test_unknown_webkit_url_is_404_and_does_not_reach_the_app() -> None:
    reached: list[str] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        reached.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    response = client_for(app).get("/__webkit/nope")
    assert response.status_code == 404
    assert reached == []


def test_notify_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="reload"):
        LiveReloadHub().notify("explode", [])  # type: ignore[arg-type]


def test_generation_defaults_to_a_unique_value() -> None:
    assert LiveReloadHub().generation != LiveReloadHub().generation


# --- SSE over a real threaded werkzeug server -------------------------------------------


@contextmanager
def serving(app: Callable[..., Any]) -> Iterator[int]:
    """A threaded werkzeug server on 127.0.0.1 in a thread; yields its port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class SSEReader:
    """Reads SSE messages from a streaming response, with a deadline."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        self.conn.request("GET", EVENTS_PATH, headers={"Accept": "text/event-stream"})
        self.response = self.conn.getresponse()
        self.buffer = b""

    def next_message(self) -> bytes:
        """The next message (up to the blank line), or b"" at the end of the stream."""
        while b"\n\n" not in self.buffer:
            chunk = self.response.read1(4096)
            if not chunk:
                return b""
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\n\n")
        return message

    def close(self) -> None:
        self.response.close()
        self.conn.close()


@contextmanager
def sse(port: int) -> Iterator[SSEReader]:
    reader = SSEReader(port)
    try:
        yield reader
    finally:
        reader.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_sse_hello_then_notified_events_then_close_all_ends_the_stream() -> None:
    hub = LiveReloadHub("gen-7")
    with serving(LiveReloadMiddleware(wsgi(PAGE), hub)) as port, sse(port) as reader:
        assert reader.response.status == 200
        assert reader.response.getheader("Content-Type", "").startswith("text/event-stream")
        assert reader.response.getheader("Content-Length") is None
        hello = reader.next_message()
        assert b"event: hello" in hello
        assert b'data: {"generation": "gen-7", "version": 0}' in hello
        wait_for(lambda: hub.client_count == 1)

        assert hub.notify("reload", ["templates/index.html"]) == 1
        assert reader.next_message() == (
            b'event: reload\ndata: {"paths": ["templates/index.html"], "version": 1}'
        )
        hub.notify("css", ["static/site.css"])
        assert reader.next_message() == (
            b'event: css\ndata: {"paths": ["static/site.css"], "version": 2}'
        )

        hub.close_all()
        assert reader.next_message() == b""  # the server ended the stream
        wait_for(lambda: hub.client_count == 0)


def test_a_closed_hub_answers_new_streams_with_an_empty_stream() -> None:
    hub = LiveReloadHub("old")
    hub.close_all()
    with serving(LiveReloadMiddleware(wsgi(PAGE), hub)) as port, sse(port) as reader:
        assert reader.response.status == 200
        assert reader.next_message() == b": closing"
        assert reader.next_message() == b""
    assert hub.client_count == 0


def test_every_open_stream_gets_the_event() -> None:
    hub = LiveReloadHub("g")
    with (
        serving(LiveReloadMiddleware(wsgi(PAGE), hub)) as port,
        sse(port) as first,
        sse(port) as second,
    ):
        first.next_message()
        second.next_message()
        wait_for(lambda: hub.client_count == 2)
        assert hub.notify("reload", ["a.html"]) == 2
        assert b"event: reload" in first.next_message()
        assert b"event: reload" in second.next_message()
        hub.close_all()


def test_heartbeat_comments_keep_the_stream_alive() -> None:
    hub = LiveReloadHub("g", heartbeat=0.05)
    with serving(LiveReloadMiddleware(wsgi(PAGE), hub)) as port, sse(port) as reader:
        reader.next_message()
        assert reader.next_message() == b": ping"
        hub.close_all()


def test_a_browser_that_goes_away_is_forgotten() -> None:
    hub = LiveReloadHub("g", heartbeat=0.05)
    with serving(LiveReloadMiddleware(wsgi(PAGE), hub)) as port:
        with sse(port) as reader:
            reader.next_message()
            wait_for(lambda: hub.client_count == 1)
        # The next heartbeat hits the closed socket and the stream's thread ends.
        wait_for(lambda: hub.client_count == 0)


def test_pages_keep_being_served_while_streams_are_open() -> None:
    hub = LiveReloadHub("g")
    with serving(LiveReloadMiddleware(wsgi(PAGE), hub)) as port, sse(port) as reader:
        reader.next_message()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", "/")
            page = conn.getresponse().read()
        finally:
            conn.close()
        assert b"livereload.js?g=g" in page
        hub.close_all()


# --- end to end: the real `webkit run` in a subprocess -----------------------------------

E2E_APP = """\
from flask import Flask, jsonify, render_template

app = Flask(__name__)
VERSION = "v1"


@app.get("/")
def index():
    return render_template("index.html", version=VERSION)


@app.get("/api")
def api():
    return jsonify(items=[1, 2], html="</body>")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return build_file_tree(
        tmp_path / "site",
        {
            "app.py": E2E_APP,
            "templates/index.html": (
                '<!doctype html><html><head><link rel="stylesheet" href="/static/site.css">'
                "</head><body><h1>first {{ version }}</h1></body></html>"
            ),
            "static/site.css": "h1 { color: black }\n",
        },
    )


def save(path: Path, text: str) -> None:
    """Write like an editor: the new content appears at once."""
    tmp = path.with_name(path.name + ".tmp-save")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


@pytest.mark.slow
def test_webkit_run_injects_the_script_into_html_but_not_json(
    project: Path, serve: Callable[..., Server]
) -> None:
    server = serve(project)
    status, headers, body = server.get("/")
    assert status == 200
    assert '<script src="/__webkit/livereload.js?g=' in body
    assert body.index("livereload.js") < body.index("</body>")
    assert int(headers["content-length"]) == len(body.encode())
    status, headers, body = server.get("/api")
    assert status == 200
    assert "livereload" not in body
    assert json.loads(body) == {"items": [1, 2], "html": "</body>"}
    status, headers, body = server.get(SCRIPT_PATH)
    assert status == 200
    assert headers["content-type"].startswith("text/javascript")
    assert "EventSource" in body


@pytest.mark.slow
def test_webkit_run_without_reload_adds_no_script(
    project: Path, serve: Callable[..., Server]
) -> None:
    server = serve(project, "--no-reload")
    assert "livereload" not in server.get("/")[2]
    assert server.get(SCRIPT_PATH)[0] == 404


@pytest.mark.slow
def test_webkit_run_sends_events_for_template_and_css_changes(
    project: Path, serve: Callable[..., Server]
) -> None:
    server = serve(project)
    with sse(server.port) as reader:
        hello = reader.next_message()
        assert b"event: hello" in hello
        save(
            project / "templates/index.html",
            "<!doctype html><html><body><h1>second {{ version }}</h1></body></html>",
        )
        event = reader.next_message()
        assert event.startswith(b"event: reload\n")
        assert b"index.html" in event
        # Jinja re-read the template: the page has the change, from the same worker.
        assert "second v1" in server.get("/")[2]
        save(project / "static/site.css", "h1 { color: red }\n")
        event = reader.next_message()
        assert event.startswith(b"event: css\n")
        assert b"site.css" in event


@pytest.mark.slow
def test_webkit_run_swaps_a_stylesheet_built_into_the_static_folder(
    project: Path, serve: Callable[..., Server]
) -> None:
    """webpack writes cookiecutter-flask's bundle to ``static/build/`` (Vite and Tailwind
    to ``static/dist/``): a save there swaps it like any stylesheet. ``site.css`` after
    it is the marker: its event must come second."""
    for folder in ("build", "dist"):
        build_file_tree(project / "static" / folder, {"main.css": "h1 {}\n"})
    server = serve(project)
    with sse(server.port) as reader:
        assert b"event: hello" in reader.next_message()
        for folder in ("build", "dist"):
            save(project / "static" / folder / "main.css", "h1 { color: red }\n")
            event = reader.next_message()
            assert event.startswith(b"event: css\n") and f"{folder}/main.css".encode() in event
        save(project / "static/site.css", "h1 { color: red }\n")
        event = reader.next_message()
        assert event.startswith(b"event: css\n") and b"site.css" in event


@pytest.mark.slow
def test_webkit_run_py_change_moves_the_page_to_a_new_generation(
    project: Path, serve: Callable[..., Server]
) -> None:
    server = serve(project)
    with sse(server.port) as reader:
        first = json.loads(reader.next_message().split(b"data: ", 1)[1])["generation"]
        save(project / "app.py", E2E_APP.replace('"v1"', '"v2"'))
        # The old worker ends the stream (after a last reload event, possibly).
        while reader.next_message():
            pass
    with sse(server.port) as reader:
        second = json.loads(reader.next_message().split(b"data: ", 1)[1])["generation"]
    assert second != first
    body = server.get("/")[2]
    assert "first v2" in body
    assert f"livereload.js?g={second}" in body


def test_html_file_sent_as_is_is_not_touched(tmp_path: Path) -> None:
    from flask import Flask, send_file

    page = tmp_path / "page.html"
    page.write_bytes(PAGE)
    app = Flask("files")

    @app.get("/page")
    def serve_page() -> Any:
        return send_file(page)

    response = client_for(app).get("/page")
    try:
        assert response.data == PAGE
        assert response.headers["Content-Length"] == str(len(PAGE))
    finally:
        response.close()
