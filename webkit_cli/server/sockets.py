"""The listening socket: bound once by the supervisor, inherited by every worker.

Also who holds a busy port, read from ``/proc`` (Linux), for the error that says so.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path

from webkit_cli.errors import WebkitError
from webkit_cli.server.config import ServerConfig

#: How many following ports to try when the default port is taken.
PORT_ATTEMPTS = 10


def find_port_holder(port: int) -> str | None:
    """``"python3 (pid 123)"`` for the process listening on ``port``, from /proc (Linux)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if (
                len(fields) > 9
                and fields[3] == "0A"
                and int(fields[1].rsplit(":", 1)[1], 16) == port
            ):
                inodes.add(fields[9])
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if str(fd.readlink()) in targets:
                    cmdline = (proc / "cmdline").read_bytes().split(b"\0")
                    name = " ".join(p.decode(errors="replace") for p in cmdline if p)[:80]
                    return f"{name or '?'} (pid {proc.name})"
        except OSError:
            continue
    return None


def _bind_one(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE | socket.AI_NUMERICSERV
    )
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # Rebinding right after a restart must not fail on connections in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_socket(config: ServerConfig) -> tuple[socket.socket, str | None]:
    """Bind the listening socket; returns it and a note when another port was chosen."""
    explicit = config.port_explicit or config.port == 0
    ports = [config.port] if explicit else list(range(config.port, config.port + PORT_ATTEMPTS))
    for port in ports:
        try:
            sock = _bind_one(config.host, port)
        except socket.gaierror as exc:
            raise WebkitError(
                f"Cannot resolve host {config.host!r} ({exc.strerror}). "
                "Use an IP address such as 127.0.0.1 or 0.0.0.0."
            ) from exc
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                if explicit:
                    holder = find_port_holder(port)
                    by = f" by {holder}" if holder else ""
                    raise WebkitError(
                        f"Port {port} is already in use{by}. Stop that process or choose "
                        "another port with --port (--port 0 picks a free one)."
                    ) from exc
                continue
            if exc.errno == errno.EACCES:
                raise WebkitError(
                    f"Permission denied to listen on port {port}: ports below 1024 need "
                    "root. Use a port such as 8000."
                ) from exc
            if exc.errno == errno.EADDRNOTAVAIL:
                raise WebkitError(
                    f"Cannot listen on {config.host}: it is not an address of this machine. "
                    "Use 127.0.0.1 (this machine only) or 0.0.0.0 (all interfaces)."
                ) from exc
            raise WebkitError(f"Cannot listen on {config.host}:{port}: {exc.strerror}.") from exc
        note = None
        if port != config.port:
            note = f"Port {config.port} is in use; serving on port {port} instead."
        return sock, note
    first, last = ports[0], ports[-1]
    raise WebkitError(
        f"Ports {first}-{last} are all in use. Choose a free port with --port (0 picks one)."
    )
