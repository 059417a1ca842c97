"""Start the real ``webkit run`` in a subprocess, talk HTTP to it, stop it, find leftovers.

Shared by the server tests. The server runs in its own session (process group), so
every process it starts - warm process and workers - can be found afterwards by a
scan of ``/proc`` for that group: no psutil needed.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

WEBKIT = [sys.executable, "-m", "webkit_cli"]
URL_RE = re.compile(r"http://127\.0\.0\.1:(\d+)/")


def group_members(pgid: int) -> list[tuple[int, str]]:
    """(pid, state) of every process in process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid:
            found.append((int(entry.name), fields[0]))
    return found


def http_get(
    port: int, path: str = "/", *, headers: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, dict[str, str], str]:
    """One request on a new connection: (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


class Server:
    """A running ``webkit run`` (``--port 0``) with its output captured in files."""

    def __init__(
        self,
        cwd: Path,
        args: Sequence[str] = (),
        *,
        env: dict[str, str] | None = None,
        wait: bool = True,
        any_port: bool = True,
    ) -> None:
        self.cwd = cwd
        self.out_path = cwd.parent / f"webkit-{os.getpid()}-{id(self)}.out"
        self.err_path = cwd.parent / f"webkit-{os.getpid()}-{id(self)}.err"
        full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", **(env or {})}
        # An empty value unsets (e.g. PYTHONDONTWRITEBYTECODE, which any value turns on).
        full_env = {k: v for k, v in full_env.items() if v != "" or k not in (env or {})}
        args = list(args)
        if any_port and not any(a.startswith("--port") for a in args):
            args += ["--port", "0"]
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [*WEBKIT, "run", *args],
                cwd=cwd,
                env=full_env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pgid = self.proc.pid
        self.port = 0
        if wait:
            self.port = self.wait_for_url()
            self.wait_until_serving()

    # -- output -------------------------------------------------------------------------

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def wait_for_url(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = URL_RE.search(self.stderr)
            if match:
                return int(match.group(1))
            if self.proc.poll() is not None:
                raise AssertionError(f"webkit run exited early:\n{self.stderr}")
            time.sleep(0.02)
        raise AssertionError(f"no URL printed:\n{self.stderr}")

    def wait_until_serving(self, timeout: float = 20.0) -> None:
        """The URL is printed before the first worker has imported the app: wait for it.

        (A file written before then would be imported as is, with no reload to see.)
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                http_get(self.port, "/", timeout=timeout)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def wait_for_output(self, text: str, timeout: float = 15.0, *, count: int = 1) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stderr.count(text) >= count:
                return self.stderr
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not printed {count} time(s):\n{self.stderr}")

    # -- HTTP -------------------------------------------------------------------------

    def get(self, path: str = "/", **kwargs: object) -> tuple[int, dict[str, str], str]:
        return http_get(self.port, path, **kwargs)  # type: ignore[arg-type]

    def wait_for_body(self, path: str, predicate: object, timeout: float = 15.0) -> str:
        """Poll ``path`` until ``predicate(body)`` holds; returns the body."""
        deadline = time.monotonic() + timeout
        body = ""
        while time.monotonic() < deadline:
            _, _, body = self.get(path)
            if predicate(body):  # type: ignore[operator]
                return body
            time.sleep(0.03)
        raise AssertionError(f"last body of {path}: {body!r}\n{self.stderr}")

    # -- processes --------------------------------------------------------------------

    def members(self) -> list[tuple[int, str]]:
        return group_members(self.pgid)

    def children(self, pid: int) -> list[int]:
        """Direct children of ``pid`` in the server's group."""
        found = []
        for member, _ in self.members():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{member}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(member)
        return found

    def warm_pids(self) -> list[int]:
        """The warm processes: children of the supervisor running ``_warm``.

        (Workers forked from it inherit its command line, but their parent is the warm
        process itself.)
        """
        pids = []
        for pid in self.children(self.proc.pid):
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"webkit_cli.server._warm" in cmdline:
                    pids.append(pid)
        return pids

    def stop(self, sig: int = signal.SIGINT, timeout: float = 10.0) -> float:
        """Signal the supervisor, wait for it; returns the seconds it took to exit."""
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"webkit run did not stop on {sig}:\n{self.stderr}") from None
        return time.monotonic() - start

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)

    def assert_nothing_left(self, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while self.members() and time.monotonic() < deadline:
            time.sleep(0.02)
        left = self.members()
        if left:
            self.kill()
        assert left == [], f"processes left behind: {left}\n{self.stderr}"

    def close(self) -> None:
        """Stop (if needed), check nothing is left, remove the capture files."""
        try:
            if self.proc.poll() is None:
                self.stop()
            self.assert_nothing_left()
        finally:
            for path in (self.out_path, self.err_path):
                path.unlink(missing_ok=True)
