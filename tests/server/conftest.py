"""Fixtures shared by the server tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.server._server import Server


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """``serve(cwd, *args)`` starts ``webkit run --port 0 ARGS`` in ``cwd``; all are stopped
    (and checked for leftover processes by :meth:`Server.close`) when the test ends."""
    servers: list[Server] = []

    def start(cwd: Path, *args: str) -> Server:
        server = Server(cwd, args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
