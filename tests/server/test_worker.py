"""The worker's connection loop, in process: request heads read by one thread, a bounded
pool, head timeouts, 503 when full, back-off when out of descriptors, a clean drain."""

from __future__ import annotations

import errno
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

from webkit_cli.server import connections
from webkit_cli.server.connections import Connection, ConnectionLoop, Limits


class QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class PooledServer(BaseWSGIServer):
    multithread = True


class SlowApp:
    """``/slow`` waits for :attr:`release`; everything else answers at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/slow":
            self.started.release()
            self.release.wait(10)
        body = b"ok"
        if environ["PATH_INFO"] == "/echo":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [body]


class Harness:
    """A :class:`ConnectionLoop` on 127.0.0.1 polled by its own thread, as in a worker."""

    def __init__(self, limits: Limits) -> None:
        self.app = SlowApp()
        listen = socket.socket()
        listen.bind(("127.0.0.1", 0))
        listen.listen(1024)
        self.port = listen.getsockname()[1]
        self.server = PooledServer(
            "127.0.0.1", 0, self.app, handler=QuietHandler, fd=listen.fileno()
        )
        listen.close()  # werkzeug holds its own duplicate
        self.loop = ConnectionLoop(self.server, QuietHandler, limits)
        self._calls: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[Any]]] = (
            queue.SimpleQueue()
        )
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.loop.add_reader(self._wake_r, self._run_calls)
        self._stopped = False
        self.loop.set_accepting(True)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stopped:
            self.loop.poll()

    def _run_calls(self) -> None:
        with_data = True
        while with_data:
            try:
                with_data = bool(self._wake_r.recv(4096))
            except BlockingIOError:
                break
        while True:
            try:
                fn, result = self._calls.get_nowait()
            except queue.Empty:
                return
            result.put(fn())

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in the loop's thread (the loop is not thread-safe) and return its result."""
        result: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._calls.put((fn, result))
        self._wake_w.send(b"x")
        return result.get(timeout=15)

    def close(self) -> None:
        self.app.release.set()

        def stop() -> None:
            self._stopped = True

        self.call(stop)
        self.thread.join(5)
        self.loop.close()
        self.server.socket.close()
        self._wake_r.close()
        self._wake_w.close()

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


@pytest.fixture
def harness() -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(**limits: Any) -> Harness:
        h = Harness(Limits(**limits))
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def request(sock: socket.socket, path: str = "/") -> None:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())


def answer(sock: socket.socket) -> tuple[int, bytes]:
    """(status, body) read to the end of the connection; status 0 when it closed silently."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    if not data:
        return 0, b""
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def get(h: Harness, path: str = "/") -> tuple[int, bytes]:
    with h.connect() as sock:
        request(sock, path)
        return answer(sock)


def pool_threads() -> int:
    return sum(t.name == "webkit-request" for t in threading.enumerate())


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


# -- request heads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunks", "complete"),
    [
        ([b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"], True),
        ([b"GET / HTTP/1.1\r\nHost: x\r\n"], False),
        ([b"GET / HTTP/1.1\r", b"\nHost: x\r\n\r", b"\n"], True),  # split anywhere
        ([b"GET / HTTP/1.0\n\n"], True),  # bare newlines
        ([b"GARBAGE\r\n"], True),  # not HTTP/1: werkzeug answers 400 at once
        ([b"GET / HTTP/1.1"], False),
    ],
)
def test_a_head_is_complete_at_its_blank_line(chunks: list[bytes], complete: bool) -> None:
    conn = Connection(socket.socket(), None, 0.0)
    try:
        results = [conn.add(chunk) for chunk in chunks]
        assert results[-1] is complete
        assert not any(results[:-1])
    finally:
        conn.sock.close()


def test_a_request_is_served_and_the_head_reaches_werkzeug_whole(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    with h.connect() as sock:
        # The head in pieces: the loop holds them until the blank line, werkzeug reads it all.
        for piece in (b"GET /x?a=1 HT", b"TP/1.1\r\nHost: 127.0.0.1\r\n", b"X-A: 1\r\n\r\n"):
            sock.sendall(piece)
            time.sleep(0.02)
        assert answer(sock) == (200, b"ok")


def test_a_body_sent_with_the_head_and_after_it_reaches_the_app(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    with h.connect() as sock:
        head = b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n"
        sock.sendall(head + b"12345")  # part of the body in the head's packet
        time.sleep(0.05)
        sock.sendall(b"67890")  # the rest read by the request's thread
        assert answer(sock) == (200, b"1234567890")


def test_slow_heads_hold_no_thread_and_others_are_served(harness: Callable[..., Harness]) -> None:
    h = harness(threads=4)
    before = pool_threads()
    slow = [h.connect() for _ in range(200)]
    try:
        for sock in slow:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert get(h) == (200, b"ok")
        wait_until(lambda: h.loop.open_connections >= 200)
        assert pool_threads() - before <= 4
    finally:
        for sock in slow:
            sock.close()
    # All 200 closing at once: the next request is still answered.
    assert get(h) == (200, b"ok")
    wait_until(lambda: h.loop.open_connections == 0)


def test_a_head_that_does_not_arrive_in_time_gets_408(harness: Callable[..., Harness]) -> None:
    h = harness(head_timeout=0.2)
    with h.connect() as partial, h.connect() as silent:
        partial.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        status, _ = answer(partial)
        assert status == 408
        # A connection that never sent a byte is closed without an answer.
        assert answer(silent) == (0, b"")


def test_an_oversized_head_gets_431(harness: Callable[..., Harness]) -> None:
    h = harness(max_head=1024)
    with h.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 4000)
        assert answer(sock)[0] == 431


def test_when_threads_and_queue_are_full_a_request_gets_503_at_once(
    harness: Callable[..., Harness], capsys: pytest.CaptureFixture[str]
) -> None:
    h = harness(threads=1, queued=1)
    running, queued = h.connect(), h.connect()
    try:
        request(running, "/slow")
        assert h.app.started.acquire(timeout=10)
        request(queued, "/slow")
        wait_until(lambda: h.loop.busy == 2)
        # Answered while the other two still wait: nothing queues without bound.
        status, body = get(h)
        assert status == 503
        assert b"busy" in body
        # The developer learns why from the terminal (at most one note every few seconds).
        assert "answered 1 connection(s) 503 Service Unavailable" in capsys.readouterr().err
        h.app.release.set()
        assert answer(running) == (200, b"ok")
        assert answer(queued) == (200, b"ok")
    finally:
        running.close()
        queued.close()


def test_at_the_connection_limit_the_oldest_slow_head_makes_room(
    harness: Callable[..., Harness],
) -> None:
    h = harness(connections=4)
    slow = [h.connect() for _ in range(4)]
    try:
        for sock in slow:  # accepted in this order: the backlog is first in, first out
            sock.sendall(b"GET / HTTP/1.1\r\n")
        wait_until(lambda: h.loop.open_connections == 4)
        assert get(h) == (200, b"ok")
        assert answer(slow[0])[0] == 408  # the one that waited longest
        assert h.loop.open_connections <= 4
    finally:
        for sock in slow:
            sock.close()


def test_connection_limit_follows_the_descriptor_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda _: (256, 256))
    assert connections.connection_limit() == (192, 64)
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1_000_000, 1_000_000))
    assert connections.connection_limit()[0] == connections.MAX_CONNECTIONS


class Exhausted:
    """A listening socket whose ``accept`` always fails with EMFILE (counted)."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real
        self.accepts = 0

    def fileno(self) -> int:
        return self.real.fileno()

    def setblocking(self, flag: bool) -> None:
        self.real.setblocking(flag)

    def accept(self) -> tuple[socket.socket, Any]:
        self.accepts += 1
        raise OSError(errno.EMFILE, "Too many open files")


def test_out_of_descriptors_backs_off_instead_of_spinning(harness: Callable[..., Harness]) -> None:
    h = harness()
    exhausted = Exhausted(h.server.socket)

    def swap() -> None:
        h.loop.set_accepting(False)
        h.loop.listen = exhausted  # type: ignore[assignment]
        h.loop.set_accepting(True)

    h.call(swap)
    client = h.connect()  # waits in the backlog: the listening socket stays readable
    try:
        time.sleep(0.5)
        # Without the back-off this is tens of thousands of calls in half a second.
        assert exhausted.accepts < 60

        def restore() -> None:
            h.loop.set_accepting(False)
            h.loop.listen = h.server.socket
            h.loop.set_accepting(True)

        h.call(restore)
        request(client)
        assert answer(client) == (200, b"ok")
    finally:
        client.close()


# -- drain ------------------------------------------------------------------------------


def test_drain_closes_idle_connections_and_waits_for_busy_ones(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    idle, busy = h.connect(), h.connect()
    try:
        request(busy, "/slow")
        assert h.app.started.acquire(timeout=10)
        wait_until(lambda: h.loop.open_connections == 2)
        # A busy request past the deadline: drain reports it unfinished.
        assert h.call(lambda: h.loop.drain(time.monotonic() + 0.1)) is False
        assert answer(idle) == (0, b"")  # the idle one was closed: its peer sees EOF
        h.app.release.set()
        assert answer(busy) == (200, b"ok")
        assert h.call(lambda: h.loop.drain(time.monotonic() + 1)) is True
    finally:
        idle.close()
        busy.close()


def test_a_connection_accepted_just_before_the_drain_is_served_not_cut(
    harness: Callable[..., Harness],
) -> None:
    """Its request line may still be on the way: cutting it would fail a request."""
    h = harness()
    with h.connect() as sock:
        wait_until(lambda: h.loop.open_connections == 1)

        def late_request() -> None:
            time.sleep(0.05)
            request(sock)

        sender = threading.Thread(target=late_request)
        sender.start()
        assert h.call(lambda: h.loop.drain(time.monotonic() + 2)) is True
        sender.join()
        assert answer(sock) == (200, b"ok")
