"""A throw-away PostgreSQL server for the tests marked ``postgres``.

``start_postgres(bin_dir)`` runs Debian's ``initdb`` into a new temporary folder, starts
``postgres`` on 127.0.0.1 and a free port (its unix socket stays in that folder too), and on
exit stops it and removes everything; ``shared_postgres(bin_dir, root)`` gives the processes
passing the same ``root`` one such server. Tests use the one server of the run through the
``postgres`` fixture (``tests/templates/conftest.py``), each in databases of its own. The
server runs as the ``postgres`` user when we are root (PostgreSQL refuses to run as root).
Settings favour speed over durability: ``fsync=off`` is fine for data that is deleted a
minute later.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"


def find_pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has a server, or ``None``."""
    candidates = [
        path / "bin"
        for path in PG_ROOT.glob("*")
        if (path / "bin" / "initdb").is_file() and (path / "bin" / "pg_ctl").is_file()
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda bin_dir: _version_key(bin_dir.parent.name))


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def free_port() -> int:
    """A loopback port nobody listens on now (for servers that must be told their port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_database_numbers = itertools.count(1)


@dataclass(frozen=True)
class PostgresServer:
    """A running server; ``database_url(name)`` for SQLAlchemy with psycopg 3."""

    port: int
    socket_dir: Path
    user: str = SERVER_USER

    def database_url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, database: str) -> str:
        """Create an empty database named after ``database`` and return its URL.

        The name gets this process's id and a number: tests sharing the server never collide,
        nor do the pytest-xdist workers sharing it (``shared_postgres``).
        """
        import psycopg
        from psycopg import sql

        database = f"{database}_{os.getpid()}_{next(_database_numbers)}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        return self.database_url(database)


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", SERVER_USER, "--", *command]
    return command


def _run(command: list[str]) -> None:
    result = subprocess.run(
        _as_server_user(command), capture_output=True, text=True, check=False, timeout=120
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )


def _start(bin_dir: Path, data: Path, sockets: Path, log: Path) -> int:
    """Start the server on a free port; returns the port.

    Another process may take the port between our probe and the server's bind, so a failed
    start is retried on a new port (the log says why each attempt failed).
    """
    for _attempt in range(3):
        port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        try:
            _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options,
                  "-w", "-t", "60", "start"])  # fmt: skip
        except RuntimeError:
            continue
        return port
    server_log = log.read_text(errors="replace") if log.exists() else ""
    raise RuntimeError(f"PostgreSQL did not start; its log:\n{server_log}")


def _create(bin_dir: Path) -> tuple[Path, int]:
    """``initdb`` into a new temporary folder and start the server; (the folder, its port)."""
    base = Path(tempfile.mkdtemp(prefix="webkit-pg-"))
    data, sockets, log = base / "data", base / "sockets", base / "server.log"
    sockets.mkdir()
    if os.geteuid() == 0:
        for path in (base, sockets):
            shutil.chown(path, user=SERVER_USER, group=SERVER_USER)
    try:
        _run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", SERVER_USER, "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync"]
        )  # fmt: skip
        return base, _start(bin_dir, data, sockets, log)
    except BaseException:
        shutil.rmtree(base, ignore_errors=True)
        raise


def _destroy(bin_dir: Path, base: Path) -> None:
    """Stop the server of ``base`` and remove the folder."""
    try:
        _run([str(bin_dir / "pg_ctl"), "-D", str(base / "data"), "-m", "fast", "-w", "stop"])
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def start_postgres(bin_dir: Path) -> Iterator[PostgresServer]:
    """Start a fresh server from ``bin_dir``; stop and delete it on exit."""
    base, port = _create(bin_dir)
    try:
        yield PostgresServer(port=port, socket_dir=base / "sockets")
    finally:
        _destroy(bin_dir, base)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def shared_postgres(bin_dir: Path, root: Path) -> Iterator[PostgresServer]:
    """The one server of every process passing the same ``root`` (the pytest-xdist workers
    of one run): the first to come starts it, the last to leave stops it and deletes it.

    Who uses it is a list of process ids in ``root/postgres.json``, read and written under a
    lock: a worker that died without leaving is dropped from it by the next one that leaves.
    Each ``initdb`` and start is 2-3 s of CPU; the workers' databases never collide (their
    names hold the process id).
    """
    state_path, lock_path = root / "postgres.json", root / "postgres.lock"
    with _locked(lock_path):
        state = json.loads(state_path.read_text()) if state_path.exists() else None
        if state is None or not _listening(state["port"]):
            if state is not None:  # its server died: its folder goes
                shutil.rmtree(state["base"], ignore_errors=True)
            base, port = _create(bin_dir)
            state = {"base": str(base), "port": port, "users": []}
        state["users"].append(os.getpid())
        state_path.write_text(json.dumps(state))
    try:
        yield PostgresServer(port=state["port"], socket_dir=Path(state["base"]) / "sockets")
    finally:
        with _locked(lock_path):
            state = json.loads(state_path.read_text())
            state["users"] = [pid for pid in state["users"] if pid != os.getpid() and _alive(pid)]
            if state["users"]:
                state_path.write_text(json.dumps(state))
            else:
                state_path.unlink()
                _destroy(bin_dir, Path(state["base"]))


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


def require_pg_bin() -> Path:
    """The server binaries; a missing PostgreSQL fails the test (scripts/test installs it)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.fail(
            f"PostgreSQL is not installed under {PG_ROOT}: run ./scripts/test, which installs it "
            "(or apt-get install postgresql)"
        )
    return bin_dir
