"""A worker: import the app and serve it on the socket the supervisor bound.

A worker is either forked from the warm process (``_warm.py``) or spawned as
``python -m webkit_cli.server.worker CONFIG_JSON LISTEN_FD CONTROL_FD GENERATION [REPORT]``
(``REPORT``: serve this explanation instead of importing the app, see ``WorkerExited``).
It never binds: it accepts on the inherited listening socket, so while no worker
accepts (a reload) connections wait in the kernel's backlog instead of being refused.
Its main thread runs :class:`~webkit_cli.server.connections.ConnectionLoop` (accept, read
each request head, hand it to a bounded pool of threads) and the control channel.

The control channel is a Unix socket pair with the supervisor carrying one JSON object
per line. Worker -> supervisor: ``started`` (pid), ``ready`` (status ``ok`` / ``error`` /
``noapp``, the debugger PIN, the modules it imported), ``stopped``; the warm process may
write ``refused`` on it instead of forking; a standby (``_standby``) says ``standby``
(waiting, with what it has read) or ``unused``. Supervisor -> worker: ``pause`` (stop
accepting; a new worker is coming), ``resume``, ``notify`` (live-reload event), ``stop``
(drain and exit), ``go`` (a standby goes on with the factory). End of file on the
channel means the supervisor is gone: the worker stops too, so nothing outlives it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from webkit_cli.server import _routecache
from webkit_cli.server.config import ServerConfig
from webkit_cli.server.connections import ConnectionLoop

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

    from webkit_cli.project import ProjectContext

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


class Worker:
    """One generation of the app served on the inherited socket."""

    def __init__(
        self,
        config: ServerConfig,
        listen_fd: int,
        control: socket.socket,
        generation: str,
        report: str | None = None,
        standby: list[str] | None = None,
        *,
        learn: bool = True,
    ) -> None:
        self.config = config
        #: a standby (``_standby``): the files before whose import the factory waits
        self.standby = standby
        #: set for a worker that only reports why the previous one died while importing
        self.report = report
        #: say which modules it imported (for the warm process; a layer's worker: no)
        self.learn = learn
        self.listen_fd = listen_fd
        self.control = ControlChannel(control)
        self.generation = generation
        self.hub: Any = None
        self.front: ConnectionLoop | None = None

    # -- start-up ---------------------------------------------------------------------

    def load(self) -> tuple[Any, BaseException | None, str, str]:
        """Import the app: (app or None, error, status, message)."""
        from webkit_cli._console import print_error, print_user_traceback
        from webkit_cli.errors import AppImportError, WebkitError
        from webkit_cli.project import ProjectContext

        try:
            ctx = _prepared_context(self.config)
            if ctx is None:
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
        """The WSGI app (see ``wsgi.build_app``) and its logging request handler."""
        from webkit_cli.server.wsgi import build_app, make_request_handler

        if self.config.live_reload:
            from webkit_cli.server.livereload import LiveReloadHub

            self.hub = LiveReloadHub(generation=self.generation)
        wsgi = build_app(app, config=self.config, hub=self.hub, error=error)
        return wsgi, make_request_handler(self.config)

    def serve(self) -> int:
        """Run until told to stop; returns the exit code."""
        self.control.send(event="started", pid=os.getpid())
        # The warm process's finders may have listed the project's folders before a save.
        importlib.invalidate_caches()
        # A layer's worker learns nothing for the warm process (the supervisor reads only the
        # warm process's workers'), and touching every name in sys.modules copies ~500 pages
        # shared with the layer: ~2 ms of CPU of a reload of the generated site.
        # A standby needs them all the same: it tells the modules it imports before the file
        # it waits for apart from those it was forked with (and it is forked ahead of a save).
        inherited = set(sys.modules) if self.learn or self.standby is not None else None
        app: Any
        error: BaseException | None
        if self.report is not None:
            # The app's import killed the previous worker: do not import it again until a
            # save; serve the explanation instead, so requests get an answer.
            app, error, status, message = None, WorkerExited(self.report), "error", self.report
        else:
            if self.config.cache_dir:
                _routecache.install(self.config.cache_dir)
            waiter = None
            if self.standby is not None:
                from webkit_cli.server._standby import WaitBefore

                assert inherited is not None  # listed above for a standby
                waiter = WaitBefore(self.standby, self.control, inherited)
                waiter.start()
            app, error, status, message = self.load()
            if waiter is not None and not waiter.finished()["waited"]:
                # The factory imported none of them: of no use for their next save.
                self.control.send(event="unused")
                return 0
        wsgi, handler = self.compose(app, error)
        with _cached_werkzeug_version():
            server = _pooled_server(self.config.host, wsgi, handler, self.listen_fd)
        if self.config.tls_cert and self.config.tls_key:
            from webkit_cli.server.tls import server_context

            # Each connection is wrapped by the ConnectionLoop (its handshake must not block
            # the accept loop); werkzeug only reads the attribute for wsgi.url_scheme.
            server.ssl_context = server_context(self.config.tls_cert, self.config.tls_key)
        self.front = ConnectionLoop(server, handler)
        # What this worker imported beyond the warm process: lazy third-party imports
        # (a database dialect, say) that the warm process can take over for the next one.
        # In import order: a layer (``_layer``) imports the project's modules in this order.
        learned = (
            [name for name in sys.modules if name not in inherited and name.isascii()]
            if inherited is not None and self.learn
            else []
        )
        self.control.send(
            event="ready", status=status, message=message, pin=self._pin(wsgi), learned=learned
        )
        if self.config.cache_dir:
            # After "ready": the next worker's factory reuses the URL builders compiled here.
            _routecache.save(self.config.cache_dir)
        return self._loop(self.front)

    def _pin(self, wsgi: WSGIApp) -> str | None:
        if not self.config.debug:
            return None
        from webkit_cli.server.wsgi import debugger_pin

        return debugger_pin(wsgi)

    # -- main loop ----------------------------------------------------------------------

    def _loop(self, front: ConnectionLoop) -> int:
        stop: list[float] = []

        def on_control() -> None:
            messages = self.control.read()
            if messages is None:
                stop.append(self.config.shutdown_grace)
                front.set_accepting(False)
                return
            for msg in messages:
                cmd = msg.get("cmd")
                if cmd == "pause":
                    front.set_accepting(False)
                elif cmd == "resume":
                    front.set_accepting(True)
                elif cmd == "notify":
                    self._notify(msg.get("kind", "reload"), msg.get("paths", []))
                elif cmd == "stop":
                    front.set_accepting(False)
                    stop.append(float(msg.get("grace", 1.0)))
                    return

        self.control.sock.setblocking(False)
        # Accept only when the supervisor says so: it first pauses the worker this one replaces.
        front.add_reader(self.control.sock, on_control)
        try:
            while not stop:
                front.poll()
            front.remove_reader(self.control.sock)
            return self._stop(stop[0])
        finally:
            front.close()

    def _notify(self, kind: str, paths: list[str]) -> None:
        if self.hub is not None:
            self.hub.notify(kind, paths)

    def _stop(self, grace: float) -> int:
        deadline = time.monotonic() + grace
        if self.hub is not None:
            self.hub.close_all()
        assert self.front is not None
        finished = self.front.drain(deadline)
        self.control.send(event="stopped", clean=finished)
        return 0


#: (project_dir, app, context) resolved once by the warm process for the workers it forks.
_prepared: tuple[str | None, str | None, ProjectContext] | None = None


def prepare_project(project_dir: str | None, app: str | None) -> ProjectContext | None:
    """Find the project, resolve the app's name and load ``.env`` once, in the warm process.

    What it reads (``pyproject.toml``, ``.env``, ``.flaskenv`` at the project's root) is what
    rebuilds the warm process when it changes, so a forked worker can take it as is: ~20%
    of a reload's CPU on the generated site. ``None`` when it fails: each worker then
    resolves it itself, and says what is wrong.
    """
    global _prepared
    from webkit_cli.errors import WebkitError
    from webkit_cli.project import ProjectContext

    try:
        ctx = ProjectContext.from_options(project_dir=project_dir, app=app)
    except WebkitError:
        return None
    _prepared = (project_dir, app, ctx)
    return ctx


def _prepared_context(config: ServerConfig) -> ProjectContext | None:
    """A fresh context from the one the warm process prepared for this configuration."""
    if _prepared is None:
        return None
    project_dir, app, ctx = _prepared
    if (project_dir, app) != (config.project_dir, config.app):
        return None
    fresh = dataclasses.replace(ctx)  # the app itself is never shared: a new one is imported
    fresh._env_loaded = True  # this process inherited the environment the warm process loaded
    return fresh


def _pooled_server(host: str, app: WSGIApp, handler: type[Any], fd: int) -> BaseWSGIServer:
    """werkzeug's server on the inherited socket, for :class:`ConnectionLoop` to run.

    ``multithread``: requests run in a pool of threads (HTTP/1.1, ``wsgi.multithread``).
    """
    from werkzeug.serving import BaseWSGIServer

    class PooledWSGIServer(BaseWSGIServer):
        multithread = True

    return PooledWSGIServer(host, 0, app, handler=handler, fd=fd)


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
    standby: list[str] | None = None,
    *,
    learn: bool = True,
) -> int:
    """Serve one generation; the caller exits the process with the returned code."""
    reset_signals()
    control = socket.socket(fileno=control_fd)
    worker = Worker(config, listen_fd, control, generation, report, standby, learn=learn)
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
