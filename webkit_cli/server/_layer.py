"""The layer: a process, forked from the warm process, that also holds the project's
modules that did not change, so a reload re-imports only what did.

A worker forked from the warm process imports the whole project. On a big project that
is most of the reload. The layer imports once, in the background, every module the last
full worker imported *except* those left out (the modules that changed, and whatever
imported them), and forks workers that import only what is missing and call the factory.

One rule keeps it sound, checked where it can be, never assumed:

* a layer serves a change only if every changed file is absent from it: no module of it
  was loaded from that file, and no file it opened while importing (a YAML, a JSON, a
  template read at import time: an audit hook on ``open`` records them) is among the
  changes. Otherwise the layer is dropped, the change is served by a worker forked from
  the warm process, and the next layer leaves the changed modules out;
* while the layer imports, a guard on ``sys.meta_path`` refuses each left-out module. A
  module that needed one (it imports it, even through ``try/except ImportError``) ran
  only in part, and its side effects (a model registered, a route added) may be in the
  modules kept: the layer is abandoned, and the next one leaves out that module and every
  module whose body was running at the time. The same for any error while importing;
* a changed ``.py`` file that is not one of the modules the layer knows (a new file may
  be what a ``try: import x`` now finds) is served from the warm process;
* the layer never calls the factory (that is the worker's) and never imports the app's
  own module when it is a plain module: it may create the app at import time.

The layer runs the zygote's loop (``_warm.Zygote``), on its own channel to the supervisor.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from webkit_cli.server._imports import ProjectCode, is_skipped, module_locations
from webkit_cli.server._warm import ForkServer, WarmProcess

#: Failed layer builds in a row after which no layer is tried until the next change.
MAX_ROUNDS = 6


def real(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.fspath(path))


def with_source(path: str) -> set[str]:
    """``path``, and for a cached ``.pyc`` the source it was compiled from."""
    found = {path}
    if path.endswith(".pyc") and "__pycache__" in path:
        with contextlib.suppress(ValueError):
            found.add(real(importlib.util.source_from_cache(path)))
    return found


# -- files opened while importing ----------------------------------------------------

#: Where opened files are recorded (a stack: the innermost records).
_recording: list[OpenedFiles] = []
_hook_installed = False
_LISTING = ("os.listdir", "os.scandir")


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audit event of the process, for ever (a hook cannot be removed):
    # it must cost nothing when not recording.
    if not _recording or (event != "open" and event not in _LISTING):
        return
    recorder = _recording[-1]
    path = args[0] if args else None
    if event != "open":
        if recorder.dirs is None or sys._getframe(1).f_code.co_filename.startswith("<frozen"):
            return  # not asked for, or the import system's finders (a module found is recorded)
        path = "." if path is None else path
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str):
        return  # a file descriptor
    if event != "open":
        assert recorder.dirs is not None
        recorder.dirs.add(os.path.abspath(path))  # noqa: PTH100 - cheap
        return
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_name != "<module>":
        frame = frame.f_back
    reader = frame.f_code.co_filename if frame is not None else None
    recorder.paths.setdefault(os.path.abspath(path), reader)  # noqa: PTH100 - cheap


class OpenedFiles:
    """Records every file the process opens (``open``, ``io.open_code``, ``os.open``,
    ``Path.read_text``...) between ``start`` and ``stop``, with the module that did; with
    ``dirs``, the folders it lists too (``os.listdir``, ``os.scandir``, ``os.walk``)."""

    def __init__(self, *, dirs: bool = False) -> None:
        self.paths: dict[str, Any] = {}
        self.dirs: set[str] | None = set() if dirs else None

    def start(self) -> None:
        global _hook_installed
        if not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True
        _recording.append(self)

    def stop(self) -> None:
        if _recording and _recording[-1] is self:
            _recording.pop()


# -- the guard ------------------------------------------------------------------------


def running_module_files(frame: FrameType | None, base: FrameType | None) -> list[str]:
    """The files of the module bodies being executed on the stack (the import chain),
    up to ``base`` (the frame that started the imports)."""
    files = []
    while frame is not None and frame is not base:
        code = frame.f_code
        if code.co_name == "<module>" and not code.co_filename.startswith("<"):
            files.append(real(code.co_filename))
        frame = frame.f_back
    return files


class LeftOut(ImportError):
    """A module left out of the layer was imported while building it."""


class ImportGuard(importlib.abc.MetaPathFinder):
    """Refuses the left-out modules, and remembers who asked for them."""

    def __init__(self, excluded: Iterable[str], base: FrameType | None) -> None:
        self.excluded = frozenset(excluded)
        self.base = base
        #: files of the module bodies that were running when a left-out module was refused
        self.chain: set[str] = set()
        #: left-out modules a module body asked for (not those the layer itself skipped)
        self.refused: list[str] = []

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not spec.origin or real(spec.origin) not in self.excluded:
            return None  # let the usual finders do it, as they would have
        chain = running_module_files(sys._getframe(1), self.base)
        if chain:  # asked for by a module body, which now runs only in part
            self.refused.append(fullname)
            self.chain.update(chain)
        raise LeftOut(f"{fullname} is left out of the layer", name=fullname)


# -- what imports what, read from the sources ---------------------------------------


def module_file(name: str, path: Sequence[str]) -> str | None:
    """The source file of module ``name`` found on ``path`` (without importing anything)."""
    parts = name.split(".")
    for entry in path:
        base = Path(entry or ".").joinpath(*parts)
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return real(candidate)
    return None


def static_imports(file: str, name: str, cache: ImportsCache | None = None) -> set[str]:
    """Module names that ``file`` (module ``name``) imports when it is imported, resolved
    (relative imports too); ``from a import b`` gives ``a`` and ``a.b``.

    With ``cache``, a file whose bytes it has already read is not parsed again."""
    import ast

    from webkit_cli.server._imports import import_time_imports

    try:
        source = Path(file).read_bytes()
    except OSError:
        return set()
    if cache is not None:
        found_before = cache.get(file, name, source)
        if found_before is not None:
            return found_before
    try:
        tree = ast.parse(source, filename=file)
    except (SyntaxError, ValueError, RecursionError):
        return set()
    package = name if file.endswith("__init__.py") else name.rpartition(".")[0]
    found: set[str] = set()
    for node in import_time_imports(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".") if package else []
            if node.level > 1:
                anchor = anchor[: len(anchor) - node.level + 1]
            base = ".".join([*anchor, *([base] if base else [])])
        if base:
            found.add(base)
        found.update(f"{base}.{a.name}" if base else a.name for a in node.names if a.name != "*")
    if cache is not None:
        cache.put(file, name, source, found)
    return found


class ImportsCache:
    """What :func:`static_imports` read from each file, keyed by the file's exact bytes,
    kept in the run's folder: each layer is forked afresh from the warm process, and
    parsing CTFd's 174 modules again took 260 ms of CPU per layer build (about half of
    it). A file whose bytes differ in any way is parsed again."""

    FILE_NAME = "layer-imports.marshal"
    VERSION = 1

    def __init__(self, folder: str | None) -> None:
        self.path = Path(folder) / self.FILE_NAME if folder else None
        self.entries: dict[tuple[str, str], tuple[bytes, list[str]]] = {}
        self.added = False
        if self.path is None:
            return
        import marshal

        try:
            version, entries = marshal.loads(self.path.read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            return  # none yet, or unreadable: every file is parsed
        if version == self.VERSION and isinstance(entries, dict):
            self.entries = entries

    @staticmethod
    def _digest(source: bytes) -> bytes:
        import hashlib

        return hashlib.blake2b(source, digest_size=20).digest()

    def get(self, file: str, name: str, source: bytes) -> set[str] | None:
        entry = self.entries.get((file, name))
        if entry is None or entry[0] != self._digest(source):
            return None
        return set(entry[1])

    def put(self, file: str, name: str, source: bytes, found: set[str]) -> None:
        self.entries[(file, name)] = (self._digest(source), sorted(found))
        self.added = True

    def save(self) -> None:
        """Write it back (atomically: another layer may be reading it)."""
        if self.path is None or not self.added:
            return
        import marshal
        import tempfile

        with contextlib.suppress(OSError, ValueError):
            fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".layer-imports-")
            try:
                with os.fdopen(fd, "wb") as stream:
                    stream.write(marshal.dumps((self.VERSION, self.entries)))
                Path(temp).replace(self.path)
            except OSError:
                Path(temp).unlink(missing_ok=True)
        self.added = False


def packages_of(name: str) -> set[str]:
    """The packages that importing ``name`` imports first: ``a.b.c`` -> ``a``, ``a.b``."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def with_packages(names: Iterable[str]) -> set[str]:
    """``names`` and every package above each of them."""
    found = set()
    for name in names:
        found.add(name)
        found |= packages_of(name)
    return found


def dependents(
    excluded: set[str],
    names: Sequence[str],
    path: Sequence[str],
    cache: ImportsCache | None = None,
) -> tuple[set[str], set[str]]:
    """The modules among ``names`` that import (at import time, as read from their
    sources, transitively) a module loaded from an ``excluded`` file: (their names, files).

    A shortcut, not the rule: what the sources do not say (an ``importlib`` call) the guard
    still catches. Without it, each layer would find one such module per attempt.
    """
    files = {n: module_file(n, path) for n in names}
    by_file = {f: n for n, f in files.items() if f}
    left_out = {by_file[f] for f in excluded if f in by_file}
    if not left_out:
        return set(), set()  # nothing to depend on (the first layer of a run): no parsing
    # Importing ``a.b.c`` runs ``a`` and ``a.b`` first: a module inside a left-out package
    # cannot be imported either, nor can what imports it.
    imports = {
        n: with_packages(static_imports(f, n, cache)) | packages_of(n)
        for n, f in files.items()
        if f
    }
    changed = True
    while changed:
        changed = False
        for name, imported in imports.items():
            if name not in left_out and imported & left_out:
                left_out.add(name)
                changed = True
    left_out -= {by_file[f] for f in excluded if f in by_file}
    return left_out, {f for n in left_out if (f := files.get(n))}


# -- building -------------------------------------------------------------------------


@dataclass
class LayerReport:
    """What building a layer did."""

    ok: bool = True
    #: why it is of no use ("" when ok)
    reason: str = ""
    #: files the next layer must leave out too (modules that needed a left-out one)
    exclude: list[str] = field(default_factory=list)
    #: project modules it holds
    modules: list[str] = field(default_factory=list)
    #: every file it depends on: its modules' files and the files opened while importing
    files: list[str] = field(default_factory=list)
    #: a data file opened while importing -> the module whose body opened it
    readers: dict[str, str] = field(default_factory=dict)
    ms: float = 0.0

    def message(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "reason": self.reason,
            "exclude": self.exclude,
            "modules": self.modules,
            "files": self.files,
            "readers": self.readers,
            "ms": self.ms,
        }


def _outside_environment(path: str) -> bool:
    """False for the interpreter's and the installed packages' files (never watched)."""
    prefixes = {real(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    return not any(path.startswith(prefix + os.sep) for prefix in prefixes)


def app_module_names(project_dir: str | None, app: str | None) -> set[str]:
    """The names the app's own module may have: it may create the app when imported."""
    from webkit_cli.project import find_project, resolve_app_target

    try:
        target = resolve_app_target(find_project(project_dir), app).target
    except Exception:  # noqa: BLE001 - the worker says what is wrong with it
        return {"app", "wsgi"}
    if target is None:
        return {"app", "wsgi"}  # Flask's conventions
    module = target.split(":", 1)[0]
    if module.endswith(".py") or "/" in module or os.sep in module:
        return {Path(module).stem}
    return {module}


def build_layer(
    code: ProjectCode,
    *,
    exclude: Iterable[str],
    candidates: Sequence[str],
    skip: Iterable[str],
    app_modules: Iterable[str] = (),
    cache_dir: str | None = None,
) -> LayerReport:
    """Import the project's modules among ``candidates`` (in order) except those loaded
    from ``exclude`` and the app's own plain module (``app_modules``); ``cache_dir``: the
    run's folder, where what the sources import is kept for the next layer.

    Runs in the layer process; never raises for the project's errors.
    """
    started = time.perf_counter()
    report = LayerReport()
    excluded = {real(p) for p in exclude}
    before = set(sys.modules)
    # A package (a name others are inside of) is imported: its factory is not called.
    plain_app = {m for m in app_modules if not any(n.startswith(m + ".") for n in candidates)}
    tops: dict[str, bool] = {}
    own = []
    for name in candidates:
        top = name.split(".")[0]
        if top not in tops:
            tops[top] = not code.is_third_party(top)
        if tops[top]:
            own.append(name)
    cache = ImportsCache(cache_dir)
    _, more = dependents(excluded, own, sys.path, cache)
    cache.save()
    excluded |= more
    guard = ImportGuard(excluded, sys._getframe())
    opened = OpenedFiles()
    importlib.invalidate_caches()
    sys.meta_path.insert(0, guard)
    opened.start()
    try:
        for name in own:
            if name in sys.modules or is_skipped(name, skip) or name.startswith("__main__"):
                continue
            if name in plain_app:
                continue  # the app's own module: the worker's (it may create the app)
            # After a failure the layer is of no use, but it goes on: each other module
            # that fails (or needs a left-out one) is found in this round, not one round
            # each. Whatever the rest does, the next layer starts again from the zygote.
            try:
                importlib.import_module(name)
            except LeftOut:
                pass  # the guard has the chain
            except ModuleNotFoundError as exc:
                if exc.name != name:  # the module is there; something it imports is not
                    report.exclude.extend(_failed_chain(exc))
                    report.reason = report.reason or f"importing {name} failed: {exc!r}"[:300]
            except BaseException as exc:  # noqa: BLE001 - the worker shows the user's errors
                report.exclude.extend(_failed_chain(exc))
                report.reason = report.reason or f"importing {name} failed: {exc!r}"[:300]
    finally:
        opened.stop()
        sys.meta_path.remove(guard)
    if guard.refused:
        report.reason = report.reason or f"{guard.refused[0]} is left out, and a module imported it"
        report.exclude.extend(sorted(guard.chain))
    files: set[str] = set()
    for path, reader in opened.paths.items():
        resolved = real(path)
        files |= with_source(resolved)
        if reader and not reader.startswith("<") and not resolved.endswith((".py", ".pyc")):
            report.readers[resolved] = real(reader)
    new = [n for n in sys.modules if n not in before]
    for name in new:
        for location in module_locations(sys.modules[name]):
            files |= with_source(real(location))
    # The rule itself, checked on the result, whatever the guard did or missed (a module
    # loaded by a custom loader, a source exec'd by hand).
    held = files & excluded
    if held and not report.reason:
        report.reason = f"{len(held)} left-out file(s) got in anyway"
    report.ok = not report.reason
    # The statically found ones too: the supervisor can tell a change to them from a new
    # file (it serves only changes to files it told the layer to leave out).
    report.exclude = sorted((set(report.exclude) | more) - (excluded - more))
    report.modules = code.loaded(new)
    report.files = sorted(p for p in files if _outside_environment(p))
    report.readers = {p: r for p, r in report.readers.items() if _outside_environment(p)}
    report.ms = round((time.perf_counter() - started) * 1000, 1)
    return report


def _failed_chain(exc: BaseException) -> list[str]:
    """The module bodies an exception went through: each ran only in part."""
    import traceback

    return [
        real(frame.f_code.co_filename)
        for frame, _ in traceback.walk_tb(exc.__traceback__)
        if frame.f_code.co_name == "<module>" and not frame.f_code.co_filename.startswith("<")
    ]


# -- the supervisor's side ------------------------------------------------------------


class LayerProcess(ForkServer):
    """The supervisor's handle on one layer, forked by the zygote on request."""

    def __init__(
        self,
        warm: WarmProcess,
        exclude: Iterable[str],
        candidates: Sequence[str],
        on_message: Callable[[ForkServer, dict[str, Any] | None], None],
    ) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        super().__init__(parent, on_message)
        #: the files it was told to leave out: their modules are never in it
        self.exclude = frozenset(real(p) for p in exclude)
        #: set by the supervisor once the layer said it is ready (from its loop's thread)
        self.ready = False
        self.pid: int | None = None
        #: every file it depends on (its modules' and those opened while importing)
        self.files: frozenset[str] = frozenset()
        #: a data file it read while importing -> the module that read it
        self.readers: dict[str, str] = {}
        self.modules: list[str] = []
        #: files changed while it was importing: it may hold one, known once it is ready
        self.changed: set[str] = set()
        try:
            message = {"exclude": sorted(self.exclude), "candidates": list(candidates)}
            if not warm.fork_layer(message, child.fileno()):
                parent.shutdown(socket.SHUT_RDWR)  # the reader sees end of file: gone
        finally:
            child.close()
        self._start_reader()

    def took(self, message: dict[str, Any]) -> None:
        """Take in its ``layer`` message (it is ready)."""
        self.pid = int(message["pid"])
        # It left out more than it was told (what imports a left-out module): known too.
        self.exclude |= {str(p) for p in message.get("exclude", [])}
        self.files = frozenset(str(p) for p in message.get("files", []))
        self.modules = [str(m) for m in message.get("modules", [])]
        readers = message.get("readers")
        if isinstance(readers, dict):
            self.readers = {str(k): str(v) for k, v in readers.items()}
        self.ready = True

    def holds(self, paths: Iterable[Path]) -> bool:
        """True when any of ``paths`` is a file it depends on."""
        return any(real(p) in self.files for p in paths)

    def can_serve(self, paths: Iterable[Path]) -> bool:
        """The rule: every changed file is absent from the layer, and each changed ``.py``
        is a module it was told to leave out (a new file may change what an import finds)."""
        if not self.ready:
            return False
        for path in paths:
            resolved = real(path)
            if resolved in self.files:
                return False
            if resolved.endswith(".py") and resolved not in self.exclude:
                return False
        return True

    def leaves_out(self, paths: Iterable[Path]) -> bool:
        """True when every one of ``paths`` is a ``.py`` file it was told to leave out:
        whenever it was saved, the layer never imports it."""
        resolved = [real(p) for p in paths]
        return bool(resolved) and all(p.endswith(".py") and p in self.exclude for p in resolved)

    def left_out_for(self, paths: Iterable[Path]) -> set[str]:
        """What the next layer leaves out after ``paths`` changed: the changed modules, and
        the modules that read a changed data file while importing."""
        found = set()
        for path in paths:
            resolved = real(path)
            if resolved.endswith(".py"):
                found.add(resolved)
            elif resolved in self.readers:
                found.add(self.readers[resolved])
        return found

    def terminate(self) -> None:
        """Stop it now (its workers with it); its channel closes when it has exited."""
        import signal

        self.retire()
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        import signal

        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
