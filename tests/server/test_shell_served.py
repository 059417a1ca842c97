"""``webkit shell`` served by a running ``webkit run``: forked from its warm process or its
layer, never stale, falling back to its own import when the run is gone."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests._harness import wait_until
from tests.conftest import build_file_tree
from tests.server._server import Server
from webkit_cli.server import _shellclient, _shellsock

WEBKIT = [sys.executable, "-m", "webkit_cli"]

PYPROJECT = '[project]\nname = "shop"\n[tool.webkit]\napp = "shop:create_app"\n'
INIT = """
from flask import Flask

def create_app():
    from . import models, settings
    app = Flask(__name__)
    app.config["GREETING"] = settings.GREETING
    app.config["MODELS"] = models.VERSION

    @app.route("/")
    def index():
        return settings.GREETING

    return app
"""
MODELS = """
from sqlalchemy import Integer
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

VERSION = "m1"

class Base(DeclarativeBase):
    pass

class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
"""
#: Who serves the shell, what it sees: one line each, read back by ``_report``.
REPORT = (
    "import os\n"
    "print(os.getppid())\n"
    "print(app.config['GREETING'], app.config['MODELS'], User.__tablename__, os.getpid())\n"
)


@pytest.fixture
def runtime() -> Iterator[Path]:
    """A private XDG_RUNTIME_DIR, short (socket paths are at most 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="wk"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


SHOP = {
    "pyproject.toml": PYPROJECT,
    "src/shop/__init__.py": INIT,
    "src/shop/settings.py": 'GREETING = "v1"\n',
    "src/shop/models.py": MODELS,
}


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return build_file_tree(tmp_path / "shop", SHOP)


@pytest.fixture
def run(shop: Path, runtime: Path) -> Iterator[Server]:
    server = Server(shop, env={"XDG_RUNTIME_DIR": str(runtime)})
    try:
        # The warm process listens once it is warm (after the first worker is forked).
        wait_until(lambda: _sockets(shop, "warm"), 20, lambda: f"no socket:\n{server.stderr}")
        yield server
    finally:
        server.close()


class Live(NamedTuple):
    """A run shared by the tests that leave it as they found it, with its project and its
    XDG_RUNTIME_DIR."""

    run: Server
    shop: Path
    runtime: Path


@pytest.fixture(scope="module")
def _module_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    runtime = Path(tempfile.mkdtemp(prefix="wk"))
    try:
        shop = build_file_tree(tmp_path_factory.mktemp("shared") / "shop", SHOP)
        server = Server(shop, env={"XDG_RUNTIME_DIR": str(runtime)})
        try:
            with pytest.MonkeyPatch.context() as env:  # what _sockets reads
                env.setenv("XDG_RUNTIME_DIR", str(runtime))
                wait_until(
                    lambda: _sockets(shop, "warm"), 20, lambda: f"no socket:\n{server.stderr}"
                )
            yield Live(server, shop, runtime)
        finally:
            server.close()  # nothing of it is left: checked when the module's tests are done
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture
def live(_module_run: Live, monkeypatch: pytest.MonkeyPatch) -> Live:
    """The module's run, for a test that neither stops it nor changes its files: one start
    of ``webkit run`` for them all instead of one each."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(_module_run.runtime))  # after _runtime_env
    assert _module_run.run.proc.poll() is None, _module_run.run.stderr
    return _module_run


def _env(runtime: Path) -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1", "XDG_RUNTIME_DIR": str(runtime)}
    env.pop("PYTHONSTARTUP", None)
    return env


def _sockets(root: Path, role: str) -> list[int]:
    """The pids listening for ``root``'s shells in ``role`` (``warm`` or ``layer``)."""
    directory = _shellsock.runtime_dir(create=False)
    if directory is None:
        return []
    return [pid for r, pid, _ in _shellsock.candidates(directory, root) if r == role]


def _shell(
    root: Path, runtime: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WEBKIT, "shell", *args],
        cwd=root,
        env=_env(runtime),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _report(root: Path, runtime: Path) -> tuple[int, str, int]:
    """(the shell's parent pid, what it saw, its pid)."""
    result = _shell(root, runtime, "-c", REPORT)
    assert result.returncode == 0, result.stderr
    ppid, seen = result.stdout.splitlines()
    *what, pid = seen.split()
    return int(ppid), " ".join(what), int(pid)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has ended


@pytest.fixture(autouse=True)
def _runtime_env(runtime: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # This process reads the sockets too (``_sockets``).
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))


def test_forked_from_the_warm_process_with_the_app_and_models(live: Live) -> None:
    run, shop, runtime = live
    (warm,) = run.warm_pids()
    assert _sockets(shop, "warm") == [warm]
    ppid, seen, pid = _report(shop, runtime)
    # Forked by the warm process, or by the layer it forks once the first worker is ready;
    # not imported in the client.
    assert warm in (ppid, _parent(ppid))
    assert seen == "v1 m1 users"
    wait_until(lambda: _gone(pid), 10, f"shell {pid} still running")


def test_never_stale_warm_then_layer_then_a_change_the_layer_holds(
    run: Server, shop: Path, runtime: Path
) -> None:
    (warm,) = run.warm_pids()
    # Saved after the run started and before it even reloaded: the shell has it.
    (shop / "src/shop/settings.py").write_text('GREETING = "v2"\n')
    ppid, seen, _ = _report(shop, runtime)
    assert seen == "v2 m1 users"
    assert warm in (ppid, _parent(ppid))  # the warm process, or a layer it forked already
    # After that reload the run builds a layer (the unchanged modules): it serves shells.
    run.wait_for_output("reloaded")
    wait_until(lambda: _sockets(shop, "layer"), 30, lambda: f"no layer:\n{run.stderr}")
    # A layer that imported the settings while they changed may still listen for a moment
    # before it is dropped: it refuses (stale), and the shell comes from the warm process.
    served: list[tuple[int, str]] = []

    def from_a_layer() -> bool:
        ppid, seen, _ = _report(shop, runtime)
        served.append((ppid, seen))
        return ppid != warm

    wait_until(from_a_layer, 30, lambda: f"never from a layer: {served}\n{run.stderr}")
    layer, seen = served[-1]
    assert _parent(layer) == warm and seen == "v2 m1 users"
    assert all(seen == "v2 m1 users" for _, seen in served)
    # A module the layer holds changes: the layer must not serve the old one.
    (shop / "src/shop/models.py").write_text(MODELS.replace('"m1"', '"m2"'))
    ppid, seen, _ = _report(shop, runtime)
    assert seen == "v2 m2 users"
    assert ppid != layer
    assert warm in (ppid, _parent(ppid))


def test_exit_status_and_errors_come_back(live: Live) -> None:
    _, shop, runtime = live
    assert _shell(shop, runtime, "-c", "raise SystemExit(5)").returncode == 5
    failed = _shell(shop, runtime, "-c", "1 / 0")
    assert failed.returncode == 1
    assert 'File "<webkit shell -c>", line 1' in failed.stderr
    assert "ZeroDivisionError" in failed.stderr
    # A piped session: the prompt reads the client's stdin; exit() gives the status.
    piped = _shell(shop, runtime, "-i", "python", stdin="x = 6 * 7\nprint(x)\nexit(3)\n")
    assert piped.returncode == 3, piped.stderr
    assert "42" in piped.stdout.split()
    # The warm process or its layer (built once the first worker is ready).
    assert "forked from webkit run's " in piped.stderr


def _start_session(root: Path, runtime: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*WEBKIT, "shell", "-i", "python"],
        cwd=root,
        env=_env(runtime),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def _end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    with proc:  # closes the pipes
        proc.wait()


def _read_line(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        assert line, f"no line starting {prefix!r}"
        if prefix in line:  # after the prompts (written to stdout when it is a pipe)
            return line[line.index(prefix) :]


def test_sigint_interrupts_the_statement_not_the_shell(live: Live) -> None:
    _, shop, runtime = live
    proc = _start_session(shop, runtime)
    assert proc.stdin is not None
    try:
        proc.stdin.write("import os, time\nprint('pid', os.getpid(), flush=True); time.sleep(60)\n")
        pid = int(_read_line(proc, "pid").split()[1])
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does to the client
        proc.stdin.write("print('after', 1 + 1, flush=True)\n")
        assert _read_line(proc, "after") == "after 2\n"
        proc.stdin.close()
        assert proc.wait(30) == 0
        assert proc.stderr is not None
        assert "KeyboardInterrupt" in proc.stderr.read()
    finally:
        _end(proc)
    wait_until(lambda: _gone(pid), 10, f"shell {pid} still running")


def test_the_shell_ends_with_its_client_and_with_the_run(
    run: Server, shop: Path, runtime: Path
) -> None:
    # The client killed outright: the shell it was given ends too.
    proc = _start_session(shop, runtime)
    assert proc.stdin is not None
    try:
        proc.stdin.write("import os\nprint('pid', os.getpid(), flush=True)\n")
        pid = int(_read_line(proc, "pid").split()[1])
    finally:
        _end(proc)
    wait_until(lambda: _gone(pid), 10, f"shell {pid} outlived its client")
    # The run stopped under an open shell: the shell ends, the client says so.
    proc = _start_session(shop, runtime)
    assert proc.stdin is not None
    try:
        proc.stdin.write("import os\nprint('pid', os.getpid(), flush=True)\n")
        pid = int(_read_line(proc, "pid").split()[1])
        run.stop()
        assert proc.wait(30) == 1
        assert proc.stderr is not None
        assert "Error: the shell's process ended without an exit status" in proc.stderr.read()
    finally:
        _end(proc)
    wait_until(lambda: _gone(pid), 10, f"shell {pid} outlived the run")
    assert _sockets(shop, "warm") == []  # the run removed its socket


def test_a_shell_outlives_its_warm_process_and_still_reports_its_status(
    run: Server, shop: Path, runtime: Path
) -> None:
    (warm,) = run.warm_pids()
    proc = _start_session(shop, runtime)
    assert proc.stdin is not None
    try:
        proc.stdin.write("import os\nprint('pid', os.getpid(), flush=True)\n")
        pid = int(_read_line(proc, "pid").split()[1])
        os.kill(warm, signal.SIGKILL)  # nobody left to reap the shell and say its status
        wait_until(lambda: warm not in run.warm_pids(), 10, "the warm process survived")
        proc.stdin.write("print('still', 1 + 1, flush=True)\nexit(4)\n")
        assert _read_line(proc, "still") == "still 2\n"
        assert proc.wait(30) == 4
    finally:
        _end(proc)
    wait_until(lambda: _gone(pid), 10, f"shell {pid} still running")


def test_a_run_killed_with_sigkill_leaves_a_socket_the_shell_steps_over(
    run: Server, shop: Path, runtime: Path
) -> None:
    (stale,) = _sockets(shop, "warm")
    run.kill()  # SIGKILL to the whole group: nothing cleaned up
    assert _sockets(shop, "warm") == [stale]
    ppid, seen, pid = _report(shop, runtime)
    assert seen == "v1 m1 users"
    assert ppid == os.getpid()  # imported in the client itself (whose parent is this test)
    assert pid != stale
    assert _sockets(shop, "warm") == []  # and the stale socket is gone


def test_no_run_is_no_fast_path_and_no_noise(shop: Path, runtime: Path) -> None:
    result = _shell(shop, runtime, "-c", "print(app.name)")
    assert (result.returncode, result.stdout, result.stderr) == (0, "shop\n", "")


def test_the_peer_check_refuses_another_user() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a, b:
        assert _shellsock.check_peer(a) is None
        assert _shellsock.peer_credentials(a)[:2] == (os.getpid(), os.getuid())
        other = os.getuid() + 1
        refusal = _shellsock.check_peer(a, uid=other)
        assert refusal == f"connected by user {os.getuid()}, not {other}"


def test_a_runtime_folder_others_may_enter_is_not_used(
    runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = runtime / "webkit"
    folder.mkdir(mode=0o700)
    assert _shellsock.runtime_dir(create=False) == folder
    folder.chmod(0o755)
    assert _shellsock.runtime_dir(create=False) is None
    assert _shellsock.runtime_dir(create=True) is None
    assert _shellclient.serve_in_run({"project_dir": str(runtime)}) is None
    folder.chmod(0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime / "link-parent"))
    (runtime / "link-parent").mkdir()
    (runtime / "link-parent" / "webkit").symlink_to(folder)
    assert _shellsock.runtime_dir(create=False) is None  # a symlink is not a folder of ours


def test_a_changed_file_or_a_new_module_makes_a_snapshot_stale(tmp_path: Path) -> None:
    pkg = build_file_tree(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "A = 1\n"})
    files = [str(pkg / "pkg/__init__.py"), str(pkg / "pkg/a.py")]
    for path in files:  # written "long" before the layer was built
        os.utime(path, ns=(time.time_ns() - 10**10,) * 2)
    since = time.time_ns()
    bytecode = str(pkg / "pkg/__pycache__/a.cpython-311.pyc")  # stamped, it would go stale
    snapshot = _shellsock.layer_snapshot([*files, bytecode], [tmp_path], since)
    assert list(snapshot.files) == files
    assert snapshot.changed() is None
    (pkg / "pkg/notes.txt").write_text("not a module\n")
    (pkg / "pkg/__pycache__").mkdir()  # what any import of pkg.a may do
    assert snapshot.changed() is None
    (pkg / "pkg/b.py").write_text("")  # what `try: import pkg.b` would now find
    assert "added to or removed from" in (snapshot.changed() or "")
    (pkg / "pkg/b.py").unlink()
    assert snapshot.changed() is None
    (pkg / "pkg/a.py").write_text("A = 2\n")
    assert snapshot.changed() == f"{pkg / 'pkg/a.py'} changed"
    # A file written just before the build may have been read before or after: unsure.
    assert _shellsock.layer_snapshot(files, [tmp_path], time.time_ns()).changed()
    # A third of a second before is sure (file times lag by a few ms), unless the file's
    # time is in whole seconds: that filesystem may have rounded a later time down.
    second = (time.time_ns() // 10**9 - 1) * 10**9
    fine = second + 123_456_789
    for path in files:
        os.utime(path, ns=(fine, fine))
    assert _shellsock.layer_snapshot(files, [tmp_path], fine + 3 * 10**8).changed() is None
    os.utime(files[1], ns=(second, second))
    assert _shellsock.layer_snapshot(files, [tmp_path], second + 3 * 10**8).changed()


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_a_real_terminal_prompt_with_ctrl_c(live: Live) -> None:
    _, shop, runtime = live
    import fcntl
    import select
    import termios

    leader, follower = os.openpty()

    def take_terminal() -> None:  # the pty becomes the client's controlling terminal
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = {**_env(runtime), "TERM": "dumb"}
    proc = subprocess.Popen(
        [*WEBKIT, "shell", "-i", "python"],
        cwd=shop,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        preexec_fn=take_terminal,  # noqa: PLW1509 - the test starts no threads
    )
    os.close(follower)
    seen = b""

    def read_until(needle: bytes) -> bytes:
        nonlocal seen
        deadline = time.monotonic() + 30
        while needle not in seen:
            ready, _, _ = select.select([leader], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"{needle!r} not seen in {seen!r}"
            with contextlib.suppress(OSError):
                seen += os.read(leader, 4096)
        found, seen = seen, seen[seen.index(needle) + len(needle) :]
        return found

    try:
        banner = read_until(b">>> ")
        assert b"forked from webkit run's " in banner  # the warm process or its layer
        assert b"Imported: app, User" in banner
        os.write(leader, b"import time; print('sl' + 'eeping'); time.sleep(60)\n")
        read_until(b"sleeping")  # printed (not echoed): the statement runs
        os.write(leader, b"\x03")  # Ctrl-C, through the terminal's line discipline
        assert b"KeyboardInterrupt" in read_until(b">>> ")
        os.write(leader, b"print(6 * 7)\n")
        assert b"42" in read_until(b">>> ")
        os.write(leader, b"exit()\n")
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)


def test_a_refusal_is_returned_and_nothing_is_forked(shop: Path, runtime: Path) -> None:
    """What the command turns into one dim line before importing the shell itself."""
    import select
    import threading

    server = _shellsock.ShellServer.listen(shop, "warm")
    assert server is not None
    assert _sockets(shop, "warm") == [os.getpid()]
    refused: list[_shellsock.Request | None] = []

    def serve_one() -> None:
        select.select([server.fileno()], [], [], 30)
        refused.append(server.accept("busy for this test"))

    thread = threading.Thread(target=serve_one)
    thread.start()
    try:
        answer = _shellclient.serve_in_run({"project_dir": str(shop), "code": "pass"})
    finally:
        thread.join(30)
        server.close()
    assert isinstance(answer, _shellclient.Refusal)
    assert answer.reason == "busy for this test"
    assert refused == [None]  # nothing to fork
    assert _sockets(shop, "warm") == []
