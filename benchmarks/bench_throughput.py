"""Requests/s of the dev server with its request log on: ``webkit run`` vs ``flask run``.

Both servers serve the same small Flask app (a template-rendered page) from the same
directory, are started once, and are loaded in alternating bursts from a second process
on loopback: ``wrk`` (Debian package ``wrk``) for a fixed time when installed, else this
script re-run with ``--client``, which sends a fixed number of requests from a few
threads, each on a new connection closed as soon as the body is read (werkzeug closes
every connection; a client that waits for the server to close would measure werkzeug's
10 ms drain wait instead of the server). The Python client is slower than the servers
on a small machine, so its ratios are closer to 1 than they should be: prefer wrk.
Server output goes to pipes drained by this process, like a terminal, and the log
lines are counted to prove the log was on. The figure is the median of the bursts.

    python benchmarks/bench_throughput.py [--quick]
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Result, print_table, tool  # noqa: E402

APP = '''\
from flask import Flask, render_template_string

app = Flask(__name__)

PAGE = """<!doctype html><html><head><title>{{ title }}</title>
<link rel="stylesheet" href="{{ url_for('static', filename='site.css') }}"></head>
<body><h1>{{ title }}</h1><ul>{% for item in items %}<li>{{ item }}</li>{% endfor %}</ul>
</body></html>"""


@app.get("/")
def index():
    return render_template_string(PAGE, title="Throughput", items=range(10))
'''

URL_RE = re.compile(rb"http://127\.0\.0\.1:(\d+)/")


# --- the load generator (runs in its own process) ------------------------------------------


def _client_main(port: int, total: int, threads: int) -> None:
    """Send ``total`` GET / requests from ``threads`` threads; print "seconds ok failed"."""
    request = f"GET /?q=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench\r\n\r\n".encode()
    counter = iter(range(total))
    lock = threading.Lock()
    results = {"ok": 0, "failed": 0}

    def one() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    return False
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            while len(body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    return False
                body += chunk
            return head.startswith(b"HTTP/1.1 200")

    def worker() -> None:
        ok = failed = 0
        while True:
            with lock:
                if next(counter, None) is None:
                    break
            try:
                if one():
                    ok += 1
                else:
                    failed += 1
            except OSError:
                failed += 1
        with lock:
            results["ok"] += ok
            results["failed"] += failed

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    print(f"{elapsed} {results['ok']} {results['failed']}")


# --- the servers -------------------------------------------------------------------------


class Server:
    """A server process whose output is drained (and its lines counted) by a thread."""

    def __init__(self, name: str, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.name = name
        self.lines = 0
        self.port: int | None = None
        self._port_seen = threading.Event()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**{k: v for k, v in os.environ.items() if k != "NO_COLOR"}, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._drains = [
            threading.Thread(target=self._drain, args=(stream,), daemon=True)
            for stream in (self.proc.stdout, self.proc.stderr)
        ]
        for t in self._drains:
            t.start()

    def _drain(self, stream: object) -> None:
        for line in iter(stream.readline, b""):  # type: ignore[attr-defined]
            self.lines += 1
            if self.port is None:
                match = URL_RE.search(line)
                if match:
                    self.port = int(match.group(1))
                    self._port_seen.set()

    def wait_ready(self, port: int | None = None, timeout: float = 20) -> int:
        if port is not None:
            self.port = port
        elif not self._port_seen.wait(timeout):
            raise RuntimeError(f"{self.name} printed no URL")
        assert self.port is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"GET /?warmup HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    if sock.recv(16).startswith(b"HTTP/1.1 200"):
                        return self.port
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in self._drains:
            t.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _burst(port: int, total: int, threads: int, seconds: int) -> float:
    """Requests/s of one burst: wrk when installed (a C client), else the Python client."""
    wrk = shutil.which("wrk")
    if wrk is not None:
        out = subprocess.run(
            [wrk, "-t1", f"-c{threads * 2}", f"-d{seconds}s", f"http://127.0.0.1:{port}/?q=1"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if "Socket errors" in out or "Non-2xx" in out:
            raise RuntimeError(f"failed requests on port {port}:\n{out}")
        return float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))  # type: ignore[union-attr]
    out = subprocess.run(
        [sys.executable, __file__, "--client", str(port), str(total), str(threads)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    elapsed, ok, failed = float(out[0]), int(out[1]), int(out[2])
    if failed or ok != total:
        raise RuntimeError(f"{failed} failed requests on port {port}")
    return ok / elapsed


def measure(quick: bool) -> dict[str, float]:
    """Median requests/s of each server over alternating bursts."""
    total = 1000 if quick else 3000
    seconds = 2 if quick else 4
    rounds = 3 if quick else 7
    threads = 8
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "app.py").write_text(APP, encoding="utf-8")
        (root / "static").mkdir()
        (root / "static" / "site.css").write_text("body { margin: 0 }\n", encoding="utf-8")
        # Colour on for both: werkzeug styles its lines whatever the output; rich needs FORCE.
        base = {"FORCE_COLOR": "1"}
        webkit = tool("webkit")
        servers: dict[str, Server] = {}
        flask_port = _free_port()
        specs = {
            "flask run": ([tool("flask"), "--app", "app", "run", "--port", str(flask_port)], {}),
            "webkit rich": ([webkit, "run", "--no-reload", "--port", "0"], {}),
            "webkit plain": (
                [webkit, "run", "--no-reload", "--port", "0", "--log-format", "plain"],
                {},
            ),
            "webkit json": (
                [webkit, "run", "--no-reload", "--port", "0", "--log-format", "json"],
                {},
            ),
            "webkit no log": ([webkit, "run", "--no-reload", "--port", "0", "--no-access-log"], {}),
        }
        try:
            for name, (argv, env) in specs.items():
                servers[name] = Server(name, argv, root, {**base, **env})
            ports = {
                name: server.wait_ready(flask_port if name == "flask run" else None)
                for name, server in servers.items()
            }
            samples: dict[str, list[float]] = {name: [] for name in servers}
            for _ in range(rounds):
                for name in servers:
                    samples[name].append(_burst(ports[name], total, threads, seconds))
            for name, server in servers.items():
                if name != "webkit no log" and server.lines < 100 * rounds:
                    raise RuntimeError(f"{name} wrote {server.lines} lines: was its log on?")
        finally:
            for server in servers.values():
                server.stop()
    return {name: statistics.median(values) for name, values in samples.items()}


def _werkzeug_line_us(count: int) -> float:
    """Microseconds werkzeug's request handler spends on one log line (what flask run does)."""
    import io
    import logging

    from werkzeug.serving import WSGIRequestHandler

    handler = object.__new__(WSGIRequestHandler)
    handler.path = "/?q=1"
    handler.command = "GET"
    handler.request_version = "HTTP/1.1"
    handler.requestline = "GET /?q=1 HTTP/1.1"
    handler.client_address = ("127.0.0.1", 50000)
    handler.environ = {"REMOTE_ADDR": "127.0.0.1"}
    logger = logging.getLogger("werkzeug")
    logger.handlers[:] = [logging.StreamHandler(io.StringIO())]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    start = time.perf_counter()
    for _ in range(count):
        handler.log_request(200)
    return (time.perf_counter() - start) / count * 1e6


def _webkit_line_us(count: int, log_format: str) -> float:
    """Microseconds webkit's handler spends on one line, capture object included."""
    import io

    from rich.console import Console

    from webkit_cli.server.config import ServerConfig
    from webkit_cli.server.wsgi import CAPTURE_KEY, Capture, make_request_handler

    config = ServerConfig.from_options(log_format=log_format)
    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor")
    handler_cls = make_request_handler(config, console=console, stream=io.StringIO())
    handler: Any = object.__new__(handler_cls)
    handler.client_address = ("127.0.0.1", 50000)
    environ = {
        "PATH_INFO": "/",
        "QUERY_STRING": "q=1",
        "REQUEST_METHOD": "GET",
        "REMOTE_ADDR": "127.0.0.1",
    }
    handler.environ = environ
    start = time.perf_counter()
    for _ in range(count):
        capture = Capture(False)
        capture.size = 55
        environ[CAPTURE_KEY] = capture
        handler._webkit_in_wsgi = True
        handler.log_request(200)  # a sized response is logged here, as its headers go out
        handler._webkit_in_wsgi = False
    return (time.perf_counter() - start) / count * 1e6


def run(quick: bool) -> list[Result]:
    count = 5000 if quick else 20000
    werkzeug_us = statistics.median(_werkzeug_line_us(count) for _ in range(5))
    line_costs = [
        Result(
            name=f"log cost per request ({fmt}), in-process",
            unit="µs",
            webkit=statistics.median(_webkit_line_us(count, fmt) for _ in range(5)),
            anchor_name="werkzeug (flask run)",
            anchor=werkzeug_us,
            target="<= 1x",
        )
        for fmt in ("rich", "json")
    ]
    rates = measure(quick)
    flask = rates["flask run"]
    results = [
        Result(
            name=f"requests/s, request log on ({label})",
            unit="req/s",
            webkit=rates[f"webkit {label}"],
            anchor_name="flask run",
            anchor=flask,
            target=">= 0.9x",
        )
        for label in ("rich", "plain", "json")
    ]
    results.append(
        Result(
            name="requests/s, --no-access-log",
            unit="req/s",
            webkit=rates["webkit no log"],
            anchor_name="flask run",
            anchor=flask,
            target="(reference)",
        )
    )
    return results + line_costs


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--client":
        _client_main(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        print_table(run(quick="--quick" in sys.argv))
