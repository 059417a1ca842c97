"""Linux's inotify, read with a blocking ``select()``: no timer runs while nothing changes.

watchfiles wakes its thread every ``step`` milliseconds (to look at its queue and the
stop event) whether or not anything changed: at the 5 ms the reloader needs, 200 wake-ups
a second, most of ``webkit run``'s idle CPU, and up to two steps of delay before a save
is seen. Here the thread sleeps in the kernel until an event arrives (or a second
passes, to look at the stop event), then waits only for the rest of the burst.
Other platforms, and a system without inotify, use watchfiles.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import select
import stat
import struct
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_EXCL_UNLINK = 0x4000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = 0o2000000

MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_EXCL_UNLINK
)
ADDED = IN_CREATE | IN_MOVED_TO
#: A file's last event that says it is complete: written and closed, or moved in.
SETTLED = IN_CLOSE_WRITE | IN_MOVED_TO
DELETED = IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF
#: A file's last event that says it is still open after a write: more of it may come.
WRITING = IN_CREATE | IN_MODIFY
_HEADER = struct.Struct("iIII")

#: A change: ("added" | "modified" | "deleted", path).
Change = tuple[str, str]


def available() -> bool:
    return sys.platform.startswith("linux") and _libc() is not None


_LIBC: ctypes.CDLL | None = None


def _libc() -> ctypes.CDLL | None:
    global _LIBC
    if _LIBC is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.inotify_init1.argtypes = [ctypes.c_int]
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        except (OSError, AttributeError):
            return None
        _LIBC = libc
    return _LIBC


class Inotify:
    """One inotify instance watching folders (each non-recursively) and single files."""

    def __init__(self) -> None:
        libc = _libc()
        if libc is None:
            raise OSError(errno.ENOSYS, "inotify is not available")
        self._libc = libc
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        self.paths: dict[int, str] = {}
        #: path -> the mask of its last event since :meth:`forget`
        self.last: dict[str, int] = {}

    def forget(self) -> None:
        self.last.clear()

    def settled(self) -> bool:
        """True when every file seen since :meth:`forget` was last closed after writing,
        or moved in: nothing of it is half-written."""
        return bool(self.last) and all(mask & SETTLED for mask in self.last.values())

    def writing(self, matters: Callable[[str], bool]) -> bool:
        """True while a file seen since :meth:`forget` for which ``matters`` holds was
        created or written and not closed since."""
        return any(
            mask & WRITING and not mask & IN_ISDIR and matters(path) and _open(path, mask)
            for path, mask in self.last.items()
        )

    def add(self, path: Path) -> None:
        """Watch ``path``; a folder that vanished or cannot be read is skipped."""
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), MASK)
        if wd >= 0:
            self.paths[wd] = str(path)
            return
        code = ctypes.get_errno()
        if code == errno.ENOSPC:
            raise OSError(code, "OS file watch limit reached")
        if code not in (errno.ENOENT, errno.EACCES, errno.ENOTDIR, errno.EPERM):
            raise OSError(code, os.strerror(code))

    def read(self) -> tuple[set[Change], bool]:
        """The changes available now, and whether events were lost (a queue overflow)."""
        changes: set[Change] = set()
        overflow = False
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return changes, overflow
            offset = 0
            while offset + _HEADER.size <= len(data):
                wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                offset += _HEADER.size
                name = data[offset : offset + length].split(b"\0", 1)[0]
                offset += length
                if mask & IN_Q_OVERFLOW:
                    overflow = True
                    continue
                base = self.paths.get(wd)
                if base is None or mask & IN_IGNORED:
                    continue
                path = base + os.sep + os.fsdecode(name) if name else base
                self.last[path] = mask
                if mask & ADDED:
                    changes.add(("added", path))
                elif mask & DELETED:
                    changes.add(("deleted", path))
                else:
                    changes.add(("modified", path))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _open(path: str, mask: int) -> bool:
    """Whether a file whose last event is ``mask`` may still be open for writing. A symlink
    or a hard link is created whole (IN_CREATE and nothing after it, no close to wait for)."""
    if mask & IN_MODIFY:
        return True
    try:
        info = os.lstat(path)
    except OSError:
        return False  # gone already: nothing is being written there
    return not stat.S_ISLNK(info.st_mode) and info.st_nlink == 1


def watch(
    paths: Sequence[Path],
    *,
    step_ms: int,
    debounce_ms: int,
    stopped: Callable[[], bool],
    started: Callable[[], None],
    settled_ms: float | None = None,
    matters: Callable[[str], bool] | None = None,
) -> Iterator[tuple[set[Change], bool]]:
    """Yield (changes, events were lost) for each burst of events on ``paths``.

    A burst ends once ``step_ms`` pass without a new event (``settled_ms`` when every file
    of it was last closed after writing or moved in), or after ``debounce_ms``. While a
    file that ``matters`` is still open after a write, it ends only once that file is
    closed (or after ``debounce_ms``): vim syncs the file to disk before closing it, and an
    editor may write a big one in parts, so a pause there is no end of the save.
    """
    notify = Inotify()
    try:
        for path in paths:
            notify.add(path)
        started()
        while not stopped():
            # Asleep in the kernel until something happens; once a second, a look at the
            # stop flag (the supervisor does not wait for this thread).
            if not select.select([notify.fd], [], [], 1.0)[0]:
                continue
            notify.forget()
            changes, lost = notify.read()
            deadline = time.monotonic() + debounce_ms / 1000
            while (now := time.monotonic()) < deadline:
                if matters is not None and notify.writing(matters):
                    wait = deadline - now
                else:
                    settled = settled_ms is not None and notify.settled()
                    wait = (settled_ms if settled and settled_ms is not None else step_ms) / 1000
                if not select.select([notify.fd], [], [], wait)[0]:
                    break
                more, more_lost = notify.read()
                changes |= more
                lost = lost or more_lost
            if (changes or lost) and not stopped():
                yield changes, lost
    finally:
        notify.close()
