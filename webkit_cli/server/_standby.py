"""The standby: a worker forked from the layer ahead of the next save, which runs the
factory until it is about to import a module you have been editing, and waits there.

On CTFd most of a layered reload is the factory importing modules that only import
inside the app (``CTFd/utils/helpers`` registers on ``current_app``; ``CTFd/api`` reads
its config): no layer may hold them, yet they did not change. Measured in a layered
worker (load 8): 150 ms of CPU before the factory imports ``CTFd/views.py``, 17 ms after.
A standby does those 150 ms before the save; the save lets it go on.

The layer's rule, for the standby: it goes on after a save only if every changed file is
one of those it waits for (a ``.py`` it has not imported: it imports it after the save,
fresh), and none of them is a file it has read or a file in a folder it has listed (an
audit hook records both, as in the layer). Otherwise it is killed and the reload forks a
worker as before. It says nothing while it waits: what the factory printed is held back
and written once it goes on, as a worker would have printed it after the save.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from webkit_cli.server._imports import module_locations

if TYPE_CHECKING:
    from webkit_cli.server.worker import ControlChannel


def module_names(files: Iterable[str], path: Sequence[str]) -> set[str]:
    """Every dotted name under which ``files`` may be imported from ``path``."""
    names = set()
    entries = [os.path.realpath(entry or ".") for entry in path]
    for file in files:
        stem = file[: -len(".py")] if file.endswith(".py") else file
        if stem.endswith(os.sep + "__init__"):
            stem = stem[: -len(os.sep + "__init__")]
        for entry in entries:
            if stem.startswith(entry + os.sep):
                names.add(stem[len(entry) + 1 :].replace(os.sep, "."))
    return names


class Held:
    """What the process writes to its stdout and stderr, held back until :meth:`release`."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by release()
        self.saved: list[tuple[int, int]] = []
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        for fd in (1, 2):
            with contextlib.suppress(OSError):
                self.saved.append((fd, os.dup(fd)))
                os.dup2(self.file.fileno(), fd)

    def release(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        for fd, copy in self.saved:
            os.dup2(copy, fd)
            os.close(copy)
        self.saved = []
        with contextlib.suppress(OSError):
            self.file.seek(0)
            data = self.file.read()
            if data:
                os.write(2, data)
        self.file.close()


class WaitBefore(importlib.abc.MetaPathFinder):
    """Stops the import of the first module loaded from ``files``, says what was read so
    far, and waits for ``go`` (any other end: the process exits)."""

    def __init__(self, files: Iterable[str], channel: ControlChannel, inherited: set[str]) -> None:
        from webkit_cli.server._layer import OpenedFiles

        self.names = module_names(files, sys.path)
        self.channel = channel
        self.inherited = inherited
        self.opened = OpenedFiles(dirs=True)
        self.held = Held()
        self.waited = False

    def start(self) -> None:
        self.opened.start()
        sys.meta_path.insert(0, self)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in self.names and not self.waited:
            self.wait(fullname)
        return None  # the usual finders import it, from the file as it is now

    def wait(self, fullname: str) -> None:
        from webkit_cli.server._layer import with_source

        self.waited = True
        self.stop()
        read: set[str] = set()
        for name, module in list(sys.modules.items()):
            if name not in self.inherited:
                read.update(os.path.realpath(p) for p in module_locations(module))
        # A module run from its cached bytecode opened only the .pyc: its source counts.
        for path in self.opened.paths:
            read.update(with_source(os.path.realpath(path)))
        self.channel.send(
            event="standby",
            module=fullname,
            read=sorted(read),
            listed=sorted(os.path.realpath(p) for p in self.opened.dirs or ()),
        )
        self.channel.sock.setblocking(True)
        while True:
            messages = self.channel.read()
            if messages is None:
                os._exit(0)  # the supervisor is gone or did not need it
            for message in messages:
                if message.get("cmd") == "go":
                    importlib.invalidate_caches()  # a file may have been added meanwhile
                    self.held.release()
                    return
                if message.get("cmd") == "stop":
                    os._exit(0)

    def stop(self) -> None:
        self.opened.stop()
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)

    def finished(self) -> dict[str, Any]:
        """After the factory: what to tell the supervisor when it never waited (it imported
        none of the files: of no use)."""
        self.stop()
        if not self.waited:
            self.held.release()
        return {"waited": self.waited}
