"""A worker: import the app and serve it on the socket the supervisor bound.

A worker is either forked from the warm process (``_warm.py``) or spawned as
``python -m webkit_cli.server.worker CONFIG_JSON LISTEN_FD CONTROL_FD GENERATION [REPORT]``
(``REPORT``: serve this explanation instead of importing the app, see ``WorkerExited``).
It never binds: it accepts on the inherited listening socket, so while no worker
accepts (a reload) connections wait in the kernel's backlog instead of being refused.

The control channel is a Unix socket pair with the supervisor carrying one JSON object
per line. Worker -> supervisor: ``started`` (pid), ``ready`` (status ``ok`` / ``error`` /
``noapp``, the debugger PIN, the modules it imported), ``stopped``; the warm process may
write ``refused`` on it instead of forking. Supervisor -> worker: ``pause`` (stop
accepting; a new worker is coming), ``resume``, ``notify`` (live-reload event), ``stop``
(drain and exit). End of file on the channel means the supervisor is gone: the worker
stops too, so nothing outlives it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from webkit_cli.server.config import ServerConfig

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

WSGIApp = Callable[..., Iterable[bytes]]


class ControlChannel:
    """JSON lines over the worker's end of the control socket pair."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""
        self._lock = threading.Lock()

    def send(self, **message: Any) -> None:
        data = (json.dumps(message) + "\n").encode()
        # The supervisor may be gone: end of file on read stops us then.
        with self._lock, contextlib.suppress(OSError):
            self.sock.sendall(data)

    def read(self) -> list[dict[str, Any]] | None:
        """The complete messages available now, or ``None`` at end of file."""
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return []
        except OSError:
            return None
        if not chunk:
            return None
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]


class ConnectionTracker:
    """Which connections are mid-request and which are idle keep-alive, for a clean drain."""

    #: seconds a just-accepted connection gets to send its request line during a drain
    IDLE_WINDOW = 0.25

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.idle: set[socket.socket] = set()
        self.busy = 0
        self.draining = False

    def opened(self, conn: socket.socket) -> None:
        with self.lock:
            self.idle.add(conn)

    def start_request(self, conn: socket.socket) -> bool:
        """Mark busy; ``False`` when draining closed the connection under us."""
        with self.lock:
            if conn not in self.idle:
                return False
            self.idle.discard(conn)
            self.busy += 1
            self.lock.notify_all()
            return True

    def end_request(self, conn: socket.socket) -> None:
        with self.lock:
            self.busy -= 1
            if not self.draining:
                self.idle.add(conn)
            self.lock.notify_all()

    def closed(self, conn: socket.socket) -> None:
        with self.lock:
            self.idle.discard(conn)
            self.lock.notify_all()

    def drain(self, deadline: float) -> bool:
        """Close idle keep-alive connections, wait for busy ones; ``True`` when all finished."""
        with self.lock:
            self.draining = True
            # A connection accepted just before the drain may not have sent its request line
            # yet (it connected before the change was seen): give it a moment to do so rather
            # than cutting it, which the client would see as a failed request.
            now = time.monotonic()
            window = now + min(self.IDLE_WINDOW, max(0.0, deadline - now) / 2)
            while self.idle:
                remaining = window - time.monotonic()
                if remaining <= 0:
                    break
                self.lock.wait(remaining)
            for conn in self.idle:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self.idle.clear()
            while self.busy > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.lock.wait(remaining)
            return True


def tracking_handler(
    base: type[WSGIRequestHandler], tracker: ConnectionTracker
) -> type[WSGIRequestHandler]:
    """Subclass ``base`` so the tracker knows each connection's state."""

    class TrackingHandler(base):  # type: ignore[valid-type,misc]
        _in_request = False

        def setup(self) -> None:
            super().setup()
            tracker.opened(self.connection)

        def parse_request(self) -> bool:
            # Called once the request line has arrived: the connection is now busy.
            if not tracker.start_request(self.connection):
                self.close_connection = True
                return False
            self._in_request = True
            ok: bool = super().parse_request()
            if tracker.draining:
                self.close_connection = True
            return ok

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            finally:
                if self._in_request:
                    self._in_request = False
                    tracker.end_request(self.connection)
                if tracker.draining:
                    self.close_connection = True

        def finish(self) -> None:
            tracker.closed(self.connection)
            super().finish()

    TrackingHandler.__name__ = base.__name__
    return TrackingHandler


def _fallback_error_app(error: BaseException) -> WSGIApp:
    """A plain 500 answer, used only when server-web's error page is not available."""
    import traceback

    body = "".join(traceback.format_exception(error)).encode()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(
            "500 INTERNAL SERVER ERROR",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return app


class Worker:
    """One generation of the app served on the inherited socket."""

    def __init__(
        self,
        config: ServerConfig,
        listen_fd: int,
        control: socket.socket,
        generation: str,
        report: str | None = None,
    ) -> None:
        self.config = config
        #: set for a worker that only reports why the previous one died while importing
        self.report = report
        self.listen_fd = listen_fd
        self.control = ControlChannel(control)
        self.generation = generation
        self.tracker = ConnectionTracker()
        self.hub: Any = None
        self.server: BaseWSGIServer | None = None

    # -- start-up ---------------------------------------------------------------------

    def load(self) -> tuple[Any, BaseException | None, str, str]:
        """Import the app: (app or None, error, status, message)."""
        from webkit_cli._console import print_error, print_user_traceback
        from webkit_cli.errors import AppImportError, WebkitError
        from webkit_cli.project import ProjectContext

        try:
            ctx = ProjectContext.from_options(
                project_dir=self.config.project_dir, app=self.config.app
            )
            app = ctx.load_app()
        except AppImportError as exc:
            print_user_traceback(exc.original)
            print_error(exc.format_message() + " Save a fix and the server reloads.")
            return None, exc.original, "error", exc.format_message()
        except WebkitError as exc:
            # Not the user's code (a wrong import string, no app found): one line, which the
            # supervisor prints - and exits on, when no worker has served yet.
            return None, exc, "noapp", exc.format_message()
        self._configure_flask(app)
        return app, None, "ok", ""

    def _configure_flask(self, app: Any) -> None:
        config = getattr(app, "config", None)
        if self.config.reload and isinstance(config, dict):
            # Jinja re-reads a template whose file changed: a template edit needs no restart.
            config["TEMPLATES_AUTO_RELOAD"] = True
            env = getattr(app, "jinja_env", None)
            if env is not None:
                env.auto_reload = True
                if self.config.cache_dir and getattr(env, "bytecode_cache", True) is None:
                    # Compiled templates survive the worker: the first page after a reload
                    # does not compile its templates again (checksums keep it exact).
                    from jinja2 import FileSystemBytecodeCache

                    env.bytecode_cache = FileSystemBytecodeCache(self.config.cache_dir)
        if self.config.debug and hasattr(app, "debug"):
            app.debug = True

    def compose(self, app: Any, error: BaseException | None) -> tuple[WSGIApp, type[Any]]:
        """The WSGI app and request handler: server-web's pipeline when present."""
        from werkzeug.serving import WSGIRequestHandler

        try:
            from webkit_cli.server.wsgi import build_app, make_request_handler
        except ImportError:
            handler: type[Any] = _quiet_handler(WSGIRequestHandler)
            wsgi = app if error is None else _fallback_error_app(error)
            return wsgi, handler
        if self.config.live_reload:
            from webkit_cli.server.livereload import LiveReloadHub

            self.hub = LiveReloadHub(generation=self.generation)
        wsgi = build_app(app, config=self.config, hub=self.hub, error=error)
        return wsgi, make_request_handler(self.config)

    def serve(self) -> int:
        """Run until told to stop; returns the exit code."""
        from werkzeug.serving import make_server

        self.control.send(event="started", pid=os.getpid())
        # The warm process's finders may have listed the project's folders before a save.
        importlib.invalidate_caches()
        inherited = set(sys.modules)
        app: Any
        error: BaseException | None
        if self.report is not None:
            # The app's import killed the previous worker: do not import it again until a
            # save; serve the explanation instead, so requests get an answer.
            app, error, status, message = None, WorkerExited(self.report), "error", self.report
        else:
            app, error, status, message = self.load()
        wsgi, handler = self.compose(app, error)
        with _cached_werkzeug_version():
            server = make_server(
                self.config.host,
                0,
                wsgi,
                threaded=True,
                request_handler=tracking_handler(handler, self.tracker),
                fd=self.listen_fd,
            )
        self.server = server
        # Shared with the other workers: accept() must not block when another took the connection.
        server.socket.setblocking(False)
        # What this worker imported beyond the warm process: lazy third-party imports
        # (a database dialect, say) that the warm process can take over for the next one.
        # In import order: a layer (``_layer``) imports the project's modules in this order.
        learned = [name for name in sys.modules if name not in inherited and name.isascii()]
        self.control.send(
            event="ready", status=status, message=message, pin=self._pin(wsgi), learned=learned
        )
        return self._loop(server)

    def _pin(self, wsgi: WSGIApp) -> str | None:
        if not self.config.debug:
            return None
        try:
            from webkit_cli.server.wsgi import debugger_pin
        except ImportError:
            return None
        return debugger_pin(wsgi)

    # -- main loop ----------------------------------------------------------------------

    def _loop(self, server: BaseWSGIServer) -> int:
        selector = selectors.DefaultSelector()
        self.control.sock.setblocking(False)
        selector.register(self.control.sock, selectors.EVENT_READ, "control")
        accepting = False

        def set_accepting(on: bool) -> None:
            nonlocal accepting
            if on and not accepting:
                selector.register(server.socket, selectors.EVENT_READ, "listen")
            elif not on and accepting:
                selector.unregister(server.socket)
            accepting = on

        # Accept only when the supervisor says so: it first pauses the worker this one replaces.
        try:
            while True:
                # No timeout: an idle worker sleeps in the kernel and costs no CPU.
                events = selector.select()
                # Control first: a "pause" that arrived with a connection wins.
                for key, _ in sorted(events, key=lambda e: e[0].data != "control"):
                    if key.data == "control":
                        messages = self.control.read()
                        if messages is None:
                            return self._stop(self.config.shutdown_grace)
                        for msg in messages:
                            cmd = msg.get("cmd")
                            if cmd == "pause":
                                set_accepting(False)
                            elif cmd == "resume":
                                set_accepting(True)
                            elif cmd == "notify":
                                self._notify(msg.get("kind", "reload"), msg.get("paths", []))
                            elif cmd == "stop":
                                set_accepting(False)
                                return self._stop(float(msg.get("grace", 1.0)))
                    elif accepting:
                        server._handle_request_noblock()  # type: ignore[attr-defined]
        finally:
            selector.close()

    def _notify(self, kind: str, paths: list[str]) -> None:
        if self.hub is not None:
            self.hub.notify(kind, paths)

    def _stop(self, grace: float) -> int:
        deadline = time.monotonic() + grace
        if self.hub is not None:
            self.hub.close_all()
        finished = self.tracker.drain(deadline)
        self.control.send(event="stopped", clean=finished)
        return 0


@contextlib.contextmanager
def _cached_werkzeug_version() -> Iterator[None]:
    """Serve werkzeug's version from a cache while its server is built.

    ``BaseWSGIServer.__init__`` asks ``importlib.metadata`` for it, which scans
    site-packages: ~10 ms of every reload. The warm process looked it up once.
    """
    import importlib.metadata

    cached = werkzeug_version()
    original = importlib.metadata.version

    def version(distribution_name: str) -> str:
        if distribution_name == "werkzeug":
            return cached
        return original(distribution_name)

    importlib.metadata.version = version
    try:
        yield
    finally:
        importlib.metadata.version = original


@functools.cache
def werkzeug_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("werkzeug")


def _quiet_handler(base: type[WSGIRequestHandler]) -> type[WSGIRequestHandler]:
    class QuietHandler(base):  # type: ignore[valid-type,misc]
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    return QuietHandler


def reset_signals() -> None:
    """The supervisor alone decides when to stop: Ctrl-C reaches the whole process group."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "SIGCHLD"):
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)


class WorkerExited(RuntimeError):
    """Shown on the error page when importing the app killed the worker process."""


def run_worker(
    config: ServerConfig,
    listen_fd: int,
    control_fd: int,
    generation: str,
    report: str | None = None,
) -> int:
    """Serve one generation; the caller exits the process with the returned code."""
    reset_signals()
    control = socket.socket(fileno=control_fd)
    worker = Worker(config, listen_fd, control, generation, report)
    try:
        return worker.serve()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()


def main(argv: list[str] | None = None) -> None:
    """Spawn-mode entry point (platforms without fork, or when the warm process is off)."""
    args = sys.argv[1:] if argv is None else argv
    config = ServerConfig.from_json(args[0])
    report = args[4] if len(args) > 4 else None
    try:
        code = run_worker(config, int(args[1]), int(args[2]), args[3], report)
    except BaseException:  # noqa: BLE001 - the app's own errors are caught inside: this is ours
        from webkit_cli.server._process import INTERNAL_ERROR_EXIT, print_internal_error

        print_internal_error()
        code = INTERNAL_ERROR_EXIT
    # Daemon threads (a hung request, an event stream) must not hold the exit.
    os._exit(code)


if __name__ == "__main__":
    main()
