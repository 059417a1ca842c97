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
* platforms without ``os.fork``: :func:`fork_supported` is false and workers are spawned.

The zygote is rebuilt when installed packages change (the mtime of the site-packages
folders, checked at each reload: no watch on site-packages) and on a full restart
(``.env``, ``pyproject.toml``).

Protocol: a ``SOCK_SEQPACKET`` pair (one message per packet). Supervisor -> zygote:
``{"cmd": "fork", "generation": ...}`` carrying the worker's control fd. Zygote ->
supervisor: ``warm`` (ready, with what it imported) and ``exited`` (pid, code).
End of file from the supervisor retires the zygote: no more forks, exit once its
workers have exited. SIGTERM kills its workers and exits at once.
"""

from __future__ import annotations

import ast
import contextlib
import gc
import importlib
import importlib.util
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
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

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
SCAN_LIMIT = 400  # project files parsed for imports; a bigger project still gets BASE_MODULES


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


# -- which modules to warm ------------------------------------------------------------


def own_top_level_names(source_dirs: Iterable[Path]) -> set[str]:
    """Module and package names the project itself provides (never warmed)."""
    names: set[str] = set()
    for directory in source_dirs:
        try:
            entries = list(directory.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.suffix == ".py":
                names.add(entry.stem)
            elif entry.is_dir() and (entry / "__init__.py").exists():
                names.add(entry.name)
            elif entry.is_dir() and entry.name.isidentifier():
                names.add(entry.name)  # namespace packages
    return names


def imported_names(files: Iterable[Path]) -> set[str]:
    """Dotted names of the absolute imports in ``files`` (parsed, never executed).

    ``from a.b import c`` gives ``a.b`` and ``a.b.c`` (``c`` may be a submodule; when it
    is not, importing it fails harmlessly): ``import sqlalchemy`` alone leaves
    ``sqlalchemy.orm`` - most of the import time - to every worker.
    """
    names: set[str] = set()
    for path in files:
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, OSError):
            continue  # a broken file is the worker's business
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
                names.update(
                    f"{node.module}.{alias.name}" for alias in node.names if alias.name != "*"
                )
    return {name for name in names if not name.startswith("__future__")}


def project_python_files(root: Path) -> list[Path]:
    from webkit_cli.server.watch import ProjectFilter

    filt = ProjectFilter(root)
    recursive, _ = filt.watch_roots()
    files = [p for p in root.glob("*.py")]
    for directory in recursive:
        if directory.name in ("tests", "test", "docs"):
            continue
        for path in directory.rglob("*.py"):
            if not filt.is_ignored(path):
                files.append(path)
            if len(files) >= SCAN_LIMIT:
                return files
    return files


def third_party_imports(root: Path, source_dirs: Iterable[Path]) -> list[str]:
    """The project's imports that resolve outside the project: safe to warm."""
    source_dirs = list(source_dirs)
    own = own_top_level_names(source_dirs)
    names = imported_names(project_python_files(root))
    allowed: dict[str, bool] = {}
    for top in sorted({name.split(".")[0] for name in names} - own):
        allowed[top] = _is_third_party(top, root)
    result = [
        name
        for name in sorted(names)
        if allowed.get(name.split(".")[0]) and name not in sys.modules
    ]
    return result


def _is_third_party(name: str, root: Path) -> bool:
    if name in sys.modules:
        return True
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    locations = [spec.origin or "", *(spec.submodule_search_locations or [])]
    return not any(is_project_path(location, root) for location in locations)


def is_project_path(location: str, root: Path) -> bool:
    """True for a file of the project itself; a virtual environment inside it does not count."""
    try:
        rel = Path(location).relative_to(root)
    except ValueError:
        return False
    return not ({"site-packages", "dist-packages"} & set(rel.parts))


def warm_imports(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """Import ``names``; returns (imported, failed). A failure is never fatal."""
    done, failed = [], []
    for name in names:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ModuleNotFoundError:
            continue  # ``from pkg import name`` where name is no module: expected
        except BaseException:  # noqa: BLE001 - a module that fails here fails in the worker too
            failed.append(name)
        else:
            done.append(name)
    return done, failed


# -- the zygote process ---------------------------------------------------------------


class Zygote:
    """The warm process's loop: fork on request, reap, report exits."""

    def __init__(self, config: ServerConfig, listen_fd: int, control: socket.socket) -> None:
        self.config = config
        self.listen_fd = listen_fd
        self.control = control
        self.children: set[int] = set()
        self.retiring = False
        self.terminate = False
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        self.can_fork = True
        self.root = Path.cwd()
        self.own: set[str] = set()

    def send(self, **message: Any) -> None:
        with contextlib.suppress(OSError):
            self.control.send(json.dumps(message).encode())

    def warm(self) -> None:
        from webkit_cli.project import find_project, load_dotenv_files

        started = time.perf_counter()
        project = find_project(self.config.project_dir)
        # The workers inherit this environment; the supervisor never loads .env itself,
        # so a changed .env takes effect when the zygote is rebuilt.
        load_dotenv_files(project.root)
        for directory in reversed(project.source_dirs):
            if str(directory) not in sys.path:
                sys.path.insert(0, str(directory))
        self.root = project.root
        self.own = own_top_level_names(project.source_dirs)
        base_done, _ = warm_imports(BASE_MODULES)
        extra = third_party_imports(project.root, project.source_dirs)
        extra_done, extra_failed = warm_imports(extra)
        from webkit_cli.server.worker import werkzeug_version

        werkzeug_version()
        self._freeze()
        threads = threading.active_count()
        self.can_fork = threads == 1
        self.send(
            event="warm",
            ms=round((time.perf_counter() - started) * 1000, 1),
            modules=extra_done,
            failed=extra_failed,
            threads=threads,
            ok=self.can_fork,
        )

    def _freeze(self) -> None:
        # Everything imported so far is permanent: the workers' garbage collector skips it
        # and does not touch (and so copy) the shared pages.
        gc.collect()
        gc.freeze()

    def learn(self, names: list[str]) -> None:
        """Import what a worker imported lazily (third-party only) for the next workers."""
        wanted = []
        for name in names:
            top = name.split(".")[0]
            if name in sys.modules or top in self.own or name.startswith("__main__"):
                continue
            if _is_third_party(top, self.root):
                wanted.append(name)
        done, failed = warm_imports(wanted)
        self._freeze()
        threads = threading.active_count()
        if threads > 1:
            self.can_fork = False
        self.send(event="learned", modules=done, failed=failed, threads=threads)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGTERM:
            self.terminate = True

    def run(self) -> int:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGCHLD, self._on_signal)
        signal.set_wakeup_fd(self.wake_w)
        self.warm()
        while True:
            watched = [self.wake_r] if self.retiring else [self.wake_r, self.control]
            try:
                readable, _, _ = select.select(watched, [], [])
            except InterruptedError:  # pragma: no cover - PEP 475 retries
                continue
            if self.wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    os.read(self.wake_r, 4096)
            self._reap()
            if self.terminate:
                return self._kill_children()
            if self.control in readable:
                self._handle_control()
            if self.retiring and not self.children:
                return 0

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
            self.learn([str(name) for name in message.get("modules", [])])
            return
        if message.get("cmd") == "fork" and fds:
            if not self.can_fork:
                # Said on the worker's own channel, so the supervisor reads it before the
                # end of file that closing the channel causes.
                refusal = {"event": "refused", "threads": threading.active_count()}
                with contextlib.suppress(OSError):
                    os.write(fds[0], (json.dumps(refusal) + "\n").encode())
                for fd in fds:
                    os.close(fd)
                return
            report = message.get("report")
            self._fork(str(message["generation"]), fds[0], report if report else None)
            for fd in fds[1:]:
                os.close(fd)

    def _fork(self, generation: str, control_fd: int, report: str | None = None) -> None:
        # Unflushed output would be written twice: once by us, once by the child.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 70
            try:
                self._become_worker()
                from webkit_cli.server.worker import run_worker

                code = run_worker(self.config, self.listen_fd, control_fd, generation, report)
            except BaseException:  # noqa: BLE001 - never fall back into the zygote loop
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(control_fd)
        self.children.add(pid)

    def _become_worker(self) -> None:
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
            self.send(event="exited", pid=pid, code=os.waitstatus_to_exitcode(status))

    def _kill_children(self) -> int:
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
    zygote = Zygote(config, int(args[1]), control)
    code = 1
    try:
        code = zygote.run()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


# -- the supervisor's side ------------------------------------------------------------


class WarmProcess:
    """The supervisor's handle on one zygote."""

    def __init__(
        self,
        config: ServerConfig,
        listen_fd: int,
        on_message: Callable[[WarmProcess, dict[str, Any] | None], None],
    ) -> None:
        import subprocess

        self.config = config
        self.stamp = site_packages_stamp()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = parent
        self.ready = False
        self.ok = True
        self.info: dict[str, Any] = {}
        self.exit_codes: dict[int, int] = {}
        self.sent_modules: set[str] = set()
        self._cond = threading.Condition()
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "webkit_cli.server._warm",
                    config.to_json(),
                    str(listen_fd),
                    str(child.fileno()),
                ],
                pass_fds=(listen_fd, child.fileno()),
            )
        finally:
            child.close()
        self._on_message = on_message
        self._reader = threading.Thread(target=self._read, name="webkit-warm", daemon=True)
        self._reader.start()

    @property
    def stale(self) -> bool:
        """Installed packages changed since this zygote imported them."""
        return site_packages_stamp() != self.stamp

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
                if message.get("event") == "warm":
                    self.ready = True
                    self.ok = bool(message.get("ok"))
                    self.info = message
                elif message.get("event") == "exited":
                    self.exit_codes[int(message["pid"])] = int(message["code"])
                self._cond.notify_all()
            self._on_message(self, message)

    def exit_code(self, pid: int, timeout: float) -> int | None:
        """The exit code of a worker it forked, waiting a little for the report."""
        with self._cond:
            self._cond.wait_for(lambda: pid in self.exit_codes, timeout)
            return self.exit_codes.get(pid)

    def learn(self, modules: list[str]) -> None:
        """Pass on what a worker imported lazily; each name is sent once."""
        new = [name for name in modules if name not in self.sent_modules]
        if not new:
            return
        self.sent_modules.update(new)
        data = json.dumps({"cmd": "learn", "modules": new}).encode()
        if len(data) < MAX_MESSAGE:
            with contextlib.suppress(OSError):
                self.sock.send(data)

    def fork(self, generation: str, worker_fd: int, report: str | None = None) -> bool:
        """Ask for a worker; ``False`` when the zygote is gone."""
        data = json.dumps({"cmd": "fork", "generation": generation, "report": report}).encode()
        try:
            socket.send_fds(self.sock, [data], [worker_fd])
        except OSError:
            return False
        return True

    def retire(self) -> None:
        """No more forks: the zygote exits once its workers have."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

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
