"""What a worker serves: the user's app wrapped for development, and the request handler.

:func:`build_app` composes, outermost first::

    ErrorRoutes          /__webkit/error/ID (a kept traceback page), /__webkit/retry/ID
    AccessCapture        status, body size, static flag, exception -> environ["webkit.capture"];
                         a 5xx with an exception is kept (errorstore.py) and linked by a header
    HostCheck            403 for a Host that does not name this server (DNS rebinding, hosts.py)
    LiveReloadMiddleware /__webkit/livereload.js, /__webkit/events, <script> in HTML pages
    EditorOpen           /__webkit/open (only with a command editor: vim, emacs; editor.py)
    ExceptionCatcher     an exception escaping the app -> the traceback page (500)
    DebuggedApplication  only with --debug: werkzeug's interactive debugger
    the user's app       or, when it failed to load, the error app (500 on every request)

:func:`make_request_handler` returns the werkzeug request handler class that writes one
``webkit.access`` line per request once the response is complete (so the duration and
size are the real ones), instead of werkzeug's own line.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import secrets
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

from werkzeug.serving import WSGIRequestHandler

from webkit_cli.server.accesslog import AccessEntry, configure_access_logger, log_entry
from webkit_cli.server.editor import EditorOpen, editor_kind, editor_setting
from webkit_cli.server.errorpage import (
    REQUEST_TITLE,
    error_app,
    error_response,
    stored_page,
    summary_line,
)
from webkit_cli.server.errorstore import (
    ERROR_HEADER,
    ERROR_PREFIX,
    REPLAY_KEY,
    SUMMARY_HEADER,
    ErrorRoutes,
    ErrorStore,
)
from webkit_cli.server.hosts import HostCheck, HostPolicy
from webkit_cli.server.livereload import PREFIX, LiveReloadHub, LiveReloadMiddleware
from webkit_cli.server.sqlstats import CURRENT as SQL_CURRENT
from webkit_cli.server.sqlstats import QueryStats
from webkit_cli.server.sqlstats import install as install_sql_stats

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from rich.console import Console

    from webkit_cli.server.config import ServerConfig

CAPTURE_KEY: Final = "webkit.capture"
DEFAULT_STATIC_PREFIXES: Final = ("/static/", "/favicon.ico")


class Capture:
    """What the handler needs to know about one response, filled in by the middleware."""

    __slots__ = ("body", "end", "error_id", "exc", "size", "sql", "static")

    def __init__(self, static: bool) -> None:
        self.size: int | None = None
        self.exc: BaseException | None = None
        self.static = static
        #: the request's SQL queries, when the app uses SQLAlchemy (sqlstats.py)
        self.sql: QueryStats | None = None
        #: the request body, read before the app ran (the error page and retry need it)
        self.body: bytes | None = None
        #: the id a failed request is stored under (errorstore.py)
        self.error_id: str | None = None
        #: perf_counter() when a streamed body ended (sized bodies end with their headers)
        self.end = 0.0


class _Counted:
    """A streamed body (no Content-Length) whose bytes are counted as they are sent."""

    __slots__ = ("_capture", "_result")

    def __init__(self, result: Iterable[bytes], capture: Capture) -> None:
        self._result = result
        self._capture = capture

    def __iter__(self) -> Iterator[bytes]:
        total = 0
        try:
            for chunk in self._result:
                total += len(chunk)
                yield chunk
        finally:
            self._capture.size = total
            self._capture.end = time.perf_counter()

    def close(self) -> None:
        close = getattr(self._result, "close", None)
        if close is not None:
            close()


class AccessCapture:
    """Outermost layer: records what the access log line needs, at almost no cost."""

    def __init__(
        self,
        app: WSGIApplication,
        static_prefixes: tuple[str, ...],
        *,
        sql: bool = False,
        store: ErrorStore | None = None,
        root: str | None = None,
    ) -> None:
        self.app = app
        self.static_prefixes = static_prefixes
        self.sql = sql
        self.store = store
        self.root = root

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        capture = Capture(environ.get("PATH_INFO", "").startswith(self.static_prefixes))
        environ[CAPTURE_KEY] = capture
        if self.sql:
            # Set on every request: the server's threads are pooled and keep their context.
            capture.sql = QueryStats()
            SQL_CURRENT.set(capture.sql)
        store = self.store
        if store is not None:
            capture.body = _buffer_body(environ)

        def record(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if store is not None and status.startswith("5") and capture.exc is not None:
                headers = [*headers, *self._keep(store, capture, environ)]
            # Content-Length is usually among the first headers; stop as soon as it is seen.
            for key, value in headers:
                if key == "Content-Length" or key.lower() == "content-length":
                    capture.size = int(value) if value.isdigit() else None
                    break
            else:
                capture.size = None
            return start_response(status, headers, exc_info)

        result = self.app(environ, record)
        if capture.size is None:
            return _Counted(result, capture)
        return result

    def _keep(
        self, store: ErrorStore, capture: Capture, environ: WSGIEnvironment
    ) -> list[tuple[str, str]]:
        """Store the failed request and its traceback page; the headers that link them."""
        assert capture.exc is not None
        entry_id = capture.error_id or store.new_id()
        capture.error_id = entry_id
        page, csp = stored_page(
            capture.exc, environ, capture.body, root=self.root, entry_id=entry_id
        )
        store.put("page", entry_id, json.dumps({"html": page, "csp": csp}).encode())
        store.put_request(entry_id, environ, capture.body)
        return [
            (ERROR_HEADER, ERROR_PREFIX + entry_id),
            (SUMMARY_HEADER, summary_line(capture.exc)),
        ]


class ExceptionCatcher:
    """Turns an exception escaping the app into the traceback page, and records it.

    Flask only lets exceptions escape when ``PROPAGATE_EXCEPTIONS`` is on (debug or
    testing mode) and plain WSGI apps always do; werkzeug would answer a bare 500 and
    log its own traceback, which would repeat the one the access log prints.
    """

    def __init__(self, app: WSGIApplication, root: str | None = None) -> None:
        self.app = app
        self.root = root

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        called = False
        capture: Capture | None = environ.get(CAPTURE_KEY)
        body = capture.body if capture is not None else None

        def tracked(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal called
            called = True
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, tracked)
        except Exception as exc:
            retry_id = None
            if capture is not None:
                capture.exc = exc
                # The id the outer layer stores this request under, for the retry button.
                retry_id = capture.error_id = capture.error_id or secrets.token_urlsafe(18)
            return error_response(
                environ,
                start_response,
                exc,
                title=REQUEST_TITLE,
                hint="The traceback is also in the terminal running webkit.",
                # exc_info tells the server to replace headers the app already set; when
                # there are none, some servers (werkzeug's test client) would re-raise it.
                exc_info=sys.exc_info() if called else None,
                root=self.root,
                body=body,
                retry_id=retry_id,
            )


#: The largest request body kept for the error page's summary (read before the app runs).
BODY_LIMIT: Final = 1 << 20


def _buffer_body(environ: WSGIEnvironment) -> bytes | None:
    """The request body, read into memory and put back as a fresh stream, when small.

    The app consumes ``wsgi.input``; the error page summarises the body after it failed.
    A streamed (chunked) or large body is left alone and not summarised.
    """
    length = str(environ.get("CONTENT_LENGTH") or "")
    if not length.isdigit() or not 0 < int(length) <= BODY_LIMIT:
        return None
    body: bytes = environ["wsgi.input"].read(int(length))
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _record_flask_exception(sender: Any, exception: BaseException, **extra: Any) -> None:
    """Flask's ``got_request_exception``: remember the exception for the access log.

    A signal (rather than ``PROPAGATE_EXCEPTIONS``) leaves Flask's error handling as the
    user wrote it: their 500 handler still renders the page.
    """
    from flask import request

    capture: Capture | None = request.environ.get(CAPTURE_KEY)
    if capture is not None:
        capture.exc = exception


class _DropFlaskDuplicate(logging.Filter):
    """Hides Flask's "Exception on /x [GET]" when webkit prints that traceback itself.

    Only on Flask's ``default_handler`` (used when the app configured no logging), so a
    handler the user added (a file, Sentry) still receives the record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.exc_info[1] is None:
            return True
        from flask import has_request_context, request

        if not has_request_context():
            return True
        capture: Capture | None = request.environ.get(CAPTURE_KEY)
        return capture is None or capture.exc is not record.exc_info[1]


_DUPLICATE_FILTER: Final = _DropFlaskDuplicate()


def _static_prefixes(app: Any) -> tuple[str, ...]:
    """URL prefixes of static files (dimmed in the log): the app's and its blueprints'."""
    prefixes = list(DEFAULT_STATIC_PREFIXES)
    url_path = getattr(app, "static_url_path", None)
    if isinstance(url_path, str) and url_path:
        prefixes.append(url_path.rstrip("/") + "/")
    for blueprint in getattr(app, "blueprints", {}).values():
        bp_path = getattr(blueprint, "static_url_path", None)
        if getattr(blueprint, "has_static_folder", False) and isinstance(bp_path, str):
            url_prefix = getattr(blueprint, "url_prefix", None) or ""
            prefixes.append(f"{url_prefix.rstrip('/')}{bp_path.rstrip('/')}/")
    return tuple(dict.fromkeys(prefixes))


def _hook_flask(app: Any) -> None:
    """Capture the exceptions of a Flask app without changing how it handles them."""
    try:
        from flask import Flask, got_request_exception
        from flask.logging import default_handler
    except ImportError:  # a plain WSGI app in an environment without Flask
        return
    if isinstance(app, Flask):
        if importlib.util.find_spec("blinker") is not None:
            got_request_exception.connect(_record_flask_exception, app, weak=False)
        else:
            # Flask < 2.3 makes blinker optional and its signals raise without it; wrap the
            # method that sends got_request_exception instead, on this app only.
            handle_exception = app.handle_exception

            def _handle_exception(e: Exception) -> Any:
                _record_flask_exception(app, exception=e)
                return handle_exception(e)

            app.handle_exception = _handle_exception  # type: ignore[method-assign]
        if _DUPLICATE_FILTER not in default_handler.filters:
            default_handler.addFilter(_DUPLICATE_FILTER)


def build_app(
    app: WSGIApplication | None,
    *,
    config: ServerConfig,
    hub: LiveReloadHub | None,
    error: BaseException | None,
) -> WSGIApplication:
    """The WSGI app a worker serves (see the module docstring for the layers).

    ``error`` (the user's import or factory exception) wins over ``app``: every request
    then gets the 500 page, which recovers by itself through live reload.
    """
    inner: WSGIApplication
    sql = False
    if error is not None or app is None:
        if error is None:
            error = RuntimeError("No application was loaded.")
        inner = error_app(
            error, reload=config.reload, live_reload=hub is not None, root=config.project_dir
        )
        prefixes: tuple[str, ...] = DEFAULT_STATIC_PREFIXES
    else:
        _hook_flask(app)
        prefixes = _static_prefixes(app)
        sql = install_sql_stats(config.project_dir)
        inner = app
        if config.debug:
            from werkzeug.debug import DebuggedApplication

            debugged = DebuggedApplication(inner, evalex=True)
            # The debugger's console trusts only loopback names; --allowed-host names too.
            # (Werkzeug < 3.0.3 has no such list: its console trusts any Host, and webkit's
            # own Host check in front of it is the only guard.)
            trusted = getattr(debugged, "trusted_hosts", None)
            if trusted is not None:
                trusted.extend(h for h in config.allowed_hosts if h != "*")
            inner = debugged
        inner = ExceptionCatcher(inner, config.project_dir)
    if editor_kind(editor_setting()) == "command":
        inner = EditorOpen(inner, config.project_dir or Path.cwd())
    if hub is not None and config.live_reload:
        inner = LiveReloadMiddleware(inner, hub)
    policy = HostPolicy(config.host, config.allowed_hosts)
    if not policy.any:
        inner = HostCheck(inner, policy)
    store = ErrorStore(config.cache_dir)
    outer = AccessCapture(inner, prefixes, sql=sql, store=store, root=config.project_dir)
    # Outside the request log's layer, so a replayed request is logged as itself; its own
    # URLs get the same Host check.
    return ErrorRoutes(outer, store, guard=None if policy.any else policy)


def debugger_pin(app: WSGIApplication) -> str | None:
    """The PIN of the interactive debugger inside an app from :func:`build_app`, if any."""
    from werkzeug.debug import DebuggedApplication

    layer: Any = app
    while layer is not None:
        if isinstance(layer, DebuggedApplication):
            return layer.pin
        layer = getattr(layer, "app", None)
    return None


class AccessLogRequestHandler(WSGIRequestHandler):
    """werkzeug's handler, writing one ``webkit.access`` line per request.

    A sized response is logged when its headers go out (Flask has built the whole body
    by then; sending it takes microseconds), so a client that sees the response also
    finds its line, in request order. A streamed one is logged when its body ends.
    Logging after ``run_wsgi`` would be late: werkzeug then waits up to 10 ms for the
    client to close the connection.
    """

    access_logger: ClassVar[logging.Logger] = logging.getLogger("webkit.access")
    #: False with --no-access-log: only failed requests (their tracebacks) are reported.
    access_lines: ClassVar[bool] = True

    _webkit_start = 0.0
    _webkit_status = 0
    _webkit_in_wsgi = False
    _webkit_logged = False

    def run_wsgi(self) -> None:
        self._webkit_start = time.perf_counter()
        self._webkit_status = 0
        self._webkit_logged = False
        self._webkit_in_wsgi = True
        try:
            super().run_wsgi()
        finally:
            self._webkit_in_wsgi = False
            if not self._webkit_logged:
                self._webkit_log(time.perf_counter())

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Called by ``send_response`` as the headers go out (instead of werkzeug's line)."""
        try:
            self._webkit_status = int(code)
        except (TypeError, ValueError):
            self._webkit_status = 0
        if self._webkit_in_wsgi:
            capture: Capture | None = self.environ.get(CAPTURE_KEY)
            if capture is not None and capture.size is not None:
                self._webkit_logged = True
                self._webkit_log(time.perf_counter())
        elif self.access_lines:
            # A request rejected before reaching the app (a malformed request line).
            path = getattr(self, "path", None) or self.requestline
            entry = AccessEntry(
                time=time.time(),
                method=getattr(self, "command", None) or "-",
                path=path,
                query="",
                status=self._webkit_status,
                duration_ms=0.0,
                size=None,
                remote_addr=self.client_address[0] if self.client_address else "",
            )
            log_entry(self.access_logger, entry)

    def _webkit_log(self, end: float) -> None:
        environ = getattr(self, "environ", None)
        if environ is None:
            return
        environ = environ.get(REPLAY_KEY, environ)
        path: str = environ["PATH_INFO"]
        if path.startswith(PREFIX):
            return  # webkit's own live-reload URLs are noise in the user's log
        capture: Capture | None = environ.get(CAPTURE_KEY)
        if not self.access_lines and (capture is None or capture.exc is None):
            return
        if capture is not None and capture.end:
            end = capture.end  # a streamed body: when its last chunk was produced
        if not path.isascii():
            # WSGI strings are bytes in latin-1 clothing; show the characters requested.
            path = path.encode("latin-1").decode("utf-8", "replace")
        entry = AccessEntry(
            time=time.time(),
            method=environ["REQUEST_METHOD"],
            path=path,
            query=environ["QUERY_STRING"],
            status=self._webkit_status,
            duration_ms=(end - self._webkit_start) * 1000.0,
            size=None if capture is None else capture.size,
            static=False if capture is None else capture.static,
            remote_addr=environ["REMOTE_ADDR"],
            exc=None if capture is None else capture.exc,
        )
        sql = None if capture is None else capture.sql
        if sql is not None:
            entry.queries = sql.count
            entry.query_ms = sql.ms
            entry.hints = tuple(sql.hints())
        log_entry(self.access_logger, entry)


def make_request_handler(
    config: ServerConfig,
    *,
    console: Console | None = None,
    stream: Any = None,
) -> type[WSGIRequestHandler]:
    """The handler class for werkzeug's server, logging as ``config`` says.

    Lines go to ``stream``, else ``console.file``, else stdout. With ``--no-access-log``
    the tracebacks of failed requests are still written.
    """
    logger = configure_access_logger(
        config.log_format, console=console, stream=stream, lines=config.access_log
    )

    class Handler(AccessLogRequestHandler):
        access_logger = logger
        access_lines = config.access_log

    return Handler
