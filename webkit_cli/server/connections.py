"""The worker's HTTP front: accept, read each request head, serve it from a bounded pool.

werkzeug's threaded server starts a thread per connection, and that thread blocks reading
the request: 12,000 held partial requests were 12,000 threads, and when 4,000 closed at
once the runnable threads starved the worker for minutes. Here the worker's main thread
owns every connection until its request head (request line and headers) has arrived,
reading with non-blocking ``recv`` from one selector; only a complete head is handed to
one of at most :attr:`Limits.threads` threads, which runs werkzeug's request handler on
it (its parsing, WSGI environ and the access log are unchanged). So:

- a client that sends its head slowly costs a selector entry and a small buffer, never a
  thread, and is cut :attr:`Limits.head_timeout` seconds after it connected (408);
- at most :func:`connection_limit` connections are open (it follows ``RLIMIT_NOFILE`` and
  leaves room for the app's own files); a new one beyond that takes the place of the one
  that has waited longest for its head, so slow clients cannot lock anybody out;
- at most :attr:`Limits.queued` complete heads wait for a thread: beyond, ``503`` at once;
- when ``accept`` fails for lack of descriptors (``EMFILE``: the app holds some, or
  ``ulimit -n`` is low), the oldest waiting head gives its descriptor to the new client
  and the connection limit drops to what fits; with no head to drop, a reserve descriptor
  is released to answer the client ``503``; if even that fails the listening socket is
  left alone for a moment, instead of the loop spinning on a socket that stays readable.

werkzeug answers every request with ``Connection: close``, so there are no idle keep-alive
connections to time out: a connection's only idle time is before its head, bounded above.
A request body and a response are read and written by the request's thread, each
``recv``/``send`` bounded by :attr:`Limits.io_timeout`.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import re
import selectors
import socket
import ssl
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

#: accept() errors that mean "out of descriptors or memory": back off, do not spin
_EXHAUSTED: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
#: "METHOD TARGET HTTP/x.y": a request line after which headers follow
_HTTP1_LINE: Final = re.compile(rb"\s*\S+\s+\S+\s+HTTP/\d\.\d\s*")
#: the most connections held open, whatever the descriptor limit
MAX_CONNECTIONS: Final = 4096
#: seconds a just-accepted connection gets to send its request line during a drain
IDLE_WINDOW: Final = 0.25
#: seconds between two "refused" notes on stderr
_REPORT_EVERY: Final = 5.0


@dataclass(frozen=True)
class Limits:
    """The bounds of one worker's front (the defaults suit a development server)."""

    #: threads running requests; an open live-reload event stream holds one
    threads: int = 64
    #: complete heads waiting for a thread before new ones get 503
    queued: int = 256
    #: seconds from connecting to the end of the request head
    head_timeout: float = 10.0
    #: seconds one recv/send of a body or response may block
    io_timeout: float = 30.0
    #: bytes a request head may take (request line and headers); beyond: 431
    max_head: int = 65536
    #: open connections; ``None``: from RLIMIT_NOFILE (:func:`connection_limit`)
    connections: int | None = None
    #: seconds a refused connection is kept to read what its client sent (no reset)
    linger: float = 1.0


def connection_limit() -> tuple[int, int]:
    """(connections, spare descriptors) for this process's ``RLIMIT_NOFILE``.

    A quarter of the limit stays free for the app's files, database connections and
    imports (64 at least): with macOS's default of 256, 192 connections.
    """
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        soft = 1024
    if soft < 0 or soft > 1 << 20:  # RLIM_INFINITY
        soft = 1 << 20
    spare = max(64, soft // 4)
    return max(8, min(MAX_CONNECTIONS, soft - spare)), spare


def _simple_response(status: str, body: str, extra: str = "") -> bytes:
    data = body.encode()
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n{extra}\r\n"
    ).encode() + data


BUSY_RESPONSE: Final = _simple_response(
    "503 Service Unavailable",
    "The development server is busy: every request thread is taken. Try again.\n",
    "Retry-After: 1\r\n",
)
TIMEOUT_RESPONSE: Final = _simple_response(
    "408 Request Timeout", "The request head did not arrive in time.\n"
)
TOO_LARGE_RESPONSE: Final = _simple_response(
    "431 Request Header Fields Too Large", "The request head is too large.\n"
)


class Connection:
    """One accepted connection, owned by the main loop until its head is complete."""

    __slots__ = ("address", "buffer", "deadline", "handshaken", "line_seen", "sock")

    def __init__(self, sock: socket.socket, address: Any, deadline: float) -> None:
        self.sock = sock
        self.address = address
        self.buffer = bytearray()
        self.deadline = deadline
        self.line_seen = False
        #: False until a TLS connection's handshake is done (always True without TLS)
        self.handshaken = not isinstance(sock, ssl.SSLSocket)

    def add(self, data: bytes) -> bool:
        """Append received bytes; ``True`` once the head is complete (or cannot be HTTP/1)."""
        start = max(0, len(self.buffer) - 3)
        self.buffer += data
        buffer = self.buffer
        if not self.line_seen:
            end = buffer.find(b"\n")
            if end < 0:
                return False
            self.line_seen = True
            if not _HTTP1_LINE.fullmatch(buffer, 0, end + 1):
                # No headers follow a malformed or HTTP/0.9 line: let werkzeug answer it.
                return True
        # Only the new bytes (and the three before) can complete the blank line.
        return buffer.find(b"\n\r\n", start) >= 0 or buffer.find(b"\n\n", start) >= 0


class _HeadFirst(io.RawIOBase):
    """The request stream: the head the main loop read, then the socket."""

    def __init__(self, sock: socket.socket, head: bytes) -> None:
        self._sock = sock
        self._head = memoryview(head)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        return self._sock.recv_into(buffer)


class _SocketWriter(io.BufferedIOBase):
    """Unbuffered writes, as ``socketserver`` gives ``StreamRequestHandler`` (wbufsize 0)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.sendall(data)
        with memoryview(data) as view:
            return view.nbytes


def pooled_handler(base: type[WSGIRequestHandler]) -> type[WSGIRequestHandler]:
    """``base`` reading the head the main loop already received, for one request."""

    class PooledHandler(base):  # type: ignore[valid-type,misc]
        def setup(self) -> None:
            conn: Connection = self.request
            self.connection = conn.sock
            self.rfile = io.BufferedReader(_HeadFirst(conn.sock, bytes(conn.buffer)))
            self.wfile = _SocketWriter(conn.sock)

        def handle_one_request(self) -> None:
            super().handle_one_request()
            # One request per connection (werkzeug sends "Connection: close" anyway): the
            # thread never waits for a second head, which only the main loop does.
            self.close_connection = True

    PooledHandler.__name__ = base.__name__
    return PooledHandler


class _Pool:
    """At most ``size`` daemon threads running ``work``; at most ``queued`` items waiting."""

    def __init__(self, size: int, queued: int, work: Callable[[Any], None]) -> None:
        self.size = size
        self.queued = queued
        self._work = work
        self._cond = threading.Condition(threading.Lock())
        self._items: deque[Any] = deque()
        self._threads = 0
        self._idle = 0

    def submit(self, item: Any) -> bool:
        """Queue ``item``; ``False`` when the queue is full (nothing was queued)."""
        with self._cond:
            waiting = len(self._items) - self._idle
            if waiting >= self.queued and self._threads >= self.size:
                return False
            self._items.append(item)
            if waiting >= 0 and self._threads < self.size:
                self._threads += 1
                threading.Thread(target=self._run, name="webkit-request", daemon=True).start()
            else:
                self._cond.notify()
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                self._idle += 1
                while not self._items:
                    self._cond.wait()
                self._idle -= 1
                item = self._items.popleft()
            self._work(item)


def _close(sock: socket.socket, *, abort: bool = False) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR if abort else socket.SHUT_WR)
    with contextlib.suppress(OSError):
        sock.close()


class ConnectionLoop:
    """Accepts on ``server.socket`` and serves each request with ``handler`` (see module)."""

    LISTEN: Final = "listen"
    HEAD: Final = "head"
    LINGER: Final = "linger"
    READER: Final = "reader"

    def __init__(
        self,
        server: BaseWSGIServer,
        handler: type[WSGIRequestHandler],
        limits: Limits | None = None,
    ) -> None:
        self.server = server
        self.handler = pooled_handler(handler)
        self.limits = limits or Limits()
        auto, spare = connection_limit()
        self.max_connections = self.limits.connections or auto
        self.max_lingering = max(8, spare // 2)
        self.listen = server.socket
        #: --https: each accepted connection is wrapped (worker.py sets the context)
        context = getattr(server, "ssl_context", None)
        self.tls: ssl.SSLContext | None = context if isinstance(context, ssl.SSLContext) else None
        # Shared with the other workers: accept() must not block when another took it.
        self.listen.setblocking(False)
        self.selector = selectors.DefaultSelector()
        #: connections still sending their head, oldest first (dicts keep insertion order)
        self.heads: dict[socket.socket, Connection] = {}
        #: refused connections kept a moment so their clients read the answer, not a reset
        self.lingering: dict[socket.socket, float] = {}
        self.pool = _Pool(self.limits.threads, self.limits.queued, self._serve)
        self._busy = 0
        self._busy_cond = threading.Condition(threading.Lock())
        self.accepting = False
        self._listening = False
        self.draining = False
        self._next_deadline = math.inf
        self._backoff = 0.0
        self._backoff_until = 0.0
        self._reserve: int | None = self._open_reserve()
        self._refused = 0
        self._last_report = -math.inf

    # -- wiring ---------------------------------------------------------------------------

    def add_reader(self, sock: socket.socket, callback: Callable[[], None]) -> None:
        """Call ``callback`` when ``sock`` is readable (before any connection of that turn)."""
        self.selector.register(sock, selectors.EVENT_READ, (self.READER, callback))

    def remove_reader(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)

    def set_accepting(self, on: bool) -> None:
        self.accepting = on
        self._watch_listen(on and time.monotonic() >= self._backoff_until)

    def _watch_listen(self, on: bool) -> None:
        if on and not self._listening:
            self.selector.register(self.listen, selectors.EVENT_READ, (self.LISTEN, None))
        elif not on and self._listening:
            self.selector.unregister(self.listen)
        self._listening = on

    @property
    def busy(self) -> int:
        """Requests handed to the pool and not finished."""
        return self._busy

    @property
    def open_connections(self) -> int:
        """Connections sending their head or being served (refused ones linger apart)."""
        return len(self.heads) + self._busy

    # -- the loop -------------------------------------------------------------------------

    def poll(self, timeout: float | None = None) -> None:
        """Wait for one round of events (``None``: until something happens) and handle it."""
        now = time.monotonic()
        wake = self._next_deadline
        if self.accepting and not self._listening:
            wake = min(wake, self._backoff_until)
        if wake != math.inf:
            until = max(0.0, wake - now)
            timeout = until if timeout is None else min(timeout, until)
        # No deadline and no timeout: an idle worker sleeps in the kernel, costing no CPU.
        events = self.selector.select(timeout)
        # Readers (the control channel) first: a "pause" that arrived with a connection wins.
        for key, _ in sorted(events, key=lambda e: e[0].data[0] != self.READER):
            kind, obj = key.data
            if kind == self.READER:
                obj()
            elif kind == self.HEAD:
                self._read_head(obj)
            elif kind == self.LISTEN:
                if self.accepting and self._listening:
                    self._accept()
            elif kind == self.LINGER:
                self._read_lingering(key.fileobj)  # type: ignore[arg-type]
        now = time.monotonic()
        if self.accepting and not self._listening and now >= self._backoff_until:
            self._watch_listen(True)
        if now >= self._next_deadline:
            self._expire(now)

    def _accept(self) -> None:
        # Several per wake-up: a burst of connections costs one select() each batch.
        for _ in range(64):
            try:
                sock, address = self.listen.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _EXHAUSTED:
                    if self._out_of_descriptors():
                        continue
                    return
                continue  # ECONNABORTED and the like: that client is gone already
            self._backoff = 0.0
            self._admit(sock, address)

    def _admit(self, sock: socket.socket, address: Any) -> None:
        if self.open_connections >= self.max_connections:
            if not self.heads:
                self._refuse(sock, BUSY_RESPONSE)
                return
            # Full of heads that are slow to arrive: the one that waited longest goes.
            oldest = next(iter(self.heads.values()))
            self._drop_head(oldest, TIMEOUT_RESPONSE if oldest.buffer else None)
        sock.setblocking(False)
        if self.tls is not None:
            # The handshake runs in the head-reading loop, without blocking it.
            try:
                sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            except (OSError, ValueError):
                _close(sock)
                return
        deadline = time.monotonic() + self.limits.head_timeout
        conn = Connection(sock, address, deadline)
        self.heads[sock] = conn
        self.selector.register(sock, selectors.EVENT_READ, (self.HEAD, conn))
        self._next_deadline = min(self._next_deadline, deadline)

    def _read_head(self, conn: Connection) -> None:
        sock = conn.sock
        if not conn.handshaken:
            assert isinstance(sock, ssl.SSLSocket)
            try:
                sock.do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (OSError, ValueError):
                self._drop_head(conn, None)  # not TLS, or a client that does not trust us
                return
            conn.handshaken = True
        try:
            data = sock.recv(65536)
            # TLS may hold decrypted bytes the selector cannot see: take them now.
            while isinstance(sock, ssl.SSLSocket) and sock.pending():
                data += sock.recv(65536)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop_head(conn, None)
            return
        complete = conn.add(data)
        if complete:
            self._unwatch(conn)
            self._dispatch(conn)
        elif len(conn.buffer) > self.limits.max_head:
            self._drop_head(conn, TOO_LARGE_RESPONSE)

    def _unwatch(self, conn: Connection) -> None:
        self.heads.pop(conn.sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn.sock)

    def _drop_head(self, conn: Connection, response: bytes | None) -> None:
        self._unwatch(conn)
        if response is None:
            _close(conn.sock)
        else:
            self._refuse(conn.sock, response)

    def _dispatch(self, conn: Connection) -> None:
        with self._busy_cond:
            self._busy += 1
        if not self.pool.submit(conn):
            with self._busy_cond:
                self._busy -= 1
            self._refuse(conn.sock, BUSY_RESPONSE)

    def _serve(self, conn: Connection) -> None:
        """In a pool thread: werkzeug's handler for the one request of ``conn``."""
        sock = conn.sock
        try:
            sock.settimeout(self.limits.io_timeout)
            self.handler(conn, conn.address, self.server)  # type: ignore[arg-type]
        except BaseException:  # even SystemExit from a view must not cost the pool a thread
            self.server.handle_error(sock, conn.address)
        finally:
            _close(sock)
            with self._busy_cond:
                self._busy -= 1
                self._busy_cond.notify_all()

    # -- refusing -------------------------------------------------------------------------

    def _refuse(self, sock: socket.socket, response: bytes) -> None:
        """Answer ``response`` and close; keep the socket a moment to read what was sent.

        Closing a socket with unread input sends a reset, which can reach the client before
        it has read the answer.
        """
        if response is BUSY_RESPONSE:
            self._note_refused()
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.send(response)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
        if len(self.lingering) >= self.max_lingering or self.draining:
            self._discard_input(sock)
            _close(sock)
            return
        deadline = time.monotonic() + self.limits.linger
        self.lingering[sock] = deadline
        self.selector.register(sock, selectors.EVENT_READ, (self.LINGER, None))
        self._next_deadline = min(self._next_deadline, deadline)

    @staticmethod
    def _discard_input(sock: socket.socket) -> bool:
        """Read what has arrived; ``True`` at end of file."""
        for _ in range(16):
            try:
                if not sock.recv(65536):
                    return True
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                return True
        return False

    def _read_lingering(self, sock: socket.socket) -> None:
        if self._discard_input(sock):
            self._end_linger(sock)

    def _end_linger(self, sock: socket.socket) -> None:
        self.lingering.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def _out_of_descriptors(self) -> bool:
        """``accept`` hit ``EMFILE``: make room, else refuse with the reserve, else back off.

        Returns ``True`` when a descriptor was freed and ``accept`` may be tried again.
        """
        # The limit is lower than planned (the app holds descriptors, or it was lowered
        # while running): hold no more connections than now, and stop lingering.
        self.max_connections = max(8, min(self.max_connections, self.open_connections))
        self.max_lingering = min(self.max_lingering, 8)
        if self.lingering:
            for lingering in list(self.lingering):
                self._end_linger(lingering)
            return True
        if self.heads:
            # The head that waited longest gives its descriptor to the new client.
            oldest = next(iter(self.heads.values()))
            self._unwatch(oldest)
            if oldest.buffer:
                with contextlib.suppress(OSError):
                    oldest.sock.send(TIMEOUT_RESPONSE)
            self._discard_input(oldest.sock)
            _close(oldest.sock)
            return True
        refused = False
        for _ in range(64):
            if self._reserve is None:
                break
            os.close(self._reserve)
            self._reserve = None
            sock: socket.socket | None
            try:
                sock, _ = self.listen.accept()
            except OSError:
                sock = None
            if sock is not None:
                # No descriptor to linger with: answer, read what came, close.
                self._note_refused()
                sock.setblocking(False)
                with contextlib.suppress(OSError):
                    sock.send(BUSY_RESPONSE)
                    sock.shutdown(socket.SHUT_WR)
                self._discard_input(sock)
                _close(sock)
                refused = True
            self._reserve = self._open_reserve()
            if sock is None:
                break
        if refused and self._reserve is not None:
            return False  # the backlog is empty again; the next client wakes us
        # Not even the reserve helps (another thread took it): stop watching the listening
        # socket, which stays readable, for a moment that doubles up to half a second.
        self._backoff = min(max(self._backoff * 2, 0.01), 0.5)
        self._backoff_until = time.monotonic() + self._backoff
        self._watch_listen(False)
        return False

    @staticmethod
    def _open_reserve() -> int | None:
        try:
            return os.open(os.devnull, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None

    def _note_refused(self) -> None:
        self._refused += 1
        now = time.monotonic()
        if now - self._last_report >= _REPORT_EVERY:
            count, self._refused = self._refused, 0
            self._last_report = now
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(
                    f"webkit run: answered {count} connection(s) 503 Service Unavailable: "
                    f"{self.limits.threads} requests in progress and {self.limits.queued} "
                    "waiting, or no file descriptor left (ulimit -n).\n"
                )
                sys.stderr.flush()

    # -- deadlines ------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        # Both tables are in deadline order (insertion order, one timeout each): only the
        # expired entries are visited, so thousands of slow heads cost no rescans.
        nearest = math.inf
        while self.heads:
            conn = next(iter(self.heads.values()))
            if conn.deadline > now:
                nearest = conn.deadline
                break
            self._drop_head(conn, TIMEOUT_RESPONSE if conn.buffer else None)
        while self.lingering:
            sock, deadline = next(iter(self.lingering.items()))
            if deadline > now:
                nearest = min(nearest, deadline)
                break
            self._end_linger(sock)
        # Wake a little late to cut the heads that expire together in one pass.
        self._next_deadline = nearest + 0.05

    # -- stopping -------------------------------------------------------------------------

    def drain(self, deadline: float) -> bool:
        """Stop accepting, close idle connections, wait for requests; ``True`` if all ended.

        A connection accepted just before the drain may not have sent its head yet (it
        connected before the change was seen): it gets a moment to do so rather than being
        cut, which its client would see as a failed request.
        """
        self.set_accepting(False)
        self.draining = True
        now = time.monotonic()
        window = now + min(IDLE_WINDOW, max(0.0, deadline - now) / 2)
        while self.heads and now < window:
            self.poll(window - now)
            now = time.monotonic()
        for conn in list(self.heads.values()):
            self._unwatch(conn)
            _close(conn.sock, abort=True)
        for sock in list(self.lingering):
            self._end_linger(sock)
        with self._busy_cond:
            while self._busy > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._busy_cond.wait(remaining)
        return True

    def close(self) -> None:
        self.selector.close()
        if self._reserve is not None:
            os.close(self._reserve)
            self._reserve = None
