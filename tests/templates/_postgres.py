"""A throw-away PostgreSQL server for the tests marked ``postgres``.

``start_postgres(bin_dir)`` runs Debian's ``initdb`` into a new temporary folder, starts
``postgres`` on 127.0.0.1 and a free port (its unix socket stays in that folder too), and on
exit stops it and removes everything. Tests use the one server of the session through the
``postgres`` fixture (``tests/templates/conftest.py``), each in databases of its own. The
server runs as the ``postgres`` user when we are root (PostgreSQL refuses to run as root).
Settings favour speed over durability: ``fsync=off`` is fine for data that is deleted a
minute later.
"""

from __future__ import annotations

import itertools
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

        The name gets a number: tests sharing the session's server never collide.
        """
        import psycopg
        from psycopg import sql

        database = f"{database}_{next(_database_numbers)}"
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


@contextmanager
def start_postgres(bin_dir: Path) -> Iterator[PostgresServer]:
    """Start a fresh server from ``bin_dir``; stop and delete it on exit."""
    base = Path(tempfile.mkdtemp(prefix="webkit-pg-"))
    data, sockets, log = base / "data", base / "sockets", base / "server.log"
    sockets.mkdir()
    if os.geteuid() == 0:
        for path in (base, sockets):
            shutil.chown(path, user=SERVER_USER, group=SERVER_USER)
    started = False
    try:
        _run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", SERVER_USER, "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync"]
        )  # fmt: skip
        port = _start(bin_dir, data, sockets, log)
        started = True
        yield PostgresServer(port=port, socket_dir=sockets)
    finally:
        if started:
            _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)


def require_pg_bin() -> Path:
    """The server binaries; a missing PostgreSQL fails the test (scripts/test installs it)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.fail(
            f"PostgreSQL is not installed under {PG_ROOT}: run ./scripts/test, which installs it "
            "(or apt-get install postgresql)"
        )
    return bin_dir
