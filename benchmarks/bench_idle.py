"""Idle CPU of ``webkit run --reload`` (all its processes), as % of one core over ~10 s.

Anchors, measured the same way in the same run: ``flask run --reload`` (its stat
reloader walks every imported module's file each second) and ``uvicorn --reload``.
Also measures how long ``webkit run`` takes to stop on SIGINT with a request hung
inside a view and a live-reload event stream open (target: under a second).

    python benchmarks/bench_idle.py [--quick]
"""

from __future__ import annotations

import http.client
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Result, print_table  # noqa: E402
from bench_reload import Running, commands, free_port, make_project, wait_up  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """user + system CPU seconds of the live processes of a process group."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def idle_cpu(
    argv: list[str], port: int, seconds: float, project_root: Path, project: object
) -> float:
    server = Running(argv, project, project_root / "idle.log")  # type: ignore[arg-type]
    try:
        wait_up(port, server.proc)
        time.sleep(2.0)  # start-up work (warm imports, first request) is not idle time
        before, start = group_cpu_seconds(server.proc.pid), time.monotonic()
        time.sleep(seconds)
        after, end = group_cpu_seconds(server.proc.pid), time.monotonic()
    finally:
        server.stop()
    return (after - before) / (end - start) * 100


def stop_time(project: object, root: Path) -> float:
    """Seconds from SIGINT to the exit of every process, with a hung request and an SSE stream."""
    port = free_port()
    argv = commands(project, port)["webkit run --reload"]  # type: ignore[arg-type]
    server = Running(argv, project, root / "stop.log")  # type: ignore[arg-type]
    hung = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    stream = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        wait_up(port, server.proc)
        hung.request("GET", "/__bench_hang")
        stream.request("GET", "/__webkit/events")
        stream.getresponse()
        time.sleep(0.2)
        start = time.monotonic()
        os.kill(server.proc.pid, signal.SIGINT)
        server.proc.wait(10)
        while _group_alive(server.proc.pid):
            time.sleep(0.005)
        return time.monotonic() - start
    finally:
        hung.close()
        stream.close()
        server.stop()


def _group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


HANG_VIEW = """

@bp.get("/__bench_hang")
def bench_hang() -> str:
    import time

    time.sleep(60)
    return "late"
"""


def run(quick: bool = False) -> list[Result]:
    seconds = 5.0 if quick else 20.0
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="webkit-bench-idle-") as tmp:
        root = Path(tmp)
        project = make_project(root)
        if project.factory:
            project.module.write_text(project.module.read_text() + HANG_VIEW)
        else:
            project.module.write_text(
                project.module.read_text() + HANG_VIEW.replace("@bp.get", "@app.get")
            )
        for name, argv in commands(project, free_port()).items():
            port = int(argv[argv.index("--port") + 1])
            print(f"  {name}: idle for {seconds:.0f} s ...", file=sys.stderr)
            figures[name] = idle_cpu(argv, port, seconds, root, project)
        print("  webkit run: stop with a hung request ...", file=sys.stderr)
        stopped = stop_time(project, root)
    for name, value in figures.items():
        print(f"{name:<24} idle CPU {value:.2f} % of one core", file=sys.stderr)
    print(
        f"webkit run stops in {stopped * 1000:.0f} ms (hung request + open stream)", file=sys.stderr
    )
    webkit = figures["webkit run --reload"]
    return [
        Result(
            name="idle CPU, --reload",
            unit="%",
            webkit=webkit,
            anchor_name=anchor,
            anchor=figures[anchor],
            target="< 0.5 % of one core",
        )
        for anchor in ("flask run --reload", "uvicorn --reload")
    ] + [
        Result(
            name="stop on SIGINT (hung request + SSE)",
            unit="ms",
            webkit=stopped * 1000,
            anchor_name="-",
            anchor=None,
            target="< 1000 ms",
        )
    ]


if __name__ == "__main__":
    print_table(run(quick="--quick" in sys.argv))
