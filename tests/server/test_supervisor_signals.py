"""Every way of stopping ``webkit run`` leaves nothing: no process, no temporary folder.

Real signals to the real supervisor (``kill -HUP`` is what closing its terminal sends;
Ctrl-\\ sends SIGQUIT), with a worker that serves and with one stuck in an endless
import, which never reads the channel on which it would be told to stop.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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
