"""Live reload in the browser: an SSE hub in the worker and a WSGI middleware.

The middleware serves two same-origin URLs and adds one tag to HTML pages:

- ``/__webkit/livereload.js``: the client script (``static/livereload.js``, package data);
- ``/__webkit/events``: a Server-Sent Events stream fed by :class:`LiveReloadHub`;
- ``<script src="/__webkit/livereload.js?g=GEN&amp;v=N" defer></script>`` before ``</body>`` of
  ``text/html`` responses. No inline script, so a strict ``script-src 'self'`` /
  ``connect-src 'self'`` Content-Security-Policy holds; when the page's CSP uses a
  nonce, the tag carries it.

Protocol of the stream (``event:`` name, JSON ``data:``)::

    hello   {"generation": "...", "version": N}   first message of every stream
    reload  {"paths": [...], "version": N}        a template or static file changed: reload
    css     {"paths": [...], "version": N}        a stylesheet changed: swap it in place
    : ping                               heartbeat comment every 15 s

The generation names the worker. A ``.py`` change replaces the worker: the old one
closes its streams (:meth:`LiveReloadHub.close_all`), the script reconnects, meets the
new generation and reloads; the new worker has therefore answered before the page
asks for itself again, and the socket is kept by the supervisor, so the browser never
shows "unable to connect".

The version counts the worker's page events. A page carries the version its request began
at; a stream's hello says the current one. An event sent while the page was between two
loads reaches no stream (an editor's atomic save can be two batches: its temporary file,
then the rename, the first reloading the page before the second lands), so a page whose
hello names a later version reloads.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import re
import threading
import time
from collections.abc import Iterable, Iterator
from importlib import resources
from typing import TYPE_CHECKING, Any, Final, Literal

from werkzeug.wsgi import FileWrapper

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

PREFIX: Final = "/__webkit/"
SCRIPT_PATH: Final = "/__webkit/livereload.js"
EVENTS_PATH: Final = "/__webkit/events"
#: Seen in a body, this means the page already carries the script (or is our error page).
MARKER: Final = f'src="{SCRIPT_PATH}'.encode()
#: Pages larger than this are passed through untouched rather than buffered.
MAX_INJECT_SIZE: Final = 8 * 1024 * 1024
HEARTBEAT_SECONDS: Final = 15.0

Kind = Literal["reload", "css"]
_KINDS: Final = ("reload", "css")

_NONCE = re.compile(r"'nonce-([A-Za-z0-9+/=_-]+)'")


@functools.cache
def script_source() -> bytes:
    """The client script, read once from the package data (it ships inside the wheel)."""
    return resources.files("webkit_cli.server").joinpath("static/livereload.js").read_bytes()


def sse_message(event: str, data: Any) -> bytes:
    """One SSE message; ``data`` is JSON, which never contains a raw newline."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class LiveReloadHub:
    """Fans change events out to the open ``/__webkit/events`` streams of one worker.

    Each stream runs in its own server thread and blocks on its own queue, so
    :meth:`notify` never waits for a slow browser.
    """

    def __init__(self, generation: str | None = None, *, heartbeat: float = HEARTBEAT_SECONDS):
        self.generation = generation or f"{os.getpid()}-{time.time_ns():x}"
        self.heartbeat = heartbeat
        self._lock = threading.Lock()
        self._queues: set[queue.SimpleQueue[bytes | None]] = set()
        self._closed = False
        self._version = 0

    @property
    def version(self) -> int:
        """How many page events this hub has sent (what a page rendered now has seen)."""
        with self._lock:
            return self._version

    @property
    def client_count(self) -> int:
        """How many event streams are open right now."""
        with self._lock:
            return len(self._queues)

    def notify(self, kind: Kind, paths: Iterable[str]) -> int:
        """Send a ``reload`` or ``css`` event to every open stream; returns how many got it."""
        if kind not in _KINDS:
            raise ValueError(f"Unknown live-reload event {kind!r}: use 'reload' or 'css'.")
        with self._lock:
            self._version += 1
            message = sse_message(
                kind, {"paths": [str(p) for p in paths], "version": self._version}
            )
            targets = list(self._queues)
        for q in targets:
            q.put(message)
        return len(targets)

    def close_all(self) -> None:
        """End every stream now and every later one at once (the worker is draining)."""
        with self._lock:
            self._closed = True
            targets = list(self._queues)
        for q in targets:
            q.put(None)

    def stream(self) -> Iterator[bytes]:
        """The body of one event stream: ``hello``, then events and heartbeats until closed."""
        # Registered before the first yield, so no event sent after the request arrived is lost.
        q: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        with self._lock:
            closed = self._closed
            version = self._version  # with the registration: a later event is queued
            if not closed:
                self._queues.add(q)
        return self._iterate(q, closed, version)

    def _iterate(
        self, q: queue.SimpleQueue[bytes | None], closed: bool, version: int
    ) -> Iterator[bytes]:
        # A draining worker answers with an empty stream: the script retries and reaches
        # the new worker; sending our (old) generation would only delay that.
        if closed:
            yield b": closing\n\n"
            return
        try:
            # retry: the browser's own reconnect delay, should the script's handler not run.
            hello = {"generation": self.generation, "version": version}
            yield b"retry: 200\n" + sse_message("hello", hello)
            while True:
                try:
                    message = q.get(timeout=self.heartbeat)
                except queue.Empty:
                    # Keeps proxies from timing the stream out, and finds closed tabs:
                    # writing to a dead socket ends this thread.
                    yield b": ping\n\n"
                    continue
                if message is None:
                    return
                yield message
        finally:
            with self._lock:
                self._queues.discard(q)


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _csp_nonce(headers: list[tuple[str, str]]) -> str | None:
    """The nonce the page's CSP allows scripts with, if it uses one."""
    for key, value in headers:
        if key.lower() == "content-security-policy":
            for directive in value.split(";"):
                name = directive.strip().split(" ", 1)[0].lower()
                if name in ("script-src-elem", "script-src", "default-src"):
                    match = _NONCE.search(directive)
                    if match:
                        return match.group(1)
    return None


def should_inject(environ: WSGIEnvironment, status: str, headers: list[tuple[str, str]]) -> bool:
    """Whether a response is a whole HTML document we can safely rewrite."""
    if environ.get("REQUEST_METHOD") == "HEAD":
        return False
    code = status[:3]
    if code[0] == "1" or code in ("204", "304"):
        return False
    content_type = _header(headers, "content-type")
    if content_type is None or not content_type.lower().startswith("text/html"):
        return False
    if "utf-16" in content_type.lower() or "utf-32" in content_type.lower():
        return False
    encoding = _header(headers, "content-encoding")
    if encoding is not None and encoding.strip().lower() not in ("", "identity"):
        return False
    disposition = _header(headers, "content-disposition")
    if disposition is not None and disposition.lower().startswith("attachment"):
        return False
    # No Content-Length means a streamed body: buffering it would hold the stream back.
    length = _header(headers, "content-length")
    if length is None:
        return False
    try:
        return 0 < int(length) <= MAX_INJECT_SIZE
    except ValueError:
        return False


def script_tag(generation: str, nonce: str | None = None, version: int | None = None) -> bytes:
    """The tag added to pages; ``g`` lets the script notice a worker change since the page,
    ``v`` a page event it could not hear (see the module's docstring)."""
    from urllib.parse import quote

    nonce_attr = f' nonce="{nonce}"' if nonce else ""
    query = f"g={quote(generation)}" + (f"&amp;v={version}" if version is not None else "")
    return f'<script src="{SCRIPT_PATH}?{query}"{nonce_attr} defer></script>'.encode()


def inject(body: bytes, tag: bytes) -> bytes:
    """``body`` with ``tag`` before the last ``</body>`` (appended when there is none)."""
    if MARKER in body:
        return body
    # Only the tail is searched: </body> is near the end, and lower() copies.
    tail_start = max(0, len(body) - 4096)
    index = body[tail_start:].lower().rfind(b"</body>")
    if index < 0:
        index = body.lower().rfind(b"</body>") if tail_start else -1
    else:
        index += tail_start
    if index < 0:
        return body + tag
    return body[:index] + tag + body[index:]


def _close(result: Iterable[bytes]) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


class _Resumed:
    """A body whose first chunk was already taken, passed on with the rest (and close())."""

    __slots__ = ("_first", "_rest", "_result")

    def __init__(self, first: bytes | None, rest: Iterator[bytes], result: Iterable[bytes]):
        self._first = first
        self._rest = rest
        self._result = result

    def __iter__(self) -> Iterator[bytes]:
        if self._first is not None:
            yield self._first
        yield from self._rest

    def close(self) -> None:
        _close(self._result)


class _Buffered:
    """Status and headers held back while an HTML body is collected."""

    __slots__ = ("chunks", "headers", "inject", "status")

    def __init__(self, status: str, headers: list[tuple[str, str]], inject: bool) -> None:
        self.status = status
        self.headers = headers
        self.inject = inject
        self.chunks: list[bytes] = []


class LiveReloadMiddleware:
    """Serves ``/__webkit/*`` and adds the live-reload tag to HTML pages of ``app``."""

    def __init__(self, app: WSGIApplication, hub: LiveReloadHub) -> None:
        self.app = app
        self.hub = hub

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if path.startswith(PREFIX):
            return self._own(path, environ, start_response)
        return self._wrap(environ, start_response)

    def _own(
        self, path: str, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if path == SCRIPT_PATH:
            body = script_source()
            start_response(
                "200 OK",
                [
                    ("Content-Type", "text/javascript; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store"),
                    ("X-Content-Type-Options", "nosniff"),
                ],
            )
            return [body] if environ.get("REQUEST_METHOD") != "HEAD" else []
        if path == EVENTS_PATH:
            start_response(
                "200 OK",
                [
                    ("Content-Type", "text/event-stream; charset=utf-8"),
                    ("Cache-Control", "no-store"),
                    ("X-Accel-Buffering", "no"),
                ],
            )
            return self.hub.stream()
        body = b"Not Found: webkit's own URLs are /__webkit/livereload.js and /__webkit/events.\n"
        start_response(
            "404 Not Found",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    def _wrap(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        held: list[_Buffered] = []
        started = False
        # Before the app renders: an event from here on finds this page stale, not current.
        version = self.hub.version

        def write(data: bytes) -> None:
            held[0].chunks.append(data)

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal started
            if held:
                # An error response replaces the page we were holding back; nothing was sent
                # yet, so it is simply held instead (and injected if it is HTML too).
                held[0] = _Buffered(status, headers, should_inject(environ, status, headers))
                return write
            if not started and should_inject(environ, status, headers):
                started = True
                held.append(_Buffered(status, headers, True))
                return write
            started = True
            return start_response(status, headers, exc_info)

        result = self.app(environ, capture)
        rest: Iterator[bytes] | None = None
        if not started:
            # A generator app (werkzeug's debugger is one) calls start_response on its first
            # step. The server takes that step before sending anything; take it here instead.
            rest = iter(result)
            try:
                first = next(rest, None)
            except BaseException:
                _close(result)
                raise
            if not held:
                return _Resumed(first, rest, result)
            if first is not None:
                held[0].chunks.append(first)
        if not held:
            return result
        if isinstance(result, FileWrapper) and not held[0].chunks:
            # A file sent as is (Flask's send_file, direct_passthrough): served untouched, like
            # any stream, so a static .html file keeps its exact bytes, length and ETag.
            start_response(held[0].status, held[0].headers)
            return result
        try:
            for chunk in result if rest is None else rest:
                held[0].chunks.append(chunk)
        finally:
            _close(result)
        buffered = held[0]
        body = b"".join(buffered.chunks)
        if buffered.inject:
            nonce = _csp_nonce(buffered.headers)
            body = inject(body, script_tag(self.hub.generation, nonce, version))
            headers = [
                (key, str(len(body)) if key.lower() == "content-length" else value)
                for key, value in buffered.headers
            ]
        else:
            headers = buffered.headers
        start_response(buffered.status, headers)
        return [body]
