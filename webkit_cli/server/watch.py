"""Watch the project's own files and decide what each batch of changes asks for.

Three small parts, as in uvicorn's reloaders: :class:`ProjectFilter` answers "is this
path worth a look?", :func:`classify` answers "what does a change to it need?", and
:class:`ProjectWatcher` turns watchfiles' event batches into :class:`ChangeBatch` values.

Only the project's own folders are watched, never a virtual environment or
site-packages: a recursive inotify watch on a venv costs thousands of watches (the
usual cause of "inotify watch limit reached") and never carries a change that matters.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from webkit_cli._paths import TEMPLATE_SUFFIXES, display_path, is_ignored_dir

#: The random part of a temporary's name: six characters for C's ``mkstemp()`` (sed, GIO,
#: rsync), eight for Python's ``tempfile``.
_RANDOM6 = "[A-Za-z0-9_]" * 6
_RANDOM8 = "[A-Za-z0-9_]" * 8

#: File-name patterns never acted on: databases and their journals, and the temporary
#: files editors and tools write beside the file they save. A temporary must be known by
#: its name: it may be written in one batch of events and renamed over the real file in the
#: next, and under ``templates/`` or ``static/`` any file counts, whatever its suffix.
IGNORED_FILE_PATTERNS = (
    "*.py[cod]",
    "*.sqlite",
    "*.sqlite3",
    "*.sqlite-*",
    "*.sqlite3-*",
    "*.db",
    "*.db-journal",
    "*.db-wal",
    "*.db-shm",
    "*-journal",
    # vim: swap files (``.swp``, then ``.swo``, ``.swn`` ... while another vim holds the
    # first), the ``.swx`` probe, the ``file~`` backup of ``writebackup``.
    "*.swp",
    "*.swo",
    "*.swx",
    ".*.sw[a-p]",
    "*~",
    "4913",  # vim probes that it can write a directory by creating this file
    # emacs: ``.#file`` lock (a symlink to nowhere), ``#file#`` autosave; backups end in ~.
    ".#*",
    "#*#",
    # JetBrains "safe write": ``file___jb_tmp___`` renamed over ``file``, whose old copy
    # is ``file___jb_old___`` (``___jb_bak___`` in older versions) until it is deleted.
    "*___jb_???___",
    # ``sed -i``: ``sedXXXXXX`` in the file's folder; gedit and every GIO writer.
    "sed" + _RANDOM6,
    ".goutputstream-" + _RANDOM6,
    # Atomic writers (rsync, mkstemp with the name as prefix): ``.file.XXXXXX``.
    ".*.*." + _RANDOM6,
    ".*.*." + _RANDOM8,
    "*.tmp",
    ".DS_Store",
    "flycheck_*",
    ".coverage",
    ".coverage.*",
)

#: Data read at import time: a change needs a new worker, like a ``.py`` change.
CODE_DATA_SUFFIXES = frozenset({".py", ".toml", ".json", ".yaml", ".yml", ".ini", ".cfg"})
#: Pages and text assets hashed at start (images are not: reading them all would be slow).
TEXT_ASSET_SUFFIXES = TEMPLATE_SUFFIXES | {".css", ".js", ".mjs", ".svg"}
#: Files whose change rebuilds everything, warm process included (environment, dependencies).
FULL_RESTART_NAMES = frozenset({".env", ".flaskenv", "pyproject.toml"})


class Action(IntEnum):
    """What a change needs, weakest first: a batch needs the ``max()`` of its changes'."""

    CSS = 1  # swap the stylesheet in open pages
    RELOAD = 2  # refresh open pages (a template or an asset)
    WORKER = 3  # a new worker imports the project again
    FULL = 4  # the warm process too (environment, dependencies)

    @property
    def label(self) -> str:
        """``"css"``, ``"reload"``...: the name the live-reload protocol and the log use."""
        return self.name.lower()


#: What the open pages take care of, without a new worker.
PAGE_ACTIONS = frozenset({Action.CSS, Action.RELOAD})


@dataclass(frozen=True)
class ChangeBatch:
    """One debounced batch of changes and the single action it needs."""

    paths: tuple[Path, ...]
    action: Action

    def merged(self, other: ChangeBatch) -> ChangeBatch:
        """Both batches' paths (in order, once each) with the stronger action."""
        paths = tuple(dict.fromkeys(self.paths + other.paths))
        return ChangeBatch(paths=paths, action=max(self.action, other.action))

    def describe(self, root: Path, limit: int = 3) -> str:
        """``app.py, templates/index.html (+2 more)`` relative to ``root``."""
        names = [display_path(path, root) for path in self.paths[:limit]]
        more = len(self.paths) - limit
        return ", ".join(names) + (f" (+{more} more)" if more > 0 else "")


def is_venv_dir(path: Path) -> bool:
    return (path / "pyvenv.cfg").is_file()


def classify(path: Path, root: Path) -> Action | None:
    """What a change to ``path`` needs, or ``None`` when it needs nothing."""
    name = path.name
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = path.parts
    if name in FULL_RESTART_NAMES and len(parts) == 1:
        return Action.FULL
    suffix = path.suffix.lower()
    if suffix == ".py":
        return Action.WORKER
    dirs = parts[:-1]
    if "templates" in dirs:
        return Action.RELOAD
    if "static" in dirs:
        return Action.CSS if suffix == ".css" else Action.RELOAD
    if suffix in TEMPLATE_SUFFIXES - {".txt", ".xml"}:
        return Action.RELOAD
    if suffix in CODE_DATA_SUFFIXES:
        return Action.WORKER
    return None


def classify_batch(
    paths: Iterable[Path], root: Path, extra: Sequence[Path] = ()
) -> ChangeBatch | None:
    """The batch's strongest action, or ``None`` when nothing in it matters.

    A file under an ``extra`` path (``--watch``) always matters: at least a new worker.
    """
    acted: list[Path] = []
    actions: list[Action] = []
    for path in sorted(set(paths)):
        action = classify(path, root)
        if action is None and any(path == e or e in path.parents for e in extra):
            action = Action.WORKER
        if action is None:
            continue
        acted.append(path)
        actions.append(action)
    if not actions:
        return None
    return ChangeBatch(paths=tuple(acted), action=max(actions))


#: Build output that the app serves from a static folder (webpack's ``static/build/`` in
#: cookiecutter-flask, Vite's or Tailwind's ``static/dist/``): what the browser loads, so
#: watched there, though a ``build/`` or ``dist/`` elsewhere is packaging output.
STATIC_BUILD_DIRS = frozenset({"build", "dist"})


def _ignored_dir(name: str, above: Sequence[str]) -> bool:
    """``is_ignored_dir(name)``, except for a build folder below a ``static`` folder."""
    if name in STATIC_BUILD_DIRS and "static" in above:
        return False
    return is_ignored_dir(name)


class ProjectFilter:
    """watchfiles filter: the default excludes, venvs, databases, editor files and ``--exclude``."""

    def __init__(self, root: Path, exclude: Sequence[str] = ()) -> None:
        self.root = root
        self.exclude = tuple(exclude)
        self._file_re = re.compile(
            "|".join(fnmatch.translate(p) for p in IGNORED_FILE_PATTERNS + self.exclude)
        )
        self._venvs: set[str] = set()

    def __call__(self, change: object, path: str) -> bool:
        return not self.is_ignored(Path(path))

    def is_ignored(self, path: Path) -> bool:
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            rel = path
        parts = rel.parts
        if not parts:
            return False
        # The last part too: creating ``__pycache__`` is no new folder to watch (it would
        # restart the watch for nothing).
        if any(_ignored_dir(part, parts[:i]) for i, part in enumerate(parts)):
            return True
        if self._file_re.match(parts[-1]) or self._file_re.match(rel.as_posix()):
            return True
        if any(fnmatch.fnmatch(part, pattern) for part in parts[:-1] for pattern in self.exclude):
            return True
        # A virtual environment under any name (env/, .env-3.11/ ...): it holds pyvenv.cfg.
        return any(
            str(self.root.joinpath(*parts[: i + 1])) in self._venvs for i in range(len(parts))
        )

    def watch_roots(self, extra: Sequence[Path] = ()) -> tuple[list[Path], list[Path]]:
        """(recursive roots, non-recursive roots) covering the project without its venvs.

        The project root itself is watched non-recursively (``app.py``, ``.env``,
        ``pyproject.toml``); each of its folders that is not excluded, recursively.
        """
        recursive: list[Path] = []
        try:
            children = sorted(self.root.iterdir())
        except OSError:
            children = []
        for child in children:
            if not child.is_dir() or child.is_symlink():
                continue
            if is_venv_dir(child):
                self._venvs.add(str(child))
                continue
            if self.is_ignored(child / "x"):
                continue
            recursive.append(child)
        for path in extra:
            if path.exists() and not any(path == r or r in path.parents for r in recursive):
                recursive.append(path)
        return recursive, [self.root]


INOTIFY_FIX = (
    "The system limit on watched files was reached. Raise it with "
    "'sudo sysctl fs.inotify.max_user_watches=524288' (add it to /etc/sysctl.d/ to keep it), "
    "exclude big folders with --exclude, or use --poll. Falling back to polling for now."
)


def watch_error_message(exc: BaseException) -> str:
    """The message for a watch that could not be set up, with the fix when it is known."""
    text = str(exc)
    if "limit" in text.lower() or getattr(exc, "errno", None) == 28:
        return f"Cannot watch the project files ({text}). {INOTIFY_FIX}"
    return f"Cannot watch the project files ({text}). Falling back to polling (--poll)."


class ProjectWatcher:
    """Watch the project; call ``on_batch`` from background threads for each relevant batch."""

    #: ms between two looks for more events once one arrived: an editor's save is a burst
    #: of events within a few ms (write temp, rename, chmod), grouped until a look finds
    #: nothing new; 5 ms groups them without adding lag.
    STEP_MS = 5
    #: the same once every file of the burst was closed after writing (or moved in): the
    #: save is complete, and 4 ms of the 5 were a fifth of a layered reload (generated site).
    SETTLED_MS = 1
    DEBOUNCE_MS = 300

    def __init__(
        self,
        root: Path,
        *,
        extra: Sequence[Path] = (),
        exclude: Sequence[str] = (),
        poll: bool = False,
        on_batch: Callable[[ChangeBatch], None],
        on_error: Callable[[str], None],
    ) -> None:
        self.root = root
        self.filter = ProjectFilter(root, exclude)
        self.extra = tuple(extra)
        self.recursive, self.flat = self.filter.watch_roots(extra)
        self.poll = poll
        self.on_batch = on_batch
        self.on_error = on_error
        self.stop_event = threading.Event()
        #: set once the files are watched (or polled)
        self.ready = threading.Event()
        self._watch_started_ns = 0
        self._digests: dict[Path, bytes | None] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        #: files that vanished in a batch of nothing else, given time to come back
        self._vanished: set[Path] = set()
        self._vanished_timer: threading.Timer | None = None

    @property
    def described_roots(self) -> list[str]:
        """What is watched, relative to the project root, for the banner."""
        return ["./ (top level)", *(display_path(p, self.root) + "/" for p in self.recursive)]

    def directories(self) -> list[Path]:
        """Every folder of the project that is not excluded, each to be watched on its own.

        One non-recursive watch per folder, all in one watcher: the venv is never
        entered (a recursive watch of the root would add a watch for each of its
        thousands of folders) and one thread serves them all, which keeps idle CPU low.
        """
        found: list[Path] = [self.root]
        # Listed again each time: a folder created at the top level is watched too.
        self.recursive, _ = self.filter.watch_roots(self.extra)
        for top in self.recursive:
            if top.is_file():
                found.append(top)  # a single file given with --watch
                continue
            for current, subdirs, _ in os.walk(top):
                here = Path(current)
                found.append(here)
                subdirs[:] = sorted(
                    d
                    for d in subdirs
                    if not self.filter.is_ignored(here / d / "x") and not is_venv_dir(here / d)
                )
        return found

    #: Pages and assets larger than this are not hashed: any save of them counts.
    DIGEST_LIMIT = 2 * 1024 * 1024

    def _digest(self, path: Path) -> bytes | None:
        try:
            if path.stat().st_size > self.DIGEST_LIMIT:
                return None
            return hashlib.blake2b(path.read_bytes(), digest_size=16).digest()
        except OSError:
            return None

    def _remember_pages(self) -> None:
        """Hash the templates and static files once, to tell a real change from a touch."""
        for directory in self.directories():
            if directory.is_file():
                continue
            with contextlib.suppress(OSError):
                for entry in os.scandir(directory):
                    path = Path(entry.path)
                    if (
                        path.suffix.lower() in TEXT_ASSET_SUFFIXES
                        and entry.is_file()
                        and classify(path, self.root) in PAGE_ACTIONS
                    ):
                        self._digests[path] = self._digest(path)

    def real_changes(self, paths: Iterable[Path]) -> set[Path]:
        """``paths`` without the pages and assets whose content did not change.

        A browser refresh only for a real change (a save without edits, a ``touch``, a
        formatter that left the file as it was: no refresh). Python files are not
        filtered: touching one is a common way to ask for a reload.
        """
        real = set()
        for path in paths:
            if classify(path, self.root) in PAGE_ACTIONS:
                digest = self._digest(path)
                if digest is not None and self._digests.get(path) == digest:
                    continue
                self._digests[path] = digest
            real.add(path)
        return real

    def start(self) -> None:
        thread = threading.Thread(target=self._run, name="webkit-watch", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self.stop_event.set()

    def _batches(self, paths: list[Path]) -> Iterator[tuple[set[Path], bool]]:
        """(changed paths, whether the set of folders changed) for each batch."""
        watched = set(paths)
        for raw, lost in self._changes(paths):
            # Filtered first: a new ``__pycache__`` is no folder to watch either.
            changes = {(c, p) for c, p in raw if not self.filter.is_ignored(Path(p))}
            added = {p for change, p in changes if change == "added"}
            # An editor's temporary file (created and removed within the batch) is no change.
            changed = {Path(p) for _, p in changes if not (p in added and not Path(p).exists())}
            folders_changed = (
                lost
                or any(Path(p).is_dir() for p in added)
                or any(Path(p) in watched for change, p in changes if change == "deleted")
            )
            yield self._hold_vanished(changed), folders_changed

    #: seconds a file that vanished in a batch of nothing else has to come back: an editor
    #: that keeps a backup moves the file away first (vim's ``file~``, JetBrains'
    #: ``file___jb_old___``, emacs) and writes the new one after, and a batch may end
    #: between the two (a busy machine, an editor that syncs to disk).
    VANISHED_GRACE = 0.3

    def _hold_vanished(self, changed: set[Path]) -> set[Path]:
        """``changed`` without the files that vanished, when nothing else of it matters.

        A file that comes back within :attr:`VANISHED_GRACE` is a change in the batch that
        brings it back, once, with its own action; one that stays away is reported then.
        Beside a change that matters, a vanished file is reported at once (``mv a.py b.py``).
        """
        with self._lock:
            self._vanished -= changed
            gone = {path for path in changed if not path.exists()}
            rest = changed - gone
            if classify_batch(rest, self.root, self.extra) is not None:
                held = {path for path in self._vanished if not path.exists()}
                self._cancel_vanished()
                return changed | held
            if gone:
                self._vanished |= gone
                if self._vanished_timer is None:
                    timer = threading.Timer(self.VANISHED_GRACE, self._release_vanished)
                    timer.daemon = True
                    self._vanished_timer = timer
                    timer.start()
            return rest

    def _cancel_vanished(self) -> None:
        self._vanished.clear()
        if self._vanished_timer is not None:
            self._vanished_timer.cancel()
            self._vanished_timer = None

    def _release_vanished(self) -> None:
        """The grace is over: the files still missing were deleted."""
        with self._lock:
            if threading.current_thread() is not self._vanished_timer:
                return  # cancelled after it fired: the files came back or were reported
            gone = {path for path in self._vanished if not path.exists()}
            self._cancel_vanished()
        batch = classify_batch(self.real_changes(gone), self.root, self.extra)
        if batch is not None and not self.stop_event.is_set():
            self.on_batch(batch)

    def _matters(self, path: str) -> bool:
        """Whether a change to ``path`` would be acted on (a worker, a page, a stylesheet)."""
        file = Path(path)
        if self.filter.is_ignored(file):
            return False
        return classify_batch([file], self.root, self.extra) is not None

    def _started(self) -> None:
        # The watch is set up now: a worker takes far longer to import the app, so no save
        # made once it answers can be missed.
        self._watch_started_ns = time.time_ns()
        self.ready.set()

    def _changes(self, paths: list[Path]) -> Iterator[tuple[set[tuple[str, str]], bool]]:
        """Each burst of raw changes ("added" / "modified" / "deleted", path), and whether
        events were lost: inotify on Linux (no timer while idle), watchfiles elsewhere."""
        from webkit_cli.server import _inotify

        if _inotify.available():
            yield from _inotify.watch(
                paths,
                step_ms=self.STEP_MS,
                debounce_ms=self.DEBOUNCE_MS,
                stopped=self.stop_event.is_set,
                started=self._started,
                settled_ms=self.SETTLED_MS,
                matters=self._matters,
            )
            return
        import watchfiles

        names = {
            watchfiles.Change.added: "added",
            watchfiles.Change.modified: "modified",
            watchfiles.Change.deleted: "deleted",
        }
        self._started()
        for changes in watchfiles.watch(
            *paths,
            watch_filter=self.filter,
            debounce=self.DEBOUNCE_MS,
            step=self.STEP_MS,
            stop_event=self.stop_event,
            recursive=False,
            force_polling=False,
            raise_interrupt=False,
            ignore_permission_denied=True,
        ):
            yield {(names[change], path) for change, path in changes}, False

    def _run(self) -> None:
        self._remember_pages()
        poll = self.poll
        known: set[Path] | None = None
        gap: dict[Path, tuple[int, int, int]] | None = None
        while not self.stop_event.is_set():
            if poll:
                self._poll()
                return
            try:
                directories = self.directories()
                if known is not None:
                    self._report_new_folders(set(directories) - known)
                known = set(directories)
                if gap is not None:
                    self._catch_up_later(gap)
                    gap = None
                for changed, folders_changed in self._batches(directories):
                    batch = classify_batch(self.real_changes(changed), self.root, self.extra)
                    if batch is not None:
                        self.on_batch(batch)
                    if folders_changed:
                        # Watch the new folder (or stop watching a removed one). Saves made
                        # while the watch is rebuilt are found by comparing with this.
                        gap = self.snapshot()
                        break
                else:
                    return  # stopped
            except OSError as exc:  # inotify limits, vanished folders
                self.on_error(watch_error_message(exc))
                poll = True

    #: seconds after a watch restart at which saves made during the restart are looked for
    CATCH_UP_DELAY = 0.1

    def _catch_up_later(self, before: dict[Path, tuple[int, int, int]]) -> None:
        """Report files changed while the watch was being rebuilt (once it is up again).

        Only changes older than the new watch count: later ones are the watch's to report.
        """

        def catch_up() -> None:
            restarted = self._watch_started_ns
            now = self.snapshot()
            missed = {
                path
                for path in before.keys() | now.keys()
                if before.get(path) != now.get(path)
                and (path not in now or now[path][0] <= restarted)
            }
            batch = classify_batch(self.real_changes(missed), self.root, self.extra)
            if batch is not None and not self.stop_event.is_set():
                self.on_batch(batch)

        timer = threading.Timer(self.CATCH_UP_DELAY, catch_up)
        timer.daemon = True
        timer.start()

    def _report_new_folders(self, folders: set[Path]) -> None:
        """Files that appeared in a new folder before its watch was set up are changes too."""
        files: set[Path] = set()
        for folder in folders:
            with contextlib.suppress(OSError):
                files.update(
                    Path(entry.path)
                    for entry in os.scandir(folder)
                    if entry.is_file() and not self.filter.is_ignored(Path(entry.path))
                )
        batch = classify_batch(files, self.root, self.extra) if files else None
        if batch is not None:
            self.on_batch(batch)

    # -- polling ------------------------------------------------------------------------

    #: seconds between two scans when polling; a scan of a few hundred files takes ~1 ms
    POLL_INTERVAL = 0.25

    def snapshot(self) -> dict[Path, tuple[int, int, int]]:
        """(mtime in ns, size, inode) of every file in the watched folders."""
        files: dict[Path, tuple[int, int, int]] = {}
        for directory in self.directories():
            if directory.is_file():
                with contextlib.suppress(OSError):
                    st = directory.stat()
                    files[directory] = (st.st_mtime_ns, st.st_size, st.st_ino)
                continue
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                path = Path(entry.path)
                try:
                    if not entry.is_file() or self.filter.is_ignored(path):
                        continue
                    st = entry.stat()
                except OSError:
                    continue
                files[path] = (st.st_mtime_ns, st.st_size, st.st_ino)
        return files

    def _poll(self) -> None:
        """Scan the files with ``stat``: for file systems that send no events.

        Ours rather than watchfiles' poller, which compares modification times to the
        second and so misses a second save within the same second.
        """
        before = self.snapshot()
        self.ready.set()
        while not self.stop_event.wait(self.POLL_INTERVAL):
            now = self.snapshot()
            if now == before:
                continue
            # An editor's save is a burst (temp file, rename): let it settle, then compare.
            self.stop_event.wait(0.02)
            now = self.snapshot()
            changed = {p for p in before.keys() | now.keys() if before.get(p) != now.get(p)}
            before = now
            batch = classify_batch(self.real_changes(changed), self.root, self.extra)
            if batch is not None:
                self.on_batch(batch)
