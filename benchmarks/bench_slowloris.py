"""Slow clients against the dev server: ``webkit run`` vs ``flask run`` (werkzeug threaded).

Figures, each measured on both servers in the same run, on loopback:

- a request answered while 4,000 connections hold a partial request head, and after all
  4,000 close at once (the moment that froze werkzeug's threaded server for minutes);
- SIGTERM to exit with the 4,000 held;
- with ``ulimit -n 256`` (macOS's default; set in the child before it starts): CPU of the
  server's processes while 400 connections are held (werkzeug's accept loop spins on
  ``EMFILE``), and how long a new client waits for an answer (200 or 503) meanwhile.

Every wait is capped (``CAP`` seconds): a server that does not answer by then is reported
at the cap, with a note. All loops are bounded; servers are killed at the end.

    python benchmarks/bench_slowloris.py [--quick]
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Result, bench_env, print_table, tool  # noqa: E402

APP = """\
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return "home page"
"""

URL_RE = re.compile(rb"http://127\.0\.0\.1:(\d+)/")
PARTIAL_HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
TICKS = os.sysconf("SC_CLK_TCK")


class Server:
    """A server in its own session, output drained by a thread; ``nofile`` caps its fds."""

    def __init__(self, argv: list[str], cwd: Path, port: int | None, nofile: int | None) -> None:
        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=bench_env({"NO_COLOR": "1"}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=limit,
        )
        self.port = port
        self._seen = threading.Event()
        if port is not None:
            self._seen.set()
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in iter(self.proc.stdout.readline, b""):
            if self.port is None:
                match = URL_RE.search(line)
                if match:
                    self.port = int(match.group(1))
                    self._seen.set()

    def wait_ready(self, timeout: float = 30) -> int:
        if not self._seen.wait(timeout):
            raise RuntimeError(f"{self.proc.args} printed no URL")
        assert self.port is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ask(self.port, 2)[0] == 200:
                return self.port
            time.sleep(0.05)
        raise RuntimeError(f"{self.proc.args} did not answer")

    def cpu_seconds(self) -> float:
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.proc.pid:
                total += int(fields[11]) + int(fields[12])
        return total / TICKS

    def terminate(self, cap: float) -> float:
        """Seconds from SIGTERM to exit (``cap`` when it had to be killed)."""
        start = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(cap)
            took = time.monotonic() - start
        except subprocess.TimeoutExpired:
            took = cap
        self.kill()
        return took

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        self._drain.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def ask(port: int, timeout: float) -> tuple[int | None, float]:
    """(status or None, seconds) of one GET / on a new connection, waiting at most ``timeout``."""
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            data = sock.recv(64)
    except OSError:
        return None, time.monotonic() - start
    match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return (int(match.group(1)) if match else None), time.monotonic() - start


def answered_within(port: int, cap: float, accept: Callable[[int | None], bool]) -> float:
    """Seconds until a request gets an accepted status (retrying), or ``cap``."""
    start = time.monotonic()
    while True:
        left = cap - (time.monotonic() - start)
        if left <= 0:
            return cap
        status, _ = ask(port, left)
        if accept(status):
            return time.monotonic() - start
        time.sleep(0.01)


@contextlib.contextmanager
def held(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections with a partial request head each (fewer if connects fail)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            except OSError:
                break
            socks.append(sock)
            with contextlib.suppress(OSError):
                sock.sendall(PARTIAL_HEAD)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def raise_own_limit(count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 500:
        new = count + 500 if hard == resource.RLIM_INFINITY else min(count + 500, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def commands(root: Path) -> dict[str, tuple[list[str], int | None]]:
    port = free_port()
    return {
        "webkit run": ([tool("webkit"), "run", "--no-reload", "--port", "0"], None),
        "flask run": ([tool("flask"), "--app", "app", "run", "--port", str(port)], port),
    }


def slowloris(root: Path, count: int, cap: float) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    for name, (argv, port) in commands(root).items():
        server = Server(argv, root, port, None)
        try:
            port = server.wait_ready()
            with held(port, count) as socks:
                time.sleep(1.0)  # let the server take them all in
                during = answered_within(port, cap, lambda s: s == 200)
                opened = len(socks)
            after = answered_within(port, cap, lambda s: s == 200)
            with held(port, count):
                time.sleep(1.0)
                stop = server.terminate(cap)
        finally:
            server.kill()
        figures[name] = {"during": during, "after": after, "stop": stop, "opened": opened}
    return figures


def descriptors(root: Path, count: int, seconds: float, cap: float) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    for name, (argv, port) in commands(root).items():
        server = Server(argv, root, port, 256)
        try:
            port = server.wait_ready()
            with held(port, count):
                time.sleep(1.0)
                before, start = server.cpu_seconds(), time.monotonic()
                time.sleep(seconds)
                cpu = (server.cpu_seconds() - before) / (time.monotonic() - start) * 100
                # Served or refused, either is an answer; a hang is not.
                wait = answered_within(port, cap, lambda s: s in (200, 503))
        finally:
            server.kill()
        figures[name] = {"cpu": cpu, "wait": wait}
    return figures


def run(quick: bool) -> list[Result]:
    count = 4000
    cap = 10.0 if quick else 30.0
    raise_own_limit(count)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "app.py").write_text(APP, encoding="utf-8")
        slow = slowloris(root, count, cap)
        fds = descriptors(root, 400, 2.0 if quick else 5.0, cap)

    held_note = f"{int(slow['webkit run']['opened'])} held"
    return [
        _result(
            f"request answered while {count} slow heads wait ({held_note})",
            slow,
            "during",
            "ms",
            "<= 1000 ms",
            cap,
        ),
        _result(
            f"request answered after {count} slow connections close",
            slow,
            "after",
            "ms",
            "<= 1000 ms",
            cap,
        ),
        _result(
            f"SIGTERM to exit, {count} slow connections held", slow, "stop", "ms", "< 1000 ms", cap
        ),
        _result(
            "CPU while 400 connections are held, ulimit -n 256",
            fds,
            "cpu",
            "% of a core",
            "< 10 %",
            cap,
        ),
        _result(
            "new client answered (200 or 503), ulimit -n 256, 400 held",
            fds,
            "wait",
            "ms",
            "<= 1000 ms",
            cap,
        ),
    ]


def _result(
    name: str, table: dict[str, dict[str, float]], key: str, unit: str, target: str, cap: float
) -> Result:
    webkit, flask = table["webkit run"][key], table["flask run"][key]
    capped = [n for n, v in (("webkit", webkit), ("flask run", flask)) if unit == "ms" and v >= cap]
    note = f"{' and '.join(capped)}: no answer in {cap:.0f} s" if capped else ""
    if unit == "ms":  # measured in seconds, shown in milliseconds
        webkit, flask = webkit * 1000, flask * 1000
    return Result(name, unit, webkit, "flask run", flask, target, note)


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
