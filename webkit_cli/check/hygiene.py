"""Hygiene rules: leftovers of merges and patches (H001, H002), committed ``.env`` (S010).

Conflict markers are a line-level artefact of git, so they are looked for line by line
(not in an AST: a Python file with markers does not even parse). A marker counts only as
part of a real conflict — ``<<<<<<<`` followed by ``=======`` and ``>>>>>>>`` — so a
reStructuredText underline of seven ``=`` is not a finding. S010 keeps its security code
(codes never change meaning) but is a question of what git holds, so it lives here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from webkit_cli.check.context import CheckContext, text_file_results
from webkit_cli.check.findings import Finding, finding
from webkit_cli.check.registry import register

_LEFTOVER = re.compile(r"(\.rej|\.orig|_(BACKUP|BASE|LOCAL|REMOTE)_\d+(\.[^/]*)?)$")


def conflict_lines(text: str) -> list[int]:
    """Lines of ``<<<<<<<`` markers that open a complete conflict block."""
    if "<<<<<<<" not in text:
        return []
    found: list[int] = []
    opened: int | None = None
    seen_middle = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("<<<<<<<") and (len(line) == 7 or line[7] == " "):
            opened, seen_middle = number, False
        elif opened is not None and line.rstrip() == "=======":
            seen_middle = True
        elif (
            opened is not None
            and seen_middle
            and line.startswith(">>>>>>>")
            and (len(line) == 7 or line[7] == " ")
        ):
            found.append(opened)
            opened = None
    return found


@register("H001")
def conflict_markers(ctx: CheckContext) -> Iterator[Finding]:
    """Files with an unresolved merge conflict."""
    conflicts = conflicted_files(ctx)
    for rel in sorted(conflicts):
        for line in conflicts[rel]:
            yield finding(
                "H001", rel, line, "Unresolved merge conflict (<<<<<<< marker).", column=1
            )


def conflicted_files(ctx: CheckContext) -> dict[str, list[int]]:
    """Scan every text file once; the result also tells the P005 rule which files to skip.

    Python files and templates were scanned by their analysis; every other file is
    scanned as a ``text`` job of the per-file cache (so a cached run reads none of them).
    """
    if ctx.conflicts is None:
        ctx.conflicts = {}
        results = {**ctx.file_results, **text_file_results(ctx)}
        for rel in ctx.all_files:
            result = results.get(rel)
            lines = result.extracts.get("H001") if result is not None else None
            if lines:
                ctx.conflicts[rel] = list(lines)
    return ctx.conflicts


@register("H002")
def leftover_files(ctx: CheckContext) -> Iterator[Finding]:
    """``.rej``/``.orig`` files and merge-tool backups."""
    for rel in ctx.all_files:
        if _LEFTOVER.search(rel.rsplit("/", 1)[-1]):
            yield finding("H002", rel, None, f"Leftover patch or merge file {rel}.")


#: ``.env`` variants meant to be committed (no values, or documented defaults)
_ENV_TEMPLATES = frozenset({"example", "sample", "template", "dist", "defaults", "default"})


@register("S010")
def committed_env_files(ctx: CheckContext) -> Iterator[Finding]:
    """``.env`` / ``.env.production`` in git's index (only knowable in a git work tree)."""
    if ctx.git_tracked is None:
        return
    for rel in sorted(ctx.git_tracked):
        name = rel.rsplit("/", 1)[-1]
        if name != ".env" and not name.startswith(".env."):
            continue
        if name.removeprefix(".env.").lower() in _ENV_TEMPLATES:
            continue
        yield finding(
            "S010", rel, None, f"{rel} is committed: everyone with the repository has its secrets."
        )
