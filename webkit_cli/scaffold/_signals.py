"""Signals while ``webkit new`` writes: interrupt the work, never the clean-up.

Ctrl-C (SIGINT), SIGTERM and a closed terminal (SIGHUP) all stop a run the same way: an
exception (KeyboardInterrupt, or SystemExit(128 + signal)) that unwinds through the
writer's ``finally`` blocks, which remove what was written. Two things make that safe:

* the handler raises only inside :meth:`SignalGuard.interruptible` regions (the render and
  the writes into places the clean-up knows about), and only once: a second Ctrl-C 2 ms
  later, or a SIGHUP right after a SIGINT, is recorded and dropped, so it cannot cut the
  clean-up short (which is what left staging folders behind);
* outside those regions (creating a folder and recording it, the final rename, the
  clean-up itself) a signal is only recorded, and raised at the next region or when the
  guard exits.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

_SIGNAL_NAMES = ("SIGINT", "SIGTERM", "SIGHUP")


def _exception(signum: int) -> BaseException:
    if signum == signal.SIGINT:
        return KeyboardInterrupt()
    # What the shell reports for a process killed by the signal: 143 for SIGTERM, 129 SIGHUP.
    return SystemExit(128 + signum)


class SignalGuard:
    """Defer SIGINT/SIGTERM/SIGHUP except inside :meth:`interruptible` (main thread only)."""

    def __init__(self) -> None:
        self._armed = False
        self._depth = 0
        self.pending: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self._armed:
            self._armed = False  # first: a nested signal sees it disarmed
            raise _exception(signum)
        if self.pending is None:
            self.pending = signum

    def raise_pending(self) -> None:
        """Raise the signal recorded while the work could not be interrupted, if any."""
        signum, self.pending = self.pending, None
        if signum is not None:
            raise _exception(signum)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """A region a signal may interrupt (anything it wrote is already recorded)."""
        self.raise_pending()
        self._armed = True
        try:
            yield
        finally:
            self._armed = False

    def __enter__(self) -> SignalGuard:
        self._depth += 1
        if self._depth == 1 and threading.current_thread() is threading.main_thread():
            for name in _SIGNAL_NAMES:
                signum = getattr(signal, name, None)
                if signum is not None:
                    self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth:
            return
        self._armed = False
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
        if exc_type is None:
            self.raise_pending()  # the work is complete; the user still asked to stop
        self.pending = None


_local = threading.local()  # the guard of the run in progress on this thread


@contextmanager
def guarded() -> Iterator[SignalGuard]:
    """The guard for this run: nested uses share the outermost one."""
    current: SignalGuard | None = getattr(_local, "guard", None)
    if current is not None:
        with current:
            yield current
        return
    guard = _local.guard = SignalGuard()
    try:
        with guard:
            yield guard
    finally:
        _local.guard = None
