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
from webkit_cli.scaffold._signals import guarded
from webkit_cli.scaffold.journal import (
    JOURNAL_SUFFIX,
    STAGING_SUFFIX,
    Journal,
    digest,
    plural,
    remove_empty_dirs,
    short,
)
from webkit_cli.scaffold.render import Entry


def _hex() -> str:
    """A fresh random part for a hidden name (what tempfile does, without importing it: ~3 ms)."""
    return os.urandom(6).hex()


def _tmp_beside(dest: Path) -> Path:
    return dest.with_name(f".{short(dest.name)}.{_hex()}{STAGING_SUFFIX}")


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
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except OSError as exc:  # ENOSPC from write/close carries no file name: add it
        if exc.filename is None:
            exc.filename = str(path)
        raise


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


def _reason(exc: OSError) -> str:
    """What the system said, and what to do about the usual causes."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return f"{reason}: free some space and run again"
    if exc.errno == errno.ENAMETOOLONG:
        return f"{reason}: use a shorter name or a shorter --dir"
    if exc.errno == errno.EROFS:
        return f"{reason}: choose another --dir"
    return reason


def _shown(filename: object, staging: Path | None, target: Path) -> str:
    """The file an error names, as the user will know it (not inside the staging folder)."""
    if filename is None:
        return str(target)
    path = Path(os.fsdecode(filename))  # type: ignore[arg-type]
    if staging is not None and path.is_relative_to(staging):
        return str(target / path.relative_to(staging))
    return str(path)


def write_new(entries: Iterable[Entry], target: Path) -> int:
    """Render ``entries`` into a staging folder beside ``target`` and rename it into place.

    ``target`` must not exist (an existing folder goes through :func:`apply_force`, which
    keeps the folder itself). Returns the number of files written. Any failure or signal
    removes the staging folder and the parent folders this run created; a journal beside
    it lets the next run do the same after a SIGKILL (see :mod:`.journal`).
    """
    parent = target.parent
    check_writable_parent(parent)
    with guarded() as guard:
        created_parents: list[Path] = []
        staging: Path | None = None
        journal: Journal | None = None
        try:
            created_parents = _make_parents(parent)
            hidden = f".{short(target.name)}.{_hex()}"
            staging = parent / (hidden + STAGING_SUFFIX)
            journal = Journal.create(
                parent / (hidden + JOURNAL_SUFFIX),
                kind="new",
                target=str(target),
                staging=staging.name,
                parents=[str(p) for p in created_parents],
            )
            # mkdir(2) is atomic and fails if the name exists; the umask gives the usual
            # permissions.
            staging.mkdir()
            count = 0
            with guard.interruptible():  # all of it is inside the staging folder
                for entry in entries:
                    dest = staging / entry.path
                    if entry.is_dir:
                        dest.mkdir(parents=True, exist_ok=True)
                        continue
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    assert entry.data is not None
                    _write_bytes(dest, entry.data, entry.mode)
                    count += 1
            # rename(2) would silently replace an empty folder created meanwhile (and fail on
            # a non-empty one): refuse both rather than touch something that is not ours.
            if target.exists() or target.is_symlink():
                raise ScaffoldError(
                    f"{target} appeared while rendering (another program?): nothing was "
                    "written; run again."
                )
            try:
                staging.rename(target)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise ScaffoldError(
                        f"{target} appeared while rendering (another program?): nothing was "
                        "written; run again."
                    ) from None
                raise
            staging = None
            journal.remove()
            return count
        except BaseException as exc:
            # Signals are deferred here (outside guard.interruptible): nothing cuts this short.
            shown = _shown(getattr(exc, "filename", None), staging, target)
            if staging is not None:
                _rmtree(staging)
            if journal is not None:
                journal.remove()
            remove_empty_dirs(created_parents)
            if isinstance(exc, PermissionError):
                raise ScaffoldError(
                    f"Cannot write in {parent} ({exc.strerror}): choose another --dir. "
                    "Nothing was written."
                ) from None
            if isinstance(exc, OSError):
                removed = "the hidden staging folder was removed"
                if created_parents:
                    removed = "the hidden staging folder and the folders it was in were removed"
                raise ScaffoldError(
                    f"Cannot write {shown} ({_reason(exc)}). Nothing was written: {removed}."
                ) from None
            raise


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


class _Undo:
    """What :func:`apply_force` changed, recorded before each change is made."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.dirs: list[Path] = []
        self.replaced: list[tuple[Path, Path]] = []  # (file, backup)

    def rollback(self) -> tuple[int, int]:
        """Restore every replaced file and remove every added one; return (removed, restored).

        A record whose change was never made (the signal came in between) undoes nothing.
        """
        restored = removed = 0
        for dest, backup in reversed(self.replaced):
            with contextlib.suppress(OSError):
                same = os.path.samestat(backup.lstat(), dest.lstat())
                backup.replace(dest)
                restored += not same
        for path in reversed(self.files):
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
        remove_empty_dirs(self.dirs)
        return removed, restored


def apply_force(plan: ForcePlan, target: Path, *, overwrite: bool) -> None:
    """Add the missing files (and, with ``overwrite``, replace the conflicting ones) atomically.

    On any failure or interruption every file added is removed and every file replaced is
    restored from a backup, so the folder is exactly as it was; a journal in the folder lets
    the next run do the same after a SIGKILL (see :mod:`.journal`).
    """
    if plan.replace and not overwrite:
        raise ScaffoldError(conflict_message(plan.conflicts))
    with guarded() as guard:
        undo = _Undo()
        hidden = f".webkit-{_hex()}"
        backup_dir = target / (hidden + STAGING_SUFFIX) if overwrite and plan.replace else None
        journal: Journal | None = None
        try:
            journal = Journal.create(
                target / (hidden + JOURNAL_SUFFIX),
                kind="force",
                target=str(target),
                backup=None if backup_dir is None else backup_dir.name,
            )
            with guard.interruptible():  # every change below is recorded before it is made
                _add(plan, target, journal, undo)
                if backup_dir is not None:
                    backup_dir.mkdir(mode=0o700)
                    _replace(plan, target, journal, undo, backup_dir)
        except BaseException as exc:
            removed, restored = undo.rollback()
            if backup_dir is not None:
                _rmtree(backup_dir)
            if journal is not None:
                journal.remove()
            if isinstance(exc, OSError):
                did = (
                    f"{plural(removed, 'added file')} removed, "
                    f"{plural(restored, 'replaced file')} restored"
                )
                raise ScaffoldError(
                    f"Cannot write {_shown(exc.filename, None, target)} ({_reason(exc)}): the "
                    f"folder was restored as it was ({did})."
                ) from None
            raise
        if backup_dir is not None:
            _rmtree(backup_dir)
        journal.remove()


def _mkdir(dest: Path, target: Path, journal: Journal, undo: _Undo) -> None:
    journal.record(op="mkdir", path=dest.relative_to(target).as_posix())
    undo.dirs.append(dest)
    dest.mkdir()


def _add(plan: ForcePlan, target: Path, journal: Journal, undo: _Undo) -> None:
    for entry in plan.add:
        dest = target / entry.path
        if entry.is_dir:
            _mkdir(dest, target, journal, undo)
            continue
        for missing in reversed(dest.parents):
            if missing.is_relative_to(target) and not missing.exists():
                _mkdir(missing, target, journal, undo)
        assert entry.data is not None
        tmp = _tmp_beside(dest)
        journal.record(
            op="add", path=entry.path.as_posix(), tmp=tmp.name, sha256=digest(entry.data)
        )
        undo.files.append(dest)
        _atomic_write(dest, entry.data, entry.mode, tmp)


def _replace(
    plan: ForcePlan, target: Path, journal: Journal, undo: _Undo, backup_dir: Path
) -> None:
    for i, entry in enumerate(plan.replace):
        dest = target / entry.path
        backup = backup_dir / str(i)
        assert entry.data is not None
        tmp = _tmp_beside(dest)
        journal.record(
            op="replace",
            path=entry.path.as_posix(),
            backup=backup.name,
            tmp=tmp.name,
            sha256=digest(entry.data),
        )
        undo.replaced.append((dest, backup))
        try:
            # The old inode survives the replace below; a symlink is kept as a symlink.
            os.link(dest, backup, follow_symlinks=False)
        except OSError:
            import shutil

            shutil.copy2(dest, backup, follow_symlinks=False)
        _atomic_write(dest, entry.data, entry.mode, tmp)


def _atomic_write(dest: Path, data: bytes, mode: int, tmp: Path | None = None) -> None:
    """Write ``dest`` through a temporary file in the same folder and ``os.replace``."""
    tmp = tmp or _tmp_beside(dest)
    try:
        _write_bytes(tmp, data, mode)
        tmp.replace(dest)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.filename == str(tmp):
            exc.filename = str(dest)  # the user knows the file, not its hidden temporary
        raise


def conflict_message(conflicts: Sequence[PurePosixPath]) -> str:
    shown = ", ".join(p.as_posix() for p in conflicts[:10])
    more = f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
    noun = "file differs" if len(conflicts) == 1 else "files differ"
    return (
        f"{len(conflicts)} existing {noun} from the template: {shown}{more}. "
        "Add --overwrite to replace them; nothing was written."
    )
