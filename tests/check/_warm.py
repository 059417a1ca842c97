"""App-import children forked from one warm process, for the check tests.

``webkit check`` imports the app in a child (:mod:`webkit_cli.check.appimport`) that
spends about 0.2 s of CPU loading Python, webkit and Flask before it reads what to
import, and 0.4 s more when the app uses Flask-SQLAlchemy, Flask-Migrate and Alembic: most
of the check tests' CPU. :func:`prestart` gives the tests the same child, forked instead
from a process (``_zygote.py``) that has loaded all that once per test session: it runs
webkit's own ``_child.main`` on the same pipes, with the caller's environment and folder,
in its own session, and :class:`AppImport` drives it exactly as a spawned one
(``test_warm.py`` holds the two to the same view from the app).

When the caller's ``PYTHON*`` or locale variables are not those the warm process started
with (a test that hides Alembic behind ``PYTHONPATH``), or the test asks for the real
thing (the ``spawned_children`` fixture), :func:`prestart` spawns as webkit does.
"""

from __future__ import annotations

import atexit
import os
import select
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from webkit_cli.check.appimport import AppImport
from webkit_cli.commands._options import DEFAULT_IMPORT_TIMEOUT

ZYGOTE = Path(__file__).with_name("_zygote.py")

#: the environment as pytest started: the warm process starts with it whenever it starts
_START_ENV = dict(os.environ)

#: AppImport.prestart itself, before any test replaced it
spawn = AppImport.prestart


def _python_settings(env: dict[str, str]) -> dict[str, str]:
    """What Python reads of the environment when it starts (and a fork would not): its own
    variables and the locale (stdio and file-system encodings, UTF-8 mode)."""
    return {k: v for k, v in env.items() if k.startswith(("PYTHON", "LC_")) or k == "LANG"}


class WarmProcess:
    """The ``subprocess.Popen`` of a forked child, as far as :class:`AppImport` uses one."""

    def __init__(self, pid: int, status: int, stdout: IO[bytes]) -> None:
        self.pid = pid
        self.args = ["warm child", str(pid)]
        self.stdout = stdout
        self.returncode: int | None = None
        self._status = status
        self._lock = threading.Lock()

    def wait(self, timeout: float | None = None) -> int:
        with self._lock:
            if self.returncode is None:
                ready, _, _ = select.select([self._status], [], [], timeout)
                if not ready:
                    raise subprocess.TimeoutExpired(self.args, timeout or 0)
                text = os.read(self._status, 64)
                os.close(self._status)
                # the warm process reports each child it reaps; none: it died itself
                self.returncode = int(text) if text else -9
            return self.returncode

    def poll(self) -> int | None:
        try:
            return self.wait(0)
        except subprocess.TimeoutExpired:
            return None


class _Zygote:
    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-c", ZYGOTE.read_text(encoding="utf-8"), str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            env=_START_ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            cwd="/",
            # out of the terminal's reach (Ctrl-C): it ends when this process's socket does
            start_new_session=True,
        )
        theirs.close()
        self.control = ours
        self.lock = threading.Lock()

    def fork(self, env: dict[str, str], cwd: str) -> AppImport:
        import json

        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        output_read, output_write = os.pipe()
        status_read, status_write = os.pipe()
        sent = (request_read, reply_write, output_write, status_write)
        try:
            with self.lock:
                self.control.sendmsg(
                    [json.dumps({"env": env, "cwd": cwd}).encode()],
                    [(socket.SOL_SOCKET, socket.SCM_RIGHTS, bytes(memoryview(_ints(sent))))],
                )
                pid = int(self.control.recv(64))
        finally:
            for fd in sent:
                os.close(fd)
        proc: Any = WarmProcess(pid, status_read, os.fdopen(output_read, "rb"))
        requests = os.fdopen(request_write, "w", encoding="utf-8")
        replies = os.fdopen(reply_read, "r", encoding="utf-8")
        return AppImport(proc, requests, replies, DEFAULT_IMPORT_TIMEOUT)

    def close(self) -> None:
        if self.control.fileno() == -1:
            return
        self.control.close()  # the warm process ends at the end of its socket
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _ints(fds: tuple[int, ...]) -> Any:
    import array

    return array.array("i", fds)


_zygote: _Zygote | None = None


def prestart() -> AppImport:
    """A child as :meth:`AppImport.prestart` gives, forked from the warm process."""
    global _zygote
    env = dict(os.environ)
    if _python_settings(env) != _python_settings(_START_ENV):
        return spawn()
    if _zygote is None or _zygote.proc.poll() is not None:
        _zygote = _Zygote()
        atexit.register(_zygote.close)
    return _zygote.fork(env, str(Path.cwd()))


def use(monkeypatch: Any) -> None:
    """Have this test's app imports (``run_check`` and the ``check`` command) fork."""
    monkeypatch.setattr(AppImport, "prestart", classmethod(lambda cls: prestart()))


def shutdown() -> None:
    """End the warm process (its children's CPU is then counted in the caller's)."""
    global _zygote
    if _zygote is not None:
        _zygote.close()
        _zygote = None
