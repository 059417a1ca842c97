"""``webkit check --watch`` as a person runs it: a real process, real saves, Ctrl-C."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.check.helpers import make_project

pytestmark = pytest.mark.timeout(180)


class Watcher:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, *words: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            if all(word in line for word in words):
                return line
        raise AssertionError(f"no line with {words} in {self.seen}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def watching(root: Path, env: dict[str, str] | None = None) -> Iterator[Watcher]:
    """``webkit check --watch`` in ``root``, killed with its whole group afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "webkit_cli", "check", "--watch"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group: every process it starts can be found
    )
    watcher = Watcher(proc)
    try:
        yield watcher
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        watcher.reader.join(timeout=10)  # EOF once the process is gone
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.fixture
def watcher(tmp_path: Path) -> Iterator[Watcher]:
    with watching(make_project(tmp_path / "demo")) as running:
        yield running


def test_a_save_prints_the_new_then_the_fixed_finding_and_ctrl_c_leaves_nothing(
    watcher: Watcher, tmp_path: Path
) -> None:
    watcher.wait_for("Watching", "0 findings")
    settings = tmp_path / "demo/src/demo/settings.py"
    settings.write_text('SECRET_KEY = "hunter2-hunter2"\n', encoding="utf-8")
    line = watcher.wait_for("new")
    assert line.startswith("new") and "src/demo/settings.py:1:" in line and "S001" in line
    settings.write_text('import os\n\nSECRET_KEY = os.environ["SECRET_KEY"]\n', "utf-8")
    line = watcher.wait_for("fixed")
    assert line.startswith("fixed") and "src/demo/settings.py:1:" in line and "S001" in line

    pgid = watcher.proc.pid
    watcher.proc.send_signal(signal.SIGINT)
    assert watcher.proc.wait(timeout=30) == 0
    deadline = time.monotonic() + 10
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(pgid), "a process of webkit check --watch outlived Ctrl-C"


def test_a_same_size_save_in_the_same_second_is_imported_from_the_source(tmp_path: Path) -> None:
    """With bytecode caching on (as on users' machines), a ``.pyc`` is trusted when the
    source's size and mtime in whole seconds match: two quick saves of the same length must
    not let the app child import the first one's bytecode."""
    root = make_project(tmp_path / "demo")
    views = root / "src/demo/views.py"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with watching(root, env) as watcher:
        watcher.wait_for("Watching", "0 findings")
        assert list((root / "src/demo/__pycache__").glob("views.*.pyc")), "no bytecode cached"
        before = views.stat()
        source = views.read_text(encoding="utf-8")
        old = 'bp = Blueprint("main", __name__)'
        broken = "bp = 1 / 0  # a save that breaks"
        assert len(broken) == len(old)
        views.write_text(source.replace(old, broken), encoding="utf-8")
        os.utime(views, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same second
        assert views.stat().st_size == before.st_size
        line = watcher.wait_for("new")
        assert "src/demo/views.py:5: P004" in line and "ZeroDivisionError" in line, line
