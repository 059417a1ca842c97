"""The warm process: import the third-party modules once, then fork each new worker.

A fresh interpreter plus ``import flask`` costs over 100 ms, more than the whole reload
budget. So a warm process (a "zygote") imports Flask, Werkzeug, Jinja, rich, webkit's
own serving code and the project's third-party imports - never the project's own
modules, which must be imported fresh by each worker - and forks a worker on request.
A fork takes about a millisecond; the worker then only imports the project itself.

Fork hazards, and how they are handled:

* threads: the zygote starts none, and refuses to fork (the supervisor falls back to
  spawning) when an imported module started one, since a fork copies only the calling
  thread and any lock another thread held stays locked forever in the child;
* open files: the zygote inherits only stdio, the listening socket and its control
  socket (``close_fds`` on spawn); the child closes the zygote's control socket and
  wake-up pipe, keeping the listening socket and its own control socket;
* signals: the child resets the zygote's handlers and wake-up fd (``worker.reset_signals``);
* randomness: the child reseeds ``random`` (CPython also does it at fork);
* the project's own code: a third-party import may import the project (a plugin that
  registers itself on the app's views). Each import's new modules are checked
  (``_imports.ProjectCode``); when one is the project's, the zygote forks no more and
  says which import did it, and the supervisor replaces it with one that leaves that
  import to the workers. A fork never carries the code as it was at warm-up;
* platforms without ``os.fork``: :func:`fork_supported` is false and workers are spawned.

The zygote is rebuilt when installed packages change (the mtime of the site-packages
folders, checked at each reload: no watch on site-packages) and on a full restart
(``.env``, ``pyproject.toml``).

Protocol: a ``SOCK_SEQPACKET`` pair (one message per packet). Supervisor -> zygote:
``{"cmd": "fork", "generation": ...}`` carrying the worker's control fd (with
``standby``: the files before whose import it waits, ``_standby``), ``learn``
(modules a worker imported lazily), ``layer`` carrying a new channel (fork a layer,
``_layer``, that also imports the project's unchanged modules and then forks workers
itself, over that channel). Zygote -> supervisor: ``warm`` (ready, with what it
imported and what tainted it), ``learned`` and ``exited`` (pid, code); a layer says
``layer`` (ready or of no use, with the files it holds) and ``exited``.
End of file from the supervisor retires the zygote: no more forks, exit once its
workers have exited. SIGTERM kills its workers and exits at once.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import random
import select
import signal
import site
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from webkit_cli.server._imports import ProjectCode, is_skipped, third_party_imports
from webkit_cli.server._process import (
    INTERNAL_ERROR_EXIT,
    print_internal_error,
    spawn_module,
)
from webkit_cli.server._shellsock import ShellServer, Snapshot, layer_snapshot
from webkit_cli.server._shellsock import run_child as run_shell_child
from webkit_cli.server.config import ServerConfig

#: Always warmed: what every worker imports before it reaches the project.
BASE_MODULES = (
    "flask",
    "werkzeug.serving",
    "werkzeug.debug",
    "werkzeug.routing",
    "jinja2",
    "jinja2.ext",
    "dotenv",
    "rich.console",
    "rich.traceback",
    "rich.markup",
    "webkit_cli.project",
    "webkit_cli.errors",
    "webkit_cli._console",
    "webkit_cli.server.worker",
    "webkit_cli.server.wsgi",
    "webkit_cli.server.livereload",
    "webkit_cli.server.accesslog",
    "webkit_cli.server.errorpage",
)

#: Largest control message (a list of a few thousand module names fits).
MAX_MESSAGE = 1 << 20


def fork_supported() -> bool:
    return hasattr(os, "fork") and hasattr(socket, "send_fds") and sys.platform != "win32"


def site_packages_stamp() -> tuple[tuple[str, float], ...]:
    """mtimes of the site-packages folders: they change when a package is (un)installed."""
    dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    user = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if isinstance(user, str):
        dirs.append(user)
    stamp = []
    for d in dirs:
        try:
            stamp.append((d, Path(d).stat().st_mtime))
        except OSError:
            continue
    return tuple(stamp)


# -- warming ---------------------------------------------------------------------------


@dataclass
class Warmed:
    """What one round of imports did."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: import name -> the project's own modules that importing it brought in
    tainting: dict[str, list[str]] = field(default_factory=dict)


def warm_imports(names: Iterable[str], project: ProjectCode | None = None) -> Warmed:
    """Import ``names``; a failure is never fatal.

    With ``project``, each import that brings in the project's own modules is recorded
    in ``tainting``: the process that ran it must not fork workers any more.
    """
    result = Warmed()
    for name in names:
        if name in sys.modules:
            continue
        before = set(sys.modules) if project is not None else set()
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            pass  # ``from pkg import name`` where name is no module: expected
        except BaseException:  # noqa: BLE001 - a module that fails here fails in the worker too
            result.failed.append(name)
        else:
            result.done.append(name)
        if project is not None:
            brought = project.loaded(sys.modules.keys() - before)
            if brought:
                result.tainting[name] = brought
    return result


# -- the zygote process ---------------------------------------------------------------


class Zygote:
    """The warm process's loop: fork on request, reap, report exits."""

    #: seconds its workers get to stop once the supervisor is gone (killed hard)
    ORPHAN_GRACE = 1.0

    def __init__(
        self,
        config: ServerConfig,
        listen_fd: int,
        control: socket.socket,
        skip: Iterable[str] = (),
    ) -> None:
        self.config = config
        self.listen_fd = listen_fd
        self.control = control
        #: imports left to the workers: they bring in the project's own modules
        self.skip = frozenset(skip)
        self.children: set[int] = set()
        self.retiring = False
        self.terminate = False
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        self.can_fork = True
        #: import name -> project modules it brought in; any entry forbids forking
        self.tainting: dict[str, list[str]] = {}
        self.project: ProjectCode | None = None
        self.parent = os.getppid()
        self.orphaned_at: float | None = None
        #: the layers it forked (``_layer``): stopped with SIGTERM, so they stop their workers
        self.layers: set[int] = set()
        #: true in a layer: it serves forks only, and never forks a layer itself
        self.is_layer = False
        #: ``webkit shell``'s socket (``_shellsock``): listening while this process is clean
        self.shell: ShellServer | None = None
        self.stamp = site_packages_stamp()

    def send(self, **message: Any) -> None:
        with contextlib.suppress(OSError):
            self.control.send(json.dumps(message).encode())

    def warm(self) -> None:
        from webkit_cli.project import find_project, load_dotenv_files, prepare_sys_path

        started = time.perf_counter()
        # The workers inherit this environment; the supervisor never loads .env itself,
        # so a changed .env takes effect when the zygote is rebuilt. Resolved here once,
        # the project and the app's name are not read again by each worker.
        from webkit_cli.server.worker import prepare_project

        prepared = prepare_project(self.config.project_dir, self.config.app)
        if prepared is not None:
            project = prepared.project  # and .env is loaded
        else:
            project = find_project(self.config.project_dir)
            load_dotenv_files(project.root)
        prepare_sys_path(project)
        self.project = code = ProjectCode(project.root, project.source_dirs)
        warm_imports(BASE_MODULES)
        extra = [
            name
            for name in third_party_imports(project.root, project.source_dirs, code)
            if not is_skipped(name, self.skip)
        ]
        warmed = warm_imports(extra, code)
        from webkit_cli.server.worker import werkzeug_version

        werkzeug_version()
        self._check_clean(warmed)
        self._freeze()
        threads = threading.active_count()
        self.can_fork = threads == 1
        self._listen_shell("warm")
        self.send(
            event="warm",
            ms=round((time.perf_counter() - started) * 1000, 1),
            modules=warmed.done,
            failed=warmed.failed,
            threads=threads,
            ok=self.can_fork,
            tainting=self.tainting,
        )

    def _check_clean(self, warmed: Warmed) -> None:
        """Record what brought the project's own modules in: no fork may carry them.

        A module of the project in this process would be inherited by every worker, which
        would then not import it again: it would serve the code as it was at warm-up.
        """
        self.tainting.update(warmed.tainting)
        if self.project is not None and not self.tainting:
            leftover = self.project.loaded()
            if leftover:  # brought in by no import of ours (a .pth file, sitecustomize)
                self.tainting[""] = leftover

    def _freeze(self) -> None:
        # Everything imported so far is permanent: the workers' garbage collector skips it
        # and does not touch (and so copy) the shared pages.
        gc.collect()
        gc.freeze()

    def learn(self, names: list[str]) -> None:
        """Import what a worker imported lazily (third-party only) for the next workers."""
        code = self.project
        if code is None or self.tainting:
            return
        wanted = []
        for name in names:
            top = name.split(".")[0]
            if name in sys.modules or name.startswith("__main__") or is_skipped(name, self.skip):
                continue
            if code.is_third_party(top):
                wanted.append(name)
        warmed = warm_imports(wanted, code)
        self._check_clean(warmed)
        self._freeze()
        threads = threading.active_count()
        if threads > 1:
            self.can_fork = False
        self.send(
            event="learned",
            modules=warmed.done,
            failed=warmed.failed,
            threads=threads,
            tainting=self.tainting,
        )

    def _listen_shell(self, role: str, snapshot: Snapshot | None = None) -> None:
        if self.can_fork and not self.tainting and self.project is not None:
            self.shell = ShellServer.listen(self.project.root, role, snapshot)

    def _shell_unfit(self) -> str | None:
        """Why no shell may be forked from this process now (``None``: one may)."""
        if self.retiring or not self.can_fork:
            return "webkit run is restarting its warm process"
        if self.tainting:
            return "the warm process holds the project's own modules"
        if site_packages_stamp() != self.stamp:
            return "packages were installed since webkit run started"
        return None

    def _accept_shell(self) -> None:
        """Fork a ``webkit shell`` for the client that connected (``_shellsock``)."""
        server = self.shell
        assert server is not None
        request = server.accept(self._shell_unfit())
        if server.stale:
            server.close()  # a layer whose files changed: no shell from it any more
        if request is None:
            return
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        pid = os.fork()
        if pid == 0:  # the shell
            code = INTERNAL_ERROR_EXIT
            try:
                self._become_worker()
                os.close(self.listen_fd)  # the port must not outlive the run
                server.close_in_child(keep=request.conn)
                code = run_shell_child(request)
            except BaseException:  # noqa: BLE001 - never fall back into the zygote loop
                print_internal_error()
            finally:
                os._exit(code)
        server.started(pid, request)
        self.children.add(pid)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGTERM:
            self.terminate = True

    def run(self) -> int:
        # Ctrl-C, a closed terminal and Ctrl-\ reach the whole process group: stopping is
        # the supervisor's decision, which it sends as SIGTERM or end of file.
        for name in ("SIGINT", "SIGHUP", "SIGQUIT"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGCHLD, self._on_signal)
        signal.set_wakeup_fd(self.wake_w)
        self.warm()
        return self.loop()

    def loop(self) -> int:
        """Serve forks until retired (and its children gone) or terminated."""
        while True:
            watched = [self.wake_r] if self.retiring else [self.wake_r, self.control]
            if self.shell is not None and self.shell.listening:
                if self.retiring or self.terminate:
                    self.shell.close()
                else:
                    watched.append(self.shell.fileno())
            try:
                # Retiring, it looks now and then whether the supervisor is still there.
                timeout = 0.25 if self.retiring else None
                readable, _, _ = select.select(watched, [], [], timeout)
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            if self.wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(self.wake_r, 4096)
            self._reap()
            if self.terminate:
                if self.shell is not None:
                    self.shell.close()
                return self._kill_children()
            if self.control in readable:
                self._handle_control()
            if self.shell is not None and self.shell.listening and self.shell.fileno() in readable:
                self._accept_shell()
            if self.retiring and not self.children:
                return 0
            if self.retiring and self._orphan_grace_over():
                return self._kill_children()

    def _orphan_grace_over(self) -> bool:
        """True once the supervisor has been gone for ``ORPHAN_GRACE``.

        A worker stuck where it never reads its channel (an endless import) would never
        see the supervisor's end of file; nothing may outlive the supervisor.
        """
        if os.getppid() == self.parent:
            return False
        now = time.monotonic()
        if self.orphaned_at is None:
            self.orphaned_at = now
        return now - self.orphaned_at >= self.ORPHAN_GRACE

    def _handle_control(self) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(self.control, MAX_MESSAGE, 4)
        except OSError:
            data, fds = b"", []
        if not data:
            self.retiring = True
            for fd in fds:
                os.close(fd)
            return
        message = json.loads(data)
        if message.get("cmd") == "learn":
            for fd in fds:
                os.close(fd)
            if not self.is_layer:
                self.learn([str(name) for name in message.get("modules", [])])
            return
        if message.get("cmd") == "layer" and fds:
            # A layer is forked from a clean zygote only; refused, its channel just closes.
            if not self.is_layer and self.can_fork and not self.tainting:
                self._fork_layer(fds[0], message)
            for fd in fds:
                os.close(fd)
            return
        if message.get("cmd") == "fork" and fds:
            if not self.can_fork or self.tainting:
                # Said on the worker's own channel, so the supervisor reads it before the
                # end of file that closing the channel causes.
                refusal = {
                    "event": "refused",
                    "reason": "tainted" if self.tainting else "threads",
                    "threads": threading.active_count(),
                    "tainting": self.tainting,
                }
                with contextlib.suppress(OSError):
                    os.write(fds[0], (json.dumps(refusal) + "\n").encode())
                for fd in fds:
                    os.close(fd)
                return
            report = message.get("report")
            standby = message.get("standby")
            self._fork(
                str(message["generation"]),
                fds[0],
                report if report else None,
                [str(p) for p in standby] if isinstance(standby, list) else None,
            )
            for fd in fds[1:]:
                os.close(fd)

    def _fork(
        self,
        generation: str,
        control_fd: int,
        report: str | None = None,
        standby: list[str] | None = None,
    ) -> None:
        # Unflushed output would be written twice: once by us, once by the child.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            code = INTERNAL_ERROR_EXIT
            try:
                self._become_worker()
                from webkit_cli.server.worker import run_worker

                code = run_worker(
                    self.config,
                    self.listen_fd,
                    control_fd,
                    generation,
                    report,
                    standby,
                    learn=not self.is_layer,
                )
            except BaseException:  # noqa: BLE001 - never fall back into the zygote loop
                # The user's errors are caught and shown inside the worker: what escapes
                # is webkit's own.
                print_internal_error()
            finally:
                os._exit(code)
        os.close(control_fd)
        self.children.add(pid)

    def _fork_layer(self, control_fd: int, message: dict[str, Any]) -> None:
        """Fork a layer: a process that also imports the project's unchanged modules."""
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        pid = os.fork()
        if pid == 0:  # the layer
            code = INTERNAL_ERROR_EXIT
            try:
                self._become_layer(control_fd)
                code = self._serve_layer(message)
            except BaseException:  # noqa: BLE001 - never fall back into the zygote loop
                print_internal_error()
            finally:
                os._exit(code)
        self.children.add(pid)  # the caller closes our copy of its channel
        self.layers.add(pid)

    def _become_layer(self, control_fd: int) -> None:
        if self.shell is not None:
            self.shell.close_in_child()  # the warm process's: the layer listens on its own
            self.shell = None
        signal.set_wakeup_fd(-1)
        os.close(self.wake_r)
        os.close(self.wake_w)
        self.control.close()
        self.control = socket.socket(fileno=control_fd)
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        signal.set_wakeup_fd(self.wake_w)
        self.children = set()
        self.layers = set()
        self.is_layer = True
        self.retiring = self.terminate = False
        self.parent = os.getppid()
        self.orphaned_at = None
        random.seed()

    def _serve_layer(self, message: dict[str, Any]) -> int:
        from webkit_cli.server._layer import app_module_names, build_layer

        assert self.project is not None
        since = time.time_ns()
        report = build_layer(
            self.project,
            exclude=[str(p) for p in message.get("exclude", [])],
            candidates=[str(n) for n in message.get("candidates", [])],
            skip=self.skip,
            app_modules=app_module_names(self.config.project_dir, self.config.app),
            cache_dir=self.config.cache_dir,
        )
        if report.ok:
            from webkit_cli.server import _routecache
            from webkit_cli.server.sqlstats import install as install_sql_stats

            # Done once here, inherited by each worker forked from the layer: the URL builders
            # compiled so far (reading them again cost ~2.5 ms of CPU of a 22 ms reload) and
            # the SQL listeners on SQLAlchemy's Engine class (~1 ms), when the project uses it.
            if self.config.cache_dir:
                _routecache.install(self.config.cache_dir)
            install_sql_stats(self.config.project_dir)
        self._freeze()
        threads = threading.active_count()
        self.can_fork = threads == 1 and report.ok
        self.send(event="layer", pid=os.getpid(), threads=threads, **report.message())
        if not self.can_fork:
            return 0  # of no use: the supervisor builds another, or none
        # After the message: the supervisor need not wait for the shell's socket.
        roots = [self.project.root, self.project.root / "src"]
        watched = [self.project.root, *(Path(p) for p in self.config.watch)]
        self._listen_shell("layer", layer_snapshot(report.files, roots, since, watched=watched))
        return self.loop()

    def _become_worker(self) -> None:
        if self.shell is not None:
            self.shell.close_in_child()
            self.shell = None
        signal.set_wakeup_fd(-1)
        os.close(self.wake_r)
        os.close(self.wake_w)
        self.control.close()
        random.seed()

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self.layers.discard(pid)
            if self.shell is not None and self.shell.reaped(pid, status):
                continue  # a shell's status is its client's business
            self.send(event="exited", pid=pid, code=os.waitstatus_to_exitcode(status))

    def _kill_children(self) -> int:
        # A layer is asked first: killed outright, it would leave its workers behind.
        for pid in self.layers & self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 0.5
        while self.layers & self.children and time.monotonic() < deadline:
            time.sleep(0.01)
            self._reap()
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        return 0


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    config = ServerConfig.from_json(args[0])
    control = socket.socket(fileno=int(args[2]))
    skip = json.loads(args[3]) if len(args) > 3 else []
    zygote = Zygote(config, int(args[1]), control, skip)
    code = 1
    try:
        code = zygote.run()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


# -- the supervisor's side ------------------------------------------------------------


class ForkServer:
    """The supervisor's handle on a process that forks workers: a zygote or a layer."""

    def __init__(
        self,
        sock: socket.socket,
        on_message: Callable[[ForkServer, dict[str, Any] | None], None],
    ) -> None:
        self.sock = sock
        #: False when an import started threads: forking it would be unsafe
        self.ok = True
        self.exit_codes: dict[int, int] = {}
        self._cond = threading.Condition()
        self._on_message = on_message

    def _start_reader(self) -> None:
        self._reader = threading.Thread(target=self._read, name="webkit-warm", daemon=True)
        self._reader.start()

    def _note(self, message: dict[str, Any]) -> None:
        """Record what a message says, under the lock (called by the reader thread)."""
        if message.get("event") == "warm":
            self.ok = bool(message.get("ok"))

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(MAX_MESSAGE)
            except OSError:
                data = b""
            if not data:
                self._on_message(self, None)
                return
            message = json.loads(data)
            with self._cond:
                self._note(message)
                if message.get("event") == "exited":
                    self.exit_codes[int(message["pid"])] = int(message["code"])
                self._cond.notify_all()
            self._on_message(self, message)

    def exit_code(self, pid: int, timeout: float) -> int | None:
        """The exit code of a worker it forked, waiting a little for the report."""
        with self._cond:
            self._cond.wait_for(lambda: pid in self.exit_codes, timeout)
            return self.exit_codes.get(pid)

    def fork(
        self,
        generation: str,
        worker_fd: int,
        report: str | None = None,
        standby: list[str] | None = None,
    ) -> bool:
        """Ask for a worker (``standby``: one that waits before importing those files);
        ``False`` when the process is gone."""
        message: dict[str, Any] = {"cmd": "fork", "generation": generation, "report": report}
        if standby is not None:
            message["standby"] = standby
        data = json.dumps(message).encode()
        try:
            socket.send_fds(self.sock, [data], [worker_fd])
        except OSError:
            return False
        return True

    def retire(self) -> None:
        """No more forks: the process exits once its workers have."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)


class WarmProcess(ForkServer):
    """The supervisor's handle on one zygote."""

    def __init__(
        self,
        config: ServerConfig,
        listen_fd: int,
        on_message: Callable[[ForkServer, dict[str, Any] | None], None],
        *,
        skip: Iterable[str] = (),
    ) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        super().__init__(parent, on_message)
        self.config = config
        self.stamp = site_packages_stamp()
        #: imports it must leave to the workers (they bring in the project's modules)
        self.skip = frozenset(skip)
        #: set once it reported project modules among its imports: it must be replaced
        self.tainted = False
        self.sent_modules: set[str] = set()
        try:
            self.proc = spawn_module(
                "webkit_cli.server._warm",
                config,
                (listen_fd, child.fileno()),
                json.dumps(sorted(self.skip)),
            )
        finally:
            child.close()
        self._start_reader()

    @property
    def stale(self) -> bool:
        """Installed packages changed since this zygote imported them."""
        return site_packages_stamp() != self.stamp

    def learn(self, modules: list[str]) -> None:
        """Pass on what a worker imported lazily; each name is sent once."""
        new = [
            name
            for name in modules
            if name not in self.sent_modules and not is_skipped(name, self.skip)
        ]
        if not new:
            return
        self.sent_modules.update(new)
        data = json.dumps({"cmd": "learn", "modules": new}).encode()
        if len(data) < MAX_MESSAGE:
            with contextlib.suppress(OSError):
                self.sock.send(data)

    def fork_layer(self, message: dict[str, Any], layer_fd: int) -> bool:
        """Ask for a layer (``cmd: layer``) on the channel ``layer_fd``."""
        data = json.dumps({"cmd": "layer", **message}).encode()
        if len(data) >= MAX_MESSAGE:
            return False
        try:
            socket.send_fds(self.sock, [data], [layer_fd])
        except OSError:
            return False
        return True

    def terminate(self, timeout: float) -> None:
        """Stop it (and kill any worker it still has) within ``timeout`` seconds."""
        import subprocess

        self.retire()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()


if __name__ == "__main__":
    main()
