"""A journal of what a ``webkit new`` run is doing on disk, so a killed run can be undone.

Ctrl-C, SIGTERM and SIGHUP unwind through the writer's clean-up; SIGKILL, a crash or a
power cut do not. So before each change the writer appends one JSON line to a journal
file beside its work, and removes the journal when it is done:

* a new project: ``.NAME.<hex>.webkit-journal`` beside the hidden staging folder
  ``.NAME.<hex>.webkit-tmp`` (and the parent folders the run created);
* ``--force``: ``.webkit-<hex>.webkit-journal`` in the target, listing every folder made,
  file added and file replaced (with its backup in ``.webkit-<hex>.webkit-tmp``).

The next ``webkit new`` into the same target finds the journals a dead run left
(:func:`recover`) and undoes them first, saying what it did. A running writer holds an
``flock`` on its journal, released by the kernel when the process dies however it dies,
so a journal that can be locked belongs to a dead run and one that cannot is live.

Lines are written with ``os.write`` (no buffer to lose in a SIGKILL); they are not
fsynced, so a power cut may lose the last records, as it may lose the files.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from webkit_cli.errors import ScaffoldError

JOURNAL_SUFFIX = ".webkit-journal"
STAGING_SUFFIX = ".webkit-tmp"
#: How much of the project name goes into the hidden names: with the random part and the
#: suffixes they stay under the 255-byte file-name limit for any name the system allows.
NAME_PART = 200
FORMAT = 1


def short(name: str) -> str:
    """``name`` cut so that a hidden name built from it fits in a file name."""
    data = name.encode("utf-8", "surrogateescape")[:NAME_PART]
    return data.decode("utf-8", "ignore")


def _lock(fd: int) -> bool:
    """Take the journal's lock without waiting; False if a live process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; a journal is taken as abandoned
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class Journal:
    """An open, locked journal that the writer appends to."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def create(cls, path: Path, **header: Any) -> Journal:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        journal = cls(path, fd)
        try:
            _lock(fd)
            journal.record(journal=FORMAT, pid=os.getpid(), **header)
        except BaseException:
            journal.remove()
            raise
        return journal

    def record(self, **fields: Any) -> None:
        """Append one line before the change it describes is made."""
        assert self._fd is not None
        os.write(self._fd, (json.dumps(fields) + "\n").encode("utf-8"))

    def remove(self) -> None:
        """The work is complete or undone: delete the journal (unlink, then unlock)."""
        with contextlib.suppress(OSError):
            self.path.unlink()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read(path: Path) -> tuple[int, list[dict[str, Any]]] | None:
    """Open and lock ``path``; None if it vanished; ScaffoldError if a live run holds it."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        if not _lock(fd):
            raise ScaffoldError(
                f"Another webkit new is writing here right now (it holds {path}): wait for "
                "it to finish, then run again."
            )
        with os.fdopen(os.dup(fd), "rb") as fh:
            raw = fh.read()
    except BaseException:
        os.close(fd)
        raise
    records: list[dict[str, Any]] = []
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            break  # a line cut short by the crash: nothing after it was done
        if isinstance(record, dict):
            records.append(record)
    return fd, records


def _same_content(path: Path, digest: object) -> bool:
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == digest
    except OSError:
        return False


def digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _undo_new(header: dict[str, Any], journal: Path) -> str:
    import shutil

    folder = journal.parent
    staging = folder / str(header.get("staging", ""))
    found = staging != folder and staging.name.endswith(STAGING_SUFFIX) and staging.is_dir()
    if found:
        shutil.rmtree(staging, ignore_errors=True)
    # The journal lives in the innermost folder the run created: out of the way first.
    with contextlib.suppress(OSError):
        journal.unlink()
    removed = remove_empty_dirs([Path(p) for p in header.get("parents", [])])
    made = f" and {plural(removed, 'folder')} it had created" if removed else ""
    if not found:  # killed after the rename: the project is complete, only the journal was left
        return f"removed its journal{made}"
    return f"removed the hidden staging folder {staging.name}{made}"


def remove_empty_dirs(dirs: list[Path]) -> int:
    """rmdir ``dirs`` innermost first, each only if empty; return how many went."""
    removed = 0
    for path in reversed(dirs):
        with contextlib.suppress(OSError):
            path.rmdir()  # only if empty: something else may have been put there since
            removed += 1
    return removed


def _undo_force(records: list[dict[str, Any]], target: Path) -> str:
    import shutil

    header = records[0]
    backup_dir = target / str(header.get("backup", "")) if header.get("backup") else None
    removed = restored = folders = 0
    kept: list[str] = []
    for record in reversed(records[1:]):
        op, rel = record.get("op"), str(record.get("path", ""))
        dest = target / rel
        if not rel or not dest.resolve().is_relative_to(target.resolve()):
            continue  # not a record this writer makes: touch nothing
        tmp = record.get("tmp")
        if tmp:
            with contextlib.suppress(OSError):
                (dest.parent / str(tmp)).unlink()
        if op == "mkdir":
            with contextlib.suppress(OSError):
                dest.rmdir()
                folders += 1
        elif op == "add" and (dest.exists() or dest.is_symlink()):
            if _same_content(dest, record.get("sha256")):
                dest.unlink()
                removed += 1
            else:
                kept.append(rel)
        elif op == "replace" and backup_dir is not None:
            backup = backup_dir / str(record.get("backup", ""))
            if not (backup.exists() or backup.is_symlink()):
                continue  # the run died before saving the original: dest is untouched
            if not (dest.exists() or dest.is_symlink()) or _same_content(
                dest, record.get("sha256")
            ):
                backup.replace(dest)
                restored += 1
            elif not _same_content(dest, digest(backup.read_bytes())):
                keep = dest.with_name(dest.name + ".webkit-original")
                backup.replace(keep)
                kept.append(f"{rel} (the original is in {keep.name})")
    if backup_dir is not None:
        shutil.rmtree(backup_dir, ignore_errors=True)
    done = [
        f"removed {plural(removed, 'added file')}",
        f"restored {plural(restored, 'replaced file')}",
    ]
    if folders:
        done.append(f"removed {plural(folders, 'added folder')}")
    text = ", ".join(done)
    if kept:
        text += f"; kept {', '.join(kept)}, changed since"
    return text


def _journals(folder: Path, prefix: str) -> list[Path]:
    try:
        with os.scandir(folder) as it:
            return sorted(
                Path(e.path)
                for e in it
                if e.name.startswith(prefix) and e.name.endswith(JOURNAL_SUFFIX)
            )
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []  # nothing there, or nothing this user could have left there


def pending(target: Path) -> list[Path]:
    """The journals an interrupted run left for ``target`` (beside it or inside it)."""
    found = _journals(target.parent, f".{short(target.name)}.")
    if target.is_dir() and not target.is_symlink():
        found += _journals(target, ".webkit-")
    return found


def recover(target: Path) -> list[str]:
    """Undo what dead runs left for ``target``; return one sentence per journal undone."""
    messages: list[str] = []
    for path in pending(target):
        opened = _read(path)
        if opened is None:
            continue
        fd, records = opened
        try:
            header = records[0] if records else {}
            if header.get("kind") == "new" and header.get("target") not in (None, str(target)):
                continue  # another project whose name starts the same way
            pid = header.get("pid", "?")
            if header.get("kind") == "force":
                did = _undo_force(records, target)
            elif header.get("kind") == "new":
                did = _undo_new(header, path)
            else:
                did = "removed its empty journal"
            with contextlib.suppress(OSError):
                path.unlink()
        finally:
            os.close(fd)
        messages.append(f"An interrupted webkit new (pid {pid}) was undone in {target}: {did}.")
    return messages
