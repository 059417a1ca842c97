"""``webkit shell``'s end of the socket a running ``webkit run`` serves shells on.

See :mod:`webkit_cli.server._shellsock` for the whole exchange. :func:`serve_in_run` finds
the run's sockets (layer first), skips and removes those of runs that are gone, asks one
to fork the shell, hands it this process's stdin, stdout and stderr, then only passes
signals on (Ctrl-C, a resized window; Ctrl-Z stops both) until it has the shell's status.

Imported before it is known whether the app must be imported here: nothing beyond what
click imports already, and ``_socket`` rather than ``socket`` (whose enums, built at
import, cost more than all the rest of this process's work).
"""

from __future__ import annotations

import _socket
import array
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from webkit_cli.server._shellsock import (
    ANSWER_TIMEOUT,
    FORWARDED,
    PROTOCOL,
    alive,
    candidates,
    check_peer,
    project_root,
    recv_message,
    runtime_dir,
    send_message,
    supported,
)


def _connect(path: Path) -> _socket.socket | None:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    try:
        sock.connect(os.fspath(path))
    except OSError as exc:
        sock.close()
        if isinstance(exc, ConnectionRefusedError):
            with contextlib.suppress(OSError):
                path.unlink()  # nobody listens: its pid is another process's now
        return None
    if check_peer(sock) is not None:
        sock.close()
        return None
    return sock


def _header(root: str, role: str, options: dict[str, Any]) -> bytes:
    encodings = {
        name: [getattr(stream, "encoding", None), getattr(stream, "errors", None)]
        for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout), ("stderr", sys.stderr))
    }
    return json.dumps(
        {
            "protocol": PROTOCOL,
            "role": role,
            "root": os.path.realpath(root),
            "prefix": sys.prefix,
            "executable": os.path.realpath(sys.executable),
            "argv": sys.argv,
            "cwd": str(Path.cwd()),
            "env": dict(os.environ),
            "encodings": encodings,
            "options": options,
        }
    ).encode()


class Refusal:
    """Why the run's processes did not serve the shell (said in one dim line)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def serve_in_run(options: dict[str, Any]) -> int | Refusal | None:
    """Run the shell in a running ``webkit run`` of the project: its exit code, once it
    ended (``options``: the command's, ``project_dir`` finds the project).

    ``None``: no run to ask; a :class:`Refusal`: there was one, and it could not serve.
    In both cases nothing ran: the caller runs the shell itself.
    """
    if not supported():
        return None
    directory = runtime_dir(create=False)
    if directory is None:
        return None
    root = project_root(options.get("project_dir"))
    if root is None:
        return None
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            return None  # a closed stdio descriptor cannot be passed on
    refusal: Refusal | None = None
    for role, pid, path in candidates(directory, root):
        if not alive(pid):
            with contextlib.suppress(OSError):
                path.unlink()  # left by a run that was killed
            continue
        sock = _connect(path)
        if sock is None:
            continue
        try:
            answer = _ask(sock, root, role, options)
            if isinstance(answer, dict) and answer.get("event") == "started":
                return _attend(sock, int(answer.get("pid") or 0))
            if isinstance(answer, dict) and answer.get("reason") not in (None, "stale"):
                refusal = Refusal(str(answer["reason"]))
        finally:
            sock.close()
    return refusal


def _ask(
    sock: _socket.socket, root: str, role: str, options: dict[str, Any]
) -> dict[str, Any] | None:
    sock.settimeout(ANSWER_TIMEOUT)
    try:
        rights = (_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))
        sock.sendmsg([_header(root, role, options)], [rights])
        answer = recv_message(sock)
        if answer is not None and answer.get("event") == "started":
            sock.send(json.dumps({"go": True}).encode())
    except OSError:
        return None
    finally:
        sock.settimeout(None)
    return answer


def _attend(sock: _socket.socket, pid: int) -> int:
    """Pass signals on until the shell ends; its exit code."""

    def forward(signum: int, frame: Any) -> None:
        send_message(sock, signal=signum)

    def suspend(signum: int, frame: Any) -> None:
        # The shell is in a session of its own, so Ctrl-Z stops only us: stop it too (it
        # must not read the terminal the user's shell has taken back), and go on together.
        if pid > 0:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGSTOP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)
        # ...stopped here until `fg`.
        signal.signal(signal.SIGTSTP, suspend)
        if pid > 0:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    if hasattr(signal, "SIGTSTP"):
        signal.signal(signal.SIGTSTP, suspend)
    while True:
        message = recv_message(sock)
        if message is None:
            print(
                "Error: the shell's process ended without an exit status (webkit run stopped?).",
                file=sys.stderr,
            )
            return 1
        if message.get("event") == "exit":
            return int(message.get("code") or 0)
