"""Pure builders for what ``webkit update`` prints (rich renderables and plain lines)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from webkit_cli.update.core import UpdatePlan
from webkit_cli.update.merge import FileChange, Outcome

_STYLES = {
    Outcome.ADDED: "green",
    Outcome.UPDATED: "cyan",
    Outcome.MERGED: "cyan",
    Outcome.MOVED: "cyan",
    Outcome.REMOVED: "magenta",
    Outcome.CONFLICT: "bold red",
    Outcome.KEPT_REMOVED: "yellow",
}


def shown_changes(plan: UpdatePlan) -> list[FileChange]:
    """The files the update touches or reports (untouched and kept files are left out)."""
    return [c for c in plan.changes if c.outcome not in (Outcome.UNCHANGED, Outcome.KEPT)]


def plan_table(plan: UpdatePlan) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("file")
    table.add_column("result")
    table.add_column("note", overflow="fold")
    for change in shown_changes(plan):
        table.add_row(
            change.path.as_posix(),
            Text(change.outcome.value, style=_STYLES.get(change.outcome, "")),
            change.note,
        )
    return table


def release_notes(plan: UpdatePlan) -> list[str]:
    lines = []
    for note in plan.releases:
        flag = " (security)" if note.security else ""
        lines.append(f"{note.version}{flag}:")
        lines.extend(f"  - {c}" for c in note.changes)
    return lines


def header(plan: UpdatePlan) -> str:
    return (
        f"{plan.root.name}: template {plan.provenance.name} "
        f"{plan.from_version} -> {plan.to_version} ({plan.source})"
    )


def summary(plan: UpdatePlan) -> str:
    counts: dict[Outcome, int] = {}
    for change in shown_changes(plan):
        counts[change.outcome] = counts.get(change.outcome, 0) + 1
    if not counts:
        return "Nothing to change: the project already matches the template."
    return ", ".join(f"{n} {outcome.value}" for outcome, n in counts.items())


def unified_diffs(changes: Iterable[FileChange]) -> str:
    """``--diff``: what each touched file would become, against the project's file."""
    out: list[str] = []
    for change in changes:
        if not change.writes or change.moved_to is not None:
            continue  # a moved file's diff is shown at its new path
        before = (change.ours or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
        after = (change.data or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
        source = change.moved_from or change.path
        out.extend(
            difflib.unified_diff(
                before,
                after,
                "/dev/null" if change.ours is None else f"a/{source}",
                "/dev/null" if change.data is None else f"b/{change.path}",
            )
        )
    return "".join(out)


def render_plan(plan: UpdatePlan) -> RenderableType:
    parts: list[RenderableType] = [Text(header(plan), style="bold")]
    notes = release_notes(plan)
    if notes:
        parts.append(Text("What changed in the template:\n" + "\n".join(notes)))
    for note in plan.notes:
        parts.append(Text(f"Note: {note}", style="yellow"))
    if shown_changes(plan):
        parts.append(plan_table(plan))
    parts.append(Text(summary(plan)))
    return Group(*parts)
