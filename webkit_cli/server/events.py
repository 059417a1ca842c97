"""What the supervisor's helper threads and signal handlers tell its loop.

One small frozen dataclass per kind of event, matched with ``match`` in
``Supervisor._dispatch``. They are put on a ``queue.SimpleQueue`` (whose ``put`` is
reentrant, so a signal handler may post one at any time) and taken off by the one
thread that decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from webkit_cli.server._warm import ForkServer
    from webkit_cli.server.handles import WorkerHandle
    from webkit_cli.server.watch import ChangeBatch


@dataclass(frozen=True, eq=False)
class FilesChanged:
    """The watcher saw a batch of changes that matter."""

    batch: ChangeBatch


@dataclass(frozen=True, eq=False)
class WatchFailed:
    """The watch could not be set up (it falls back to polling): say why."""

    message: str


@dataclass(frozen=True, eq=False)
class WorkerSaid:
    """One line from a worker's control channel (``started``, ``ready``, ``refused``...)."""

    worker: WorkerHandle
    message: dict[str, Any]


@dataclass(frozen=True, eq=False)
class WorkerGone:
    """A worker's control channel reached end of file: the worker exited (or never began)."""

    worker: WorkerHandle


@dataclass(frozen=True, eq=False)
class WarmSaid:
    """One message from a warm process or a layer (``warm``, ``learned``, ``layer``, ``exited``)."""

    warm: ForkServer
    message: dict[str, Any]


@dataclass(frozen=True, eq=False)
class WarmGone:
    """A warm process's (or a layer's) channel closed: it exited."""

    warm: ForkServer


@dataclass(frozen=True, eq=False)
class Stop:
    """Ctrl-C, SIGTERM, SIGHUP (terminal closed) or SIGQUIT: stop everything."""

    signum: int


Event: TypeAlias = FilesChanged | WatchFailed | WorkerSaid | WorkerGone | WarmSaid | WarmGone | Stop
