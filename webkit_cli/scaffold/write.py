"""Writing rendered entries to disk without ever half-writing or losing the user's files.

Two modes:

* a new project is rendered into a hidden staging folder beside the target and renamed
  into place at the end (one ``rename(2)``), so any failure or Ctrl-C leaves nothing;
* an existing folder (empty, or any with ``--force``) is kept as it is, and filled in: every
  file is planned first (add / unchanged / conflict),
  refuses conflicts unless ``--overwrite``, then writes each file atomically (temp file +
  ``os.replace``) while keeping a journal, and undoes the journal if anything fails.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from webkit_cli.errors import ScaffoldError
from webkit_cli.scaffold.render import Entry

STAGING_SUFFIX = ".webkit-tmp"


def _unique(folder: Path, prefix: str) -> Path:
    """A fresh, hidden name in ``folder`` (what tempfile does, without importing it: ~3 ms)."""
    return folder / f"{prefix}{os.urandom(6).hex()}{STAGING_SUFFIX}"


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _write_bytes(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` (never an existing one); executable if the template's file is, and
    private (0600) if its entry has no group or other bits (a template's ``private`` file)."""
    # os.open applies the umask itself, so no chmod (and no umask lookup) per file.
    perms = 0o777 if mode & 0o111 else 0o666
    fd = os.open(
        path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, perms if mode & 0o077 else perms & 0o700
    )
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _make_parents(parent: Path) -> list[Path]:
    """Create ``parent`` and its missing ancestors; return the ones created (outermost first)."""
    missing: list[Path] = []
    probe = parent
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    created: list[Path] = []
    try:
        for path in reversed(missing):
            path.mkdir()
            created.append(path)
    except OSError:
        _remove_dirs(created)
        raise
    return created


def _remove_dirs(dirs: Sequence[Path]) -> None:
    for path in reversed(dirs):
        with contextlib.suppress(OSError):
            path.rmdir()


def check_writable_parent(parent: Path) -> None:
    """Raise ScaffoldError if ``parent`` (or its nearest existing ancestor) cannot be written."""
    probe = parent
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise ScaffoldError(f"{probe} is a file, not a folder: choose another --dir.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ScaffoldError(f"Cannot write in {probe} (permission denied): choose another --dir.")


def write_new(entries: Iterable[Entry], target: Path) -> int:
    """Render ``entries`` into a staging folder beside ``target`` and rename it into place.

    ``target`` must not exist (an existing folder goes through :func:`apply_force`, which
    keeps the folder itself). Returns the number of files written.
    """
    parent = target.parent
    check_writable_parent(parent)
    created_parents: list[Path] = []
    staging: Path | None = None
    try:
        created_parents = _make_parents(parent)
        staging = _unique(parent, f".{target.name}.")
        # mkdir(2) is atomic and fails if the name exists; the umask gives the usual permissions.
        staging.mkdir()
        count = 0
        for entry in entries:
            dest = staging / entry.path
            if entry.is_dir:
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            assert entry.data is not None
            _write_bytes(dest, entry.data, entry.mode)
            count += 1
        # rename(2) would silently replace an empty folder created meanwhile (and fail on a
        # non-empty one): refuse both rather than touch something that is not ours.
        if target.exists() or target.is_symlink():
            raise ScaffoldError(
                f"{target} appeared while rendering (another program?): nothing was written; "
                "run again."
            )
        try:
            staging.rename(target)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise ScaffoldError(
                    f"{target} appeared while rendering (another program?): nothing was written; "
                    "run again."
                ) from None
            raise
        staging = None
        return count
    except PermissionError as exc:
        raise ScaffoldError(
            f"Cannot write in {parent} ({exc.strerror}): choose another --dir. Nothing was written."
        ) from None
    finally:
        if staging is not None:
            _rmtree(staging)
            _remove_dirs(created_parents)


class ForcePlan:
    """What ``--force`` would do to an existing folder, computed before anything is written."""

    def __init__(self) -> None:
        self.add: list[Entry] = []
        self.replace: list[Entry] = []  # existing files whose content differs
        self.unchanged: list[PurePosixPath] = []
        self.kept: list[PurePosixPath] = []  # differ, but skip_if_exists

    @property
    def conflicts(self) -> list[PurePosixPath]:
        return [e.path for e in self.replace]


def _skipped(path: PurePosixPath, patterns: Sequence[str]) -> bool:
    import fnmatch

    text = path.as_posix()
    return any(
        text == p or text.startswith(p + "/") or fnmatch.fnmatchcase(text, p) for p in patterns
    )


def _check_inside(target_real: Path, dest: Path, rel: PurePosixPath) -> None:
    """A folder or symlink the user already has must not redirect a write outside the target."""
    if not dest.resolve().is_relative_to(target_real):
        raise ScaffoldError(
            f"{rel} in {target_real} resolves to {dest.resolve()}, outside the target folder "
            "(a symlink): remove the symlink or choose another folder. Nothing was written."
        )


def plan_force(entries: Iterable[Entry], target: Path, skip_if_exists: Sequence[str]) -> ForcePlan:
    """Compare rendered entries with what ``target`` holds; raise on a file/folder mismatch."""
    plan = ForcePlan()
    target_real = target.resolve()
    for entry in entries:
        dest = target / entry.path
        _check_inside(target_real, dest, entry.path)
        if not dest.exists() and not dest.is_symlink():
            plan.add.append(entry)
            continue
        if entry.is_dir:
            if not dest.is_dir():
                raise ScaffoldError(
                    f"{dest} is a file but the template has a folder there: move it away "
                    "and retry. Nothing was written."
                )
            continue
        if dest.is_dir():
            raise ScaffoldError(
                f"{dest} is a folder but the template has a file there: move it away and retry. "
                "Nothing was written."
            )
        try:
            same = dest.read_bytes() == entry.data
        except OSError as exc:
            raise ScaffoldError(
                f"Cannot read {dest} ({exc.strerror}): fix its permissions or move it away. "
                "Nothing was written."
            ) from None
        if same:
            plan.unchanged.append(entry.path)
        elif _skipped(entry.path, skip_if_exists):
            plan.kept.append(entry.path)
        else:
            plan.replace.append(entry)
    return plan


def apply_force(plan: ForcePlan, target: Path, *, overwrite: bool) -> None:
    """Add the missing files (and, with ``overwrite``, replace the conflicting ones) atomically.

    On any failure or interruption every file added is removed and every file replaced is
    restored from a backup, so the folder is exactly as it was.
    """
    if plan.replace and not overwrite:
        raise ScaffoldError(conflict_message(plan.conflicts))
    added_files: list[Path] = []
    added_dirs: list[Path] = []
    replaced: list[tuple[Path, Path]] = []  # (file, backup)
    backup_dir: Path | None = None
    done = False
    try:
        for entry in plan.add:
            dest = target / entry.path
            if entry.is_dir:
                dest.mkdir()
                added_dirs.append(dest)
                continue
            for missing in reversed(dest.parents):
                if missing.is_relative_to(target) and not missing.exists():
                    missing.mkdir()
                    added_dirs.append(missing)
            assert entry.data is not None
            _atomic_write(dest, entry.data, entry.mode)
            added_files.append(dest)
        if overwrite and plan.replace:
            backup_dir = _unique(target, ".webkit-backup-")
            backup_dir.mkdir(mode=0o700)
            for i, entry in enumerate(plan.replace):
                dest = target / entry.path
                backup = backup_dir / str(i)
                try:
                    # The old inode survives the replace below; a symlink is kept as a symlink.
                    os.link(dest, backup, follow_symlinks=False)
                except OSError:
                    import shutil

                    shutil.copy2(dest, backup, follow_symlinks=False)
                replaced.append((dest, backup))
                assert entry.data is not None
                _atomic_write(dest, entry.data, entry.mode)
        done = True
    except PermissionError as exc:
        raise ScaffoldError(
            f"Cannot write {exc.filename} ({exc.strerror}): the folder was restored as it was."
        ) from None
    finally:
        if not done:
            for dest, backup in reversed(replaced):
                with contextlib.suppress(OSError):
                    backup.replace(dest)
            for path in reversed(added_files):
                with contextlib.suppress(OSError):
                    path.unlink()
            _remove_dirs(added_dirs)
        if backup_dir is not None:
            _rmtree(backup_dir)


def _atomic_write(dest: Path, data: bytes, mode: int) -> None:
    """Write ``dest`` through a temporary file in the same folder and ``os.replace``."""
    tmp = _unique(dest.parent, f".{dest.name}.")
    try:
        _write_bytes(tmp, data, mode)
        tmp.replace(dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def conflict_message(conflicts: Sequence[PurePosixPath]) -> str:
    shown = ", ".join(p.as_posix() for p in conflicts[:10])
    more = f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
    noun = "file differs" if len(conflicts) == 1 else "files differ"
    return (
        f"{len(conflicts)} existing {noun} from the template: {shown}{more}. "
        "Add --overwrite to replace them; nothing was written."
    )
