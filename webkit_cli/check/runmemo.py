"""A whole ``webkit check --no-import`` run remembered: its output, and what it read.

A warm run that takes every file from the per-file cache (:mod:`.filecache`) still pays
for importing the rules, the project's index and the project-wide rules: most of its
time. Yet when nothing the run depends on has changed, its output cannot change either.
So a ``--no-import`` run that prints plain text records, beside its output and exit code:

* the *key*: the options, the working directory, the interpreter, the environment
  variables that webkit, click, git or rich read, and the size of the terminal (rich
  wraps to it even into a pipe);
* the stat signature (:func:`signature`) of every path the run may have looked at: the
  ``pyproject.toml`` of the start folder and of each folder above it (how the project
  is found), every folder of the project that is walked and every entry in it (a new,
  removed or renamed file changes its folder), the folders skipped (a new
  ``pyvenv.cfg``), what git reads to list the files (its index, ``HEAD``, config and
  exclude files, the ``.gitignore`` files above the project), and webkit's own code
  and Jinja's (a new rule set).

The next run with the same key replays the output only if every signature is still the
same; otherwise it runs as usual (and records again). The signatures are taken *before*
the run reads anything, so a save during the run makes the next run look again, and one
is recorded only when its file was last changed :data:`RACY_NS` before it was taken (the
"racily clean" rule of :mod:`.filecache`). A run with notes (rules skipped, a rule that
failed) is not recorded. This module imports nothing of webkit's rules: a replay costs a
start-up, one small file and a ``stat`` per path.
"""

from __future__ import annotations

import os
import pickle
import stat
import sys
import time
import zlib
from pathlib import Path
from typing import Any

#: Bumped by hand when the shape of a record changes.
FORMAT = 1
#: A signature taken less than this long after its path last changed is not trusted:
#: file-system clocks tick coarsely, so a second save in the same tick could leave size
#: and times unchanged (:mod:`.filecache` uses the same rule).
RACY_NS = 2_000_000_000
#: The environment that changes what a run finds or prints: webkit's own variables and
#: click's ``WEBKIT_*`` defaults, Flask's, git's, the XDG folders, rich's colour switches.
ENV_PREFIXES = ("WEBKIT_", "FLASK_", "GIT_", "XDG_")
ENV_NAMES = frozenset(
    {"HOME", "PATH", "PYTHONPATH", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR",
     "TTY_COMPATIBLE", "TERM", "JUPYTER_COLUMNS", "JUPYTER_LINES"}
)  # fmt: skip
#: git's configuration and exclude files outside the repository (``~`` expanded)
GIT_GLOBAL_FILES = (
    "~/.gitconfig",
    "~/.config/git/config",
    "~/.config/git/ignore",
    "/etc/gitconfig",
)

#: (type bits, size, mtime_ns, ctime_ns, inode, device), or ``None`` for a missing path
Signature = tuple[int, int, int, int, int, int] | None


def signature(path: str) -> Signature:
    try:
        st = os.stat(path)  # noqa: PTH116 - a Path per file costs more than the stat
    except (OSError, ValueError):
        return None
    return (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
            st.st_dev)  # fmt: skip


def _terminal_sizes() -> tuple[Any, ...]:
    sizes: list[Any] = []
    for fd in (0, 1, 2):
        try:
            sizes.append(tuple(os.get_terminal_size(fd)))
        except (OSError, ValueError):
            sizes.append(None)
    return tuple(sizes)


def run_key(options: tuple[Any, ...]) -> tuple[Any, ...]:
    """Everything but the files that the output of a run with ``options`` depends on."""
    env = tuple(
        sorted(
            (name, value)
            for name, value in os.environ.items()
            if name.startswith(ENV_PREFIXES) or name in ENV_NAMES
        )
    )
    encoding = getattr(sys.stdout, "encoding", None)
    cwd = os.getcwd()  # noqa: PTH109 - a string is all the key needs
    return (FORMAT, sys.executable, sys.version, cwd, options, env, encoding, _terminal_sizes())


def _record_path(key: tuple[Any, ...]) -> Path:
    from webkit_cli._paths import cache_root

    name = f"{zlib.crc32(repr(key).encode()):08x}"  # the record holds the key: no clash
    return cache_root(os.environ) / "check" / "runs" / f"{name}.pickle"


def replay(options: tuple[Any, ...]) -> tuple[str, int] | None:
    """The output and exit code of the last run with ``options``, if nothing it depends on
    has changed since; ``None`` otherwise (run it)."""
    key = run_key(options)
    try:
        data = pickle.loads(_record_path(key).read_bytes())
    except Exception:  # noqa: BLE001 - missing, truncated or foreign: run as usual
        return None
    if not (isinstance(data, dict) and data.get("key") == key):
        return None
    paths, output, code = data.get("paths"), data.get("output"), data.get("code")
    if not (isinstance(paths, list) and isinstance(output, str) and isinstance(code, int)):
        return None
    for path, sig in paths:
        if signature(path) != sig:
            return None
    return output, code


class Snapshot:
    """The signatures of what a run may read, taken before it starts (see the module)."""

    def __init__(self, start: Path, root: Path) -> None:
        self.root = root
        self.taken = time.time_ns()
        self.paths: list[tuple[str, Signature]] = []
        self.complete = True
        for directory in (start, *start.parents):
            self._add(os.path.join(directory, "pyproject.toml"))  # noqa: PTH118
        self._walk(str(root))
        self._git(root)
        self._code()

    def _add(self, path: str) -> Signature:
        sig = signature(path)
        self.paths.append((path, sig))
        return sig

    def _walk(self, top: str) -> None:
        # The folders check.context.walk_project skips are recorded, not entered; the
        # [tool.webkit.check] exclude globs are not applied (a superset is still sound).
        from webkit_cli._paths import is_ignored_dir
        from webkit_cli.check.context import CHECK_SKIP_DIRS, KEEP_HIDDEN

        self._add(top)
        pending = [top]
        while pending:
            here = pending.pop()
            try:
                entries = list(os.scandir(here))
            except OSError:
                self.complete = False
                return
            for entry in entries:
                path, name = entry.path, entry.name
                try:
                    folder = entry.is_dir() and not entry.is_symlink()
                except OSError:
                    folder = False
                if folder and (
                    is_ignored_dir(name)
                    or name in CHECK_SKIP_DIRS
                    or (name.startswith(".") and name not in KEEP_HIDDEN)
                ):
                    # never entered whatever it holds (its own changes, e.g. git's or
                    # __pycache__'s writes, change nothing): its name is in the parent's
                    continue
                sig = self._add(path)
                # a virtual environment is recorded (it stops being one when its
                # pyvenv.cfg goes, which changes the folder), not entered
                venv = os.path.join(path, "pyvenv.cfg")  # noqa: PTH118
                if folder and sig is not None and not os.path.exists(venv):  # noqa: PTH110
                    pending.append(path)

    def _git(self, root: Path) -> None:
        """What ``git ls-files --exclude-standard`` reads, or the ``.git`` a new
        repository would add."""
        top: Path | None = None
        for directory in (root, *root.parents):
            dot_git = directory / ".git"
            sig = self._add(str(dot_git))
            if sig is not None:
                top = directory
                break
        if top is None:
            return
        for directory in (root, *root.parents):
            self._add(str(directory / ".gitignore"))
            if directory == top:
                break
        git_dir = top / ".git"
        common = git_dir
        if git_dir.is_file():  # a worktree or submodule: "gitdir: <path>"
            try:
                text = git_dir.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                self.complete = False
                return
            if not text.startswith("gitdir:"):
                self.complete = False
                return
            git_dir = common = (top / text.split(":", 1)[1].strip()).resolve()
            try:
                shared = (git_dir / "commondir").read_text(encoding="utf-8").strip()
                common = (git_dir / shared).resolve()
            except (OSError, UnicodeDecodeError):
                pass
        for path in (git_dir / "index", git_dir / "HEAD", common / "config",
                     common / "info" / "exclude"):  # fmt: skip
            self._add(str(path))
        for name in GIT_GLOBAL_FILES:
            self._add(os.path.expanduser(name))  # noqa: PTH111
        xdg = os.environ.get("XDG_CONFIG_HOME")
        if xdg:
            self._add(os.path.join(xdg, "git", "config"))  # noqa: PTH118
            self._add(os.path.join(xdg, "git", "ignore"))  # noqa: PTH118
        excludes = _git_excludes_file(top)
        if excludes is not None:
            self._add(excludes)

    def _code(self) -> None:
        """webkit's modules and Jinja's ``__init__`` (what the rule set's fingerprint
        hashes), so an upgrade or an edited rule is checked again."""
        package = Path(__file__).resolve().parent.parent
        for folder in (package, package / "check", package / "commands"):
            self._add(str(folder))
            for path in sorted(folder.glob("*.py")):
                self._add(str(path))
        import importlib.util

        try:
            spec = importlib.util.find_spec("jinja2")
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            self._add(spec.origin)
        else:
            self.complete = False

    def trusted(self) -> bool:
        """Every path existed unchanged for :data:`RACY_NS` when its signature was taken."""
        return self.complete and all(
            sig is None or self.taken - sig[2] >= RACY_NS for _, sig in self.paths
        )


def _git_excludes_file(top: Path) -> str | None:
    """``core.excludesFile`` when git's configuration names one."""
    import subprocess

    try:
        proc = subprocess.run(
            ["git", "-C", str(top), "config", "--path", "--get", "core.excludesFile"],
            capture_output=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    value = proc.stdout.decode("utf-8", "surrogateescape").strip()
    return os.path.expanduser(value) if proc.returncode == 0 and value else None  # noqa: PTH111


def record(options: tuple[Any, ...], snapshot: Snapshot, output: str, code: int) -> None:
    """Remember a run's output, if every signature of ``snapshot`` can be trusted."""
    if not snapshot.trusted():
        return
    key = run_key(options)
    path = _record_path(key)
    payload = {"key": key, "paths": snapshot.paths, "output": output, "code": code}
    dump_atomically(path, payload)


def dump_atomically(path: Path, payload: object) -> None:
    """Pickle ``payload`` into ``path`` through a temporary file renamed over it: a concurrent
    reader sees the old file or the new one, never part of one. A read-only or full cache
    folder only costs speed, so an ``OSError`` is not raised."""
    import tempfile

    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "wb") as stream:
            pickle.dump(payload, stream, protocol=pickle.HIGHEST_PROTOCOL)
        Path(tmp).replace(path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
