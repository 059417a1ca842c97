"""Every way of stopping ``webkit run`` leaves nothing: no process, no temporary folder.

Real signals to the real supervisor (``kill -HUP`` is what closing its terminal sends;
Ctrl-\\ sends SIGQUIT), with a worker that serves and with one stuck in an endless
import, which never reads the channel on which it would be told to stop.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests._harness import group_members, http_get, wait_until
from tests.conftest import build_file_tree
from tests.server._server import Server

pytestmark = pytest.mark.slow

APP = """\
from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return "ok"
"""

#: An import that never ends (a loop at import time), after saying it got there.
STUCK = """\
from pathlib import Path

Path(__file__).with_name("importing").write_text("yes")
while True:
    pass
"""


@pytest.fixture
def tmpdir_for_server(tmp_path: Path) -> Path:
    """The server's TMPDIR: its private cache folder is made there, and must go."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


@pytest.fixture
def started() -> Iterator[list[Server]]:
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.close()


def run_folders(tmpdir: Path) -> list[str]:
    return sorted(p.name for p in tmpdir.iterdir() if p.name.startswith("webkit-run-"))


def wait_for_file(path: Path, server: Server, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared:\n{server.stderr}"
        assert server.proc.poll() is None, server.stderr
        time.sleep(0.02)


@pytest.mark.parametrize("sig", ["SIGHUP", "SIGQUIT", "SIGTERM", "SIGINT"])
def test_each_stop_signal_leaves_no_process_and_no_temporary_folder(
    tmp_path: Path, tmpdir_for_server: Path, started: list[Server], sig: str
) -> None:
    project = build_file_tree(tmp_path / "p", {"app.py": APP})
    server = Server(project, env={"TMPDIR": str(tmpdir_for_server)})
    started.append(server)
    assert server.get("/")[2].startswith("ok")
    assert len(run_folders(tmpdir_for_server)) == 1  # there is one to leave behind

    server.stop(getattr(signal, sig))
    assert server.proc.returncode == 0, server.stderr
    server.assert_nothing_left()
    assert run_folders(tmpdir_for_server) == []
    assert "Traceback" not in server.stderr


URL = re.compile(rb"http://127\.0\.0\.1:(\d+)")


def _read_until(fd: int, done: Callable[[bytes], bool], timeout: float = 30.0) -> bytes:
    """What the terminal ``fd`` shows until ``done`` holds for it, or until it closes."""
    out = b""
    deadline = time.monotonic() + timeout
    while not done(out):
        assert time.monotonic() < deadline, f"the terminal showed, in {timeout:g} s:\n{out!r}"
        if select.select([fd], [], [], 0.1)[0]:
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the other side closed
                break
            if not data:
                break
            out += data
    return out


def test_ctrl_c_at_a_terminal_ends_the_line_of_its_echoed_c(tmp_path: Path) -> None:
    """The terminal echoes ``^C`` without a newline; webkit ends that line, or the shell's
    prompt would start on it (webkit exits 0, so the shell adds no newline itself)."""
    project = build_file_tree(tmp_path / "p", {"app.py": APP})
    argv = [sys.executable, "-m", "webkit_cli", "run", "--port", "0", "--no-reload"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: on the terminal, as a user starts it from a shell
        os.chdir(project)
        os.execve(sys.executable, argv, {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"})
    try:
        shown = _read_until(fd, lambda out: URL.search(out) is not None)
        port = URL.search(shown).group(1).decode()  # type: ignore[union-attr]
        # Serving: the supervisor's loop has the signals.
        assert http_get(int(port), timeout=30)[2].startswith("ok")
        os.write(fd, b"\x03")  # Ctrl-C, typed: the terminal sends SIGINT and echoes ^C
        shown += _read_until(fd, lambda out: False)
        _, status = os.waitpid(pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, shown
    assert shown.endswith(b"^C\r\n"), shown[-200:]
    # Its workers were in its process group (pty.fork made it the leader): none is left.
    wait_until(lambda: not group_members(pid), 10, lambda: f"left: {group_members(pid)}")


@pytest.mark.parametrize("mode", [(), ("--no-warm",)], ids=["forked", "spawned"])
def test_sighup_with_a_worker_stuck_in_its_import_leaves_nothing(
    tmp_path: Path, tmpdir_for_server: Path, started: list[Server], mode: tuple[str, ...]
) -> None:
    project = build_file_tree(tmp_path / "p", {"app.py": STUCK})
    server = Server(project, mode, env={"TMPDIR": str(tmpdir_for_server)}, wait=False)
    started.append(server)
    server.port = server.wait_for_url()
    wait_for_file(project / "importing", server)

    server.stop(signal.SIGHUP)
    server.assert_nothing_left()
    assert run_folders(tmpdir_for_server) == []


def test_a_second_stop_signal_stops_at_once_and_still_cleans_up(
    tmp_path: Path, tmpdir_for_server: Path, started: list[Server]
) -> None:
    """The second signal skips the graceful stop (the impatient second Ctrl-C)."""
    project = build_file_tree(tmp_path / "p", {"app.py": STUCK})
    server = Server(project, env={"TMPDIR": str(tmpdir_for_server)}, wait=False)
    started.append(server)
    server.port = server.wait_for_url()
    wait_for_file(project / "importing", server)

    # Two different signals: two of the same kind may be merged into one by the kernel.
    os.kill(server.proc.pid, signal.SIGTERM)
    os.kill(server.proc.pid, signal.SIGINT)
    assert server.proc.wait(10) == 130
    server.assert_nothing_left()
    assert run_folders(tmpdir_for_server) == []


def test_a_stuck_worker_does_not_outlive_a_supervisor_killed_hard(
    tmp_path: Path, started: list[Server]
) -> None:
    """SIGKILL leaves no chance to clean up: the warm process sees its parent gone and
    kills the worker that never reads its channel."""
    project = build_file_tree(tmp_path / "p", {"app.py": STUCK})
    server = Server(project, wait=False)
    started.append(server)
    server.port = server.wait_for_url()
    wait_for_file(project / "importing", server)

    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(5)
    server.assert_nothing_left(timeout=10)


def test_the_folder_of_a_run_killed_hard_is_removed_by_the_next_run(
    tmp_path: Path, tmpdir_for_server: Path, started: list[Server]
) -> None:
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()  # its pid names no live process now
    abandoned = tmpdir_for_server / f"webkit-run-{gone.pid}-abc123"
    alive = tmpdir_for_server / f"webkit-run-{os.getpid()}-def456"  # a run still going
    unrelated = tmpdir_for_server / "webkit-run-notapid"
    for folder in (abandoned, alive, unrelated):
        (folder / "cache").mkdir(parents=True)

    project = build_file_tree(tmp_path / "p", {"app.py": APP})
    server = Server(project, env={"TMPDIR": str(tmpdir_for_server)})
    started.append(server)
    assert server.get("/")[2].startswith("ok")
    assert not abandoned.exists()
    assert alive.exists() and unrelated.exists()
    server.stop()
    assert sorted(run_folders(tmpdir_for_server)) == sorted([alive.name, unrelated.name])
