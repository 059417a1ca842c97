"""Signals at random moments during a real ``webkit new``: nothing is ever left behind.

Each run starts the command, waits until it is writing (its staging folder or journal
appears), sleeps a random part of the time a write takes, and sends SIGINT, two SIGINTs
2 ms apart, SIGTERM or SIGHUP. Afterwards the parent folder holds either nothing or the
complete project, and the ``--force --overwrite`` target either its old files or the new
ones, never a hidden staging folder, backup, temporary file or journal.

Each run is a child forked from this process that runs ``webkit_cli.cli.main`` as
``python -m webkit_cli`` does, with the signal dispositions and mask of a fresh interpreter
and its output to /dev/null: the signal lands on a real process running the real command,
without an interpreter start-up and webkit's imports before every run (a third of the CPU
of a run, and never the moment a signal is sent: that is after the write began).

``WEBKIT_SIGNAL_RUNS=200 pytest tests/commands/test_new_signals.py -s`` runs more and
prints the figures.
"""

from __future__ import annotations

import gc
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.scaffold.helpers import make_template, tree

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

RUNS = int(os.environ.get("WEBKIT_SIGNAL_RUNS", "12"))
KINDS = ("SIGINT", "double SIGINT", "SIGTERM", "SIGHUP")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A little work per file, so that the write lasts long enough to be hit anywhere.
    body = "{% for i in range(400) %}{% endfor %}" + "{{ name }} " * 40
    files: dict[str, str | bytes] = {f"pkg{i // 50}/f{i:04}.txt.jinja": body for i in range(200)}
    files["pyproject.toml"] = '[project]\nname = "p"\n'
    # Two large files: copying, hashing and backing them up keeps --force busy for a while.
    for i in range(2):
        files[f"data/blob{i}.bin"] = bytes([i]) * (4 << 20)
    return make_template(tmp_path_factory.mktemp("signals") / "tpl", files=files)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One warm bytecode cache for every run: the runs are about writing, not compiling."""
    return {**os.environ, "WEBKIT_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}


def _argv(template: Path, parent: Path, *extra: str) -> list[str]:
    return ["new", "p", "-t", str(template), "--dir", str(parent), "--no-git", "--no-input", *extra]


class _Child:
    """``webkit ARGV`` in a forked child, with the part of ``subprocess.Popen`` used here."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.returncode: int | None = None
        # What is loaded by now stays out of the child's garbage collections: collecting the
        # inherited heap would copy its pages. (3.12 warns about a fork with threads, which
        # pytest-xdist has; this child runs only webkit's code in its one thread.)
        gc.freeze()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.pid = os.fork()
        if self.pid:
            gc.unfreeze()
        if self.pid == 0:  # the child: it never returns
            code = 1
            try:
                # A fresh interpreter's signal state: nothing blocked, Ctrl-C raises
                # KeyboardInterrupt, SIGTERM and SIGHUP kill until webkit handles them.
                signal.pthread_sigmask(signal.SIG_SETMASK, set())
                signal.signal(signal.SIGINT, signal.default_int_handler)
                for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
                    signal.signal(signum, signal.SIG_DFL)
                # Its output to /dev/null, not into the files that capture this process's.
                devnull = Path(os.devnull).open("r+")  # noqa: SIM115 - it ends in os._exit
                for fd in (0, 1, 2):
                    os.dup2(devnull.fileno(), fd)
                sys.stdin = sys.stdout = sys.stderr = devnull
                sys.__stdout__ = sys.__stderr__ = devnull
                os.environ.clear()
                os.environ.update(env)
                from webkit_cli.cli import main

                main(argv, prog_name="webkit")
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except KeyboardInterrupt:
                code = 128 + signal.SIGINT
            except BaseException:
                code = 1
            finally:
                os._exit(code)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise subprocess.TimeoutExpired(["webkit"], timeout)
            time.sleep(0.005)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.returncode = -signal.SIGKILL


def _send(proc: _Child, kind: str) -> None:
    if kind == "double SIGINT":
        proc.send_signal(signal.SIGINT)
        time.sleep(0.002)
        proc.send_signal(signal.SIGINT)
    else:
        proc.send_signal(getattr(signal, kind))


def _wait(proc: _Child, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0005)


def _write_window(
    argv: list[str], started: Callable[[], bool], done: Callable[[], bool], env: dict[str, str]
) -> float:
    """How long the write lasts, from ``started()`` to ``done()``, in an undisturbed run."""
    proc = _Child(argv, env)
    _wait(proc, started)
    began = time.monotonic()
    _wait(proc, done)
    window = time.monotonic() - began
    assert proc.wait(timeout=60) == 0
    return window


def _signal_once(
    argv: list[str], started: Callable[[], bool], kind: str, delay: float, env: dict[str, str]
) -> int:
    """Run ``argv`` and send ``kind`` ``delay`` s after ``started()``; the exit code."""
    proc = _Child(argv, env)
    try:
        _wait(proc, started)
        time.sleep(delay)
        if proc.poll() is None:
            _send(proc, kind)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode is not None
    return proc.returncode


def _run(argv: list[str], env: dict[str, str]) -> None:
    assert _Child(argv, env).wait(timeout=60) == 0


def _hidden(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if "webkit-" in p.name]


def _staging(parent: Path) -> Callable[[], bool]:
    return lambda: any(n.name.endswith(".webkit-tmp") for n in parent.iterdir())


def test_signals_during_new_leave_nothing(
    template: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    warm = tmp_path / "warm"  # compile the templates once: the window is measured warm
    _run(_argv(template, warm), env)
    reference = tmp_path / "reference"
    reference.mkdir()
    window = _write_window(
        _argv(template, reference), _staging(reference), (reference / "p").exists, env
    )
    expected = set(tree(reference / "p"))
    rng = random.Random(os.environ.get("WEBKIT_SIGNAL_SEED"))
    left: list[str] = []
    outcomes = {"untouched": 0, "complete": 0}
    for run in range(RUNS):
        parent = tmp_path / f"run{run}"
        parent.mkdir()
        kind = KINDS[run % len(KINDS)]
        # Anywhere in the write, the final rename included, and a little after.
        delay = rng.uniform(0, window * 1.2)
        code = _signal_once(_argv(template, parent), _staging(parent), kind, delay, env)
        entries = sorted(p.name for p in parent.iterdir())
        if entries == []:
            outcomes["untouched"] += 1
        elif entries == ["p"] and set(tree(parent / "p")) == expected and not _hidden(parent):
            outcomes["complete"] += 1
        else:
            left.append(f"run {run} ({kind}, exit {code}): {entries} {_hidden(parent)[:5]}")
        shutil.rmtree(parent)  # 8 MB a run: a long run by hand must not fill /tmp
    print(f"\nsignals during new: {RUNS} runs, {len(left)} left anything, {outcomes}")
    assert left == []


def _edit(project: Path) -> None:
    """Every other file edited (replaced by --overwrite), a tenth deleted (added back)."""
    for i, path in enumerate(sorted(project.rglob("*.txt"))):
        if i % 10 == 0:
            path.unlink()
        elif i % 2 == 0:
            path.write_text("edited\n")
    for path in project.glob("data/*.bin"):
        path.write_bytes(b"edited\n")


def _journal(project: Path) -> Callable[[], bool]:
    return lambda: any(n.name.endswith(".webkit-journal") for n in project.iterdir())


def test_signals_during_force_overwrite_leave_the_old_or_the_new(
    template: Path, tmp_path: Path, env: dict[str, str]
) -> None:
    reference = tmp_path / "reference"
    _run(_argv(template, reference), env)
    new = tree(reference / "p")
    _edit(reference / "p")
    # Each run starts from a copy of this edited project: a `webkit new` and an edit a run
    # would make the same files at twice the cost.
    edited = tmp_path / "edited"
    shutil.copytree(reference / "p", edited, symlinks=True)
    argv = _argv(template, reference, "--force", "--overwrite")
    journal = _journal(reference / "p")
    window = _write_window(argv, journal, lambda: not journal(), env)
    assert tree(reference / "p") == new
    rng = random.Random(os.environ.get("WEBKIT_SIGNAL_SEED"))
    left: list[str] = []
    outcomes = {"old": 0, "new": 0}
    for run in range(RUNS):
        parent = tmp_path / f"run{run}"
        project = parent / "p"
        shutil.copytree(edited, project, symlinks=True)
        before = tree(project)
        kind = KINDS[run % len(KINDS)]
        argv = _argv(template, parent, "--force", "--overwrite")
        code = _signal_once(argv, _journal(project), kind, rng.uniform(0, window * 1.2), env)
        after = tree(project)
        if _hidden(project):
            left.append(f"run {run} ({kind}, exit {code}): {_hidden(project)[:5]}")
        elif after == before:
            outcomes["old"] += 1
        elif after == new:
            outcomes["new"] += 1
        else:
            changed = sorted(k for k in set(after) | set(before) if after.get(k) != before.get(k))
            left.append(f"run {run} ({kind}, exit {code}): half-applied, {changed[:5]}")
        shutil.rmtree(parent)
    print(
        f"\nsignals during --force --overwrite: {RUNS} runs, {len(left)} left anything, {outcomes}"
    )
    assert left == []
