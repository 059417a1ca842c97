"""The supervisor's handle on each worker process: its state, its channel, its end."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from webkit_cli.server._process import INTERNAL_ERROR_EXIT

if TYPE_CHECKING:
    from webkit_cli.server._warm import ForkServer
    from webkit_cli.server.watch import ChangeBatch

#: Seconds of importing after which a new worker is reported as slow.
SLOW_IMPORT = 5.0
#: send() flag: a worker that does not read its channel must never block the supervisor.
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


class WorkerState(Enum):
    """Where a worker is in its life, as the supervisor sees it."""

    STARTING = "starting"  # importing the app; accepts nothing until told to
    READY = "ready"  # serving (or was paused for a reload)
    STOPPING = "stopping"  # told to drain and exit, or discarded: its exit is expected
    DEAD = "dead"  # its channel closed


@dataclass(eq=False)
class WorkerHandle:
    """The supervisor's view of one worker process."""

    number: int
    generation: str
    sock: socket.socket
    started: float
    trigger: ChangeBatch | None = None
    proc: subprocess.Popen[bytes] | None = None
    #: the process it was forked from (a zygote or a layer)
    warm: ForkServer | None = None
    pid: int | None = None
    state: WorkerState = WorkerState.STARTING
    status: str = ""
    kill_at: float | None = None
    crash: bool = False
    report: str | None = None
    slow_at: float = 0.0  # when a still-importing worker gets a warning (monotonic)
    slow_warned: bool = False
    #: a standby (``_standby``): the files it waits before; once it waits, what it has
    #: read and the folders it has listed
    waits_for: frozenset[str] | None = None
    waiting: bool = False
    read: frozenset[str] = frozenset()
    listed: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.slow_at = time.monotonic() + SLOW_IMPORT

    def send(self, **message: Any) -> bool:
        """One message, never waiting: ``False`` when it could not be sent whole.

        A worker stuck in a loop does not read its channel; once the channel's buffer is
        full a blocking send would freeze the supervisor, and with it every reload.
        """
        data = (json.dumps(message) + "\n").encode()
        try:
            sent = self.sock.send(data, _DONTWAIT)
        except OSError:
            sent = 0
        if sent == len(data):
            return True
        if self.state is not WorkerState.DEAD:
            # Half a line would garble the channel, and a worker that left a whole buffer
            # unread is stuck: it is of no more use.
            self.kill()
        return False

    def kill(self) -> None:
        if self.state is WorkerState.DEAD:
            return
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        elif self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def exit_code(self) -> int | None:
        if self.proc is not None:
            try:
                return self.proc.wait(1.0)
            except subprocess.TimeoutExpired:
                return None
        if self.warm is not None and self.pid is not None:
            return self.warm.exit_code(self.pid, 0.2)
        return None


def describe_exit(code: int | None) -> str:
    """How a worker ended, for a warning: ``exited with code 3``, ``was killed by SIGKILL``."""
    if code is None:
        return "exited"
    if code == INTERNAL_ERROR_EXIT:
        return "stopped on an error in webkit's own code (a bug in webkit: its traceback is above)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"
