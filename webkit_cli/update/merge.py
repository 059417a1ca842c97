"""The three-way merge of one file, and of a whole rendered tree (pure: no writes).

base = the recorded template version rendered with the recorded answers,
theirs = the new version rendered with the (possibly changed) answers,
ours = the project as it is. ``None`` means "absent". Line merges are git's own
(``git merge-file``), so conflict markers are exactly the ones git users know.
"""

from __future__ import annotations

import difflib
import enum
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from webkit_cli.errors import UpdateError

#: A removed and an added file at least this similar (difflib ratio of their lines) are
#: one file moved by the template; git's rename detection uses 50 % too.
RENAME_SIMILARITY = 0.5


class Outcome(enum.Enum):
    """What the update does to one path; the value is what ``--dry-run`` prints."""

    UNCHANGED = "unchanged"  # nothing to do
    KEPT = "kept"  # the template did not change it: the project's version stays
    UPDATED = "updated"  # only the template changed it: the new version is taken
    ADDED = "added"
    REMOVED = "removed"
    MOVED = "moved"  # the template renamed it (local changes carried to the new path)
    MERGED = "merged cleanly"
    CONFLICT = "conflicted"
    KEPT_REMOVED = "kept (removed by the template, changed locally)"


@dataclass(frozen=True)
class FileChange:
    """The result for one path. ``data`` is the new content (None: remove the file)."""

    path: PurePosixPath
    outcome: Outcome
    ours: bytes | None
    data: bytes | None
    mode: int = 0o644
    #: For conflicts: the three versions git's index records (stages 1, 2, 3).
    base: bytes | None = None
    theirs: bytes | None = None
    moved_from: PurePosixPath | None = None
    moved_to: PurePosixPath | None = None
    note: str = ""
    #: ``--conflict rej``: the template's hunks that could not be applied, as a diff.
    reject: bytes | None = None

    @property
    def writes(self) -> bool:
        return self.outcome not in (Outcome.UNCHANGED, Outcome.KEPT, Outcome.KEPT_REMOVED)


def is_binary(data: bytes | None) -> bool:
    if data is None:
        return False
    if b"\0" in data[:8192]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


class LineMerger:
    """``git merge-file`` on three byte strings; temporary files live for the merger."""

    def __init__(self, *, ours_label: str, base_label: str, theirs_label: str) -> None:
        git = shutil.which("git")
        if git is None:
            raise UpdateError(
                "webkit update merges with git's own merge (git merge-file): install git."
            )
        self.git = git
        self.labels = (ours_label, base_label, theirs_label)
        self._tmp = Path(tempfile.mkdtemp(prefix="webkit-merge-"))

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def merge(
        self, ours: bytes, base: bytes, theirs: bytes, *, favor: str | None = None
    ) -> tuple[bytes, int]:
        """The merged text and the number of conflicts (0: clean)."""
        paths = []
        for name, data in (("ours", ours), ("base", base), ("theirs", theirs)):
            path = self._tmp / name
            path.write_bytes(data)
            paths.append(str(path))
        args = [self.git, "merge-file", "-p"]
        if favor is not None:
            args.append(f"--{favor}")
        for label in self.labels:
            args += ["-L", label]
        out = subprocess.run([*args, *paths], capture_output=True, check=False, timeout=60)
        if out.returncode < 0 or out.returncode > 127:
            raise UpdateError(f"git merge-file failed: {out.stderr.decode(errors='replace')}")
        return out.stdout, out.returncode


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", errors="replace").splitlines(keepends=True)


def _similarity(a: bytes, b: bytes) -> float:
    if a == b:
        return 1.0
    if is_binary(a) or is_binary(b):
        return 0.0
    return difflib.SequenceMatcher(None, _lines(a), _lines(b), autojunk=False).ratio()


def find_renames(
    base: Mapping[PurePosixPath, bytes], theirs: Mapping[PurePosixPath, bytes]
) -> dict[PurePosixPath, PurePosixPath]:
    """``{old: new}`` for files the template moved: gone from theirs, similar to a new one."""
    removed = [p for p in base if p not in theirs]
    added = [p for p in theirs if p not in base]
    renames: dict[PurePosixPath, PurePosixPath] = {}
    taken: set[PurePosixPath] = set()
    for old in sorted(removed):
        best, best_score = None, RENAME_SIMILARITY
        for new in added:
            if new in taken:
                continue
            score = _similarity(base[old], theirs[new])
            # Prefer the same file name in another folder when scores tie.
            if score > best_score or (score == best_score and best is None):
                best, best_score = new, score
        if best is not None:
            renames[old] = best
            taken.add(best)
    return renames


def _reject_diff(path: PurePosixPath, kept: bytes, wanted: bytes) -> bytes:
    diff = difflib.unified_diff(_lines(kept), _lines(wanted), f"a/{path}", f"b/{path}", n=3)
    return "".join(diff).encode("utf-8")


def merge_file(
    path: PurePosixPath,
    base: bytes | None,
    ours: bytes | None,
    theirs: bytes | None,
    merger: LineMerger,
    *,
    mode: int = 0o644,
    conflict_style: str = "inline",
) -> FileChange:
    """The outcome for one path given its three versions."""
    if ours == theirs:
        return FileChange(path, Outcome.UNCHANGED, ours, ours, mode)
    if base == theirs:
        return FileChange(path, Outcome.KEPT, ours, ours, mode)
    if base == ours:
        if theirs is None:
            return FileChange(path, Outcome.REMOVED, ours, None, mode)
        outcome = Outcome.ADDED if ours is None else Outcome.UPDATED
        return FileChange(path, outcome, ours, theirs, mode)
    # Both sides changed it.
    if theirs is None:
        return FileChange(
            path,
            Outcome.KEPT_REMOVED,
            ours,
            ours,
            mode,
            note="the template removed it; kept because it was changed locally",
        )
    if ours is None:
        # Removed locally, changed by the template: git's modify/delete conflict.
        return FileChange(
            path,
            Outcome.CONFLICT,
            None,
            theirs,
            mode,
            base=base,
            theirs=theirs,
            note="removed locally, changed by the template (its version is written back)",
        )
    if is_binary(ours) or is_binary(theirs) or is_binary(base):
        return FileChange(
            path,
            Outcome.CONFLICT,
            ours,
            ours,
            mode,
            base=base,
            theirs=theirs,
            note="binary file changed on both sides: the project's version is kept",
            reject=theirs,
        )
    merged, conflicts = merger.merge(ours, base or b"", theirs)
    if conflicts == 0:
        return FileChange(path, Outcome.MERGED, ours, merged, mode)
    if base is not None and path.suffix == ".py":
        # Imported here: it loads the generators' edits (14 ms), which few merges need.
        from webkit_cli.update._imports import carry_added_imports

        carried = carry_added_imports(ours, base, theirs, merger.merge)
        if carried is not None:
            return FileChange(
                path,
                Outcome.MERGED,
                ours,
                carried,
                mode,
                note="the names the project added to an import are in its new place",
            )
    if conflict_style == "rej":
        kept, _ = merger.merge(ours, base or b"", theirs, favor="ours")
        wanted, _ = merger.merge(ours, base or b"", theirs, favor="theirs")
        return FileChange(
            path,
            Outcome.CONFLICT,
            ours,
            kept,
            mode,
            base=base,
            theirs=theirs,
            note=f"{conflicts} conflicting hunk(s) kept as in the project; see {path}.rej",
            reject=_reject_diff(path, kept, wanted),
        )
    return FileChange(
        path,
        Outcome.CONFLICT,
        ours,
        merged,
        mode,
        base=base,
        theirs=theirs,
        note=f"{conflicts} conflict(s) marked in the file",
    )


def merge_trees(
    base: Mapping[PurePosixPath, bytes],
    ours: Mapping[PurePosixPath, bytes],
    theirs: Mapping[PurePosixPath, bytes],
    modes: Mapping[PurePosixPath, int],
    merger: LineMerger,
    *,
    conflict_style: str = "inline",
) -> list[FileChange]:
    """Every path the template knows (in base or theirs), merged; sorted by path.

    ``ours`` holds the project's current content of those paths only (absent: removed
    or never there). Files that only the project has are never looked at.
    """
    renames = find_renames(base, theirs)
    changes: list[FileChange] = []
    done: set[PurePosixPath] = set()
    for old, new in renames.items():
        if new in ours:
            continue  # the project already has a file at the new path: merge both in place
        mode = modes.get(new, 0o644)
        local = ours.get(old)
        done.update((old, new))
        if local is None:
            # Removed locally: the template's new file is a plain addition.
            changes.append(FileChange(new, Outcome.ADDED, None, theirs[new], mode))
            continue
        change = merge_file(
            new, base[old], local, theirs[new], merger, mode=mode, conflict_style=conflict_style
        )
        data: bytes | None = (
            local if change.outcome in (Outcome.KEPT, Outcome.UNCHANGED) else change.data
        )
        outcome = Outcome.CONFLICT if change.outcome is Outcome.CONFLICT else Outcome.MOVED
        changes.append(
            FileChange(
                new,
                outcome,
                local,
                data,
                mode,
                base=change.base,
                theirs=change.theirs,
                moved_from=old,
                note=change.note or f"moved from {old}",
                reject=change.reject,
            )
        )
        changes.append(
            FileChange(
                old, Outcome.REMOVED, local, None, mode, moved_to=new, note=f"moved to {new}"
            )
        )
    for path in sorted(set(base) | set(theirs)):
        if path in done:
            continue
        changes.append(
            merge_file(
                path,
                base.get(path),
                ours.get(path),
                theirs.get(path),
                merger,
                mode=modes.get(path, 0o644),
                conflict_style=conflict_style,
            )
        )
    changes.sort(key=lambda c: c.path)
    return changes
