"""Start a server in a subprocess, wait for what it prints, stop it, find what it left.

The one server harness of the suite: ``tests/server`` wraps it for ``webkit run`` on small
apps (``tests/server/_server.py``), ``tests/templates`` for ``webkit run`` and gunicorn on
generated projects (``tests/templates/conftest.py``).

Every server runs in its own session (process group), so every process it starts - warm
process, workers, gunicorn's workers - can be found afterwards by a scan of ``/proc`` for
that group: no psutil needed. Its output goes to files, not pipes, so a chatty server never
blocks on a full pipe and a failing test can quote everything it printed.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: How often a wait polls: short next to any server start, long next to a /proc scan.
POLL_INTERVAL = 0.02

_capture_names = itertools.count()


def wait_until(predicate: Callable[[], T], timeout: float, message: str | Callable[[], str]) -> T:
    """Poll ``predicate`` until it returns a true value, and return that value.

    When ``timeout`` seconds pass first, the test fails with ``message`` (a callable is
    called then, so it can quote the server's output as it is at the end). The predicate
    is always asked once more after the deadline: a slow machine never fails a wait whose
    condition holds.
    """
    deadline = time.monotonic() + timeout
    while True:
        expired = time.monotonic() >= deadline
        value = predicate()
        if value:
            return value
        if expired:
            text = message() if callable(message) else message
            raise AssertionError(f"still waiting after {timeout:g} s: {text}")
        time.sleep(POLL_INTERVAL)


# -- processes ------------------------------------------------------------------------------


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name, or ``None`` once it is gone.

    The command name may hold spaces and parentheses: split after the last ``)``.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def group_members(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``.

    Zombies are left out: a zombie has exited, and one whose parent still runs is found
    through that parent, which is in the group too.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        if fields is not None and int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def children(pid: int, among: Sequence[int]) -> list[int]:
    """The processes of ``among`` whose parent is ``pid``."""
    found = []
    for member in among:
        fields = _stat_fields(member)
        if fields is not None and int(fields[1]) == pid:
            found.append(member)
    return found


# -- HTTP -----------------------------------------------------------------------------------


def http_get(
    port: int, path: str = "/", *, headers: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, dict[str, str], str]:
    """One GET on a new connection to 127.0.0.1: (status, lower-cased headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


# -- the server process ---------------------------------------------------------------------


class ServerProcess:
    """``command`` started in its own session, with stdout and stderr captured in files.

    ``merge_output=True`` writes both streams to one file (read it as :attr:`output`);
    otherwise :attr:`stdout` and :attr:`stderr` are apart. The files live in ``log_dir``
    and are removed by :meth:`close`.
    """

    #: How :meth:`stop` ends the server, and how long :meth:`assert_nothing_left` waits.
    STOP_SIGNAL: int = signal.SIGTERM
    STOP_WHOLE_GROUP = False
    STOP_TIMEOUT = 10.0
    LEFTOVER_TIMEOUT = 3.0

    def __init__(
        self,
        command: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        log_dir: Path,
        merge_output: bool = False,
    ) -> None:
        self.command = list(command)
        stem = f"server-{os.getpid()}-{next(_capture_names)}"
        self.out_path = log_dir / f"{stem}.out"
        self.err_path = self.out_path if merge_output else log_dir / f"{stem}.err"
        with self.out_path.open("wb") as out, self.err_path.open("ab") as err:
            self.proc = subprocess.Popen(
                self.command,
                cwd=cwd,
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT if merge_output else err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        # start_new_session=True: the leader's pid is the group's id.
        self.pgid = self.proc.pid

    # -- output ---------------------------------------------------------------------------

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    @property
    def output(self) -> list[str]:
        """The lines printed so far (both streams when merged), each with its newline."""
        return self.stdout.splitlines(keepends=True)

    def describe(self) -> str:
        """What a failure message quotes: the command and everything it printed."""
        printed = self.stdout if self.err_path == self.out_path else self.stdout + self.stderr
        return f"{' '.join(self.command)}\n{printed}"

    def wait_for_match(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """The first match of ``pattern`` in stderr (or the merged output); fails the test
        when the server exits or ``timeout`` passes before it is printed."""

        def printed() -> re.Match[str] | None:
            match = pattern.search(self.stderr)
            if match is None and self.proc.poll() is not None:
                match = pattern.search(self.stderr)  # printed just before it exited
                if match is None:
                    raise AssertionError(f"the server exited early:\n{self.describe()}")
            return match

        return wait_until(
            printed, timeout, lambda: f"{pattern.pattern!r} not printed:\n{self.describe()}"
        )

    def wait_for_output(self, text: str, timeout: float = 15.0, *, count: int = 1) -> str:
        """Stderr (or the merged output) once it holds ``text`` ``count`` times."""
        return wait_until(
            lambda: self.stderr if self.stderr.count(text) >= count else "",
            timeout,
            lambda: f"{text!r} not printed {count} time(s):\n{self.stderr}",
        )

    # -- processes ------------------------------------------------------------------------

    def members(self) -> list[int]:
        """The live processes of the server's group, itself included."""
        return group_members(self.pgid)

    def children(self, pid: int) -> list[int]:
        """Direct children of ``pid`` in the server's group."""
        return children(pid, self.members())

    def stop(self, sig: int | None = None, timeout: float | None = None) -> float:
        """Send ``sig`` (default :attr:`STOP_SIGNAL`) to the leader, or to the whole group
        when :attr:`STOP_WHOLE_GROUP`, and wait for the leader to exit; returns the seconds
        that took. A server that does not exit in time is killed and fails the test."""
        sig = self.STOP_SIGNAL if sig is None else sig
        timeout = self.STOP_TIMEOUT if timeout is None else timeout
        start = time.monotonic()
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if self.STOP_WHOLE_GROUP:
                    os.killpg(self.pgid, sig)
                else:
                    self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            name = signal.Signals(sig).name
            raise AssertionError(f"the server did not stop on {name}:\n{self.describe()}") from None
        return time.monotonic() - start

    def kill(self) -> None:
        """SIGKILL the whole group and reap the leader."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)

    def assert_nothing_left(self, timeout: float | None = None) -> None:
        """Every process of the group ends within ``timeout`` (default
        :attr:`LEFTOVER_TIMEOUT`); leftovers are killed and fail the test."""
        timeout = self.LEFTOVER_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while self.members() and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        left = self.members()
        if left:
            self.kill()
        assert left == [], f"processes left behind: {left}\n{self.describe()}"

    def close(self) -> None:
        """Stop (if it runs), check nothing is left, remove the capture files. Idempotent."""
        try:
            if self.proc.poll() is None:
                self.stop()
            self.assert_nothing_left()
        finally:
            for path in {self.out_path, self.err_path}:
                path.unlink(missing_ok=True)

    def abandon(self) -> None:
        """Kill a server whose start failed (the failure already quoted its output)."""
        self.kill()
        for path in {self.out_path, self.err_path}:
            path.unlink(missing_ok=True)
