"""Carry names the project added to an import across a template release that moved it.

``webkit generate`` adds each resource's module to a ``from . import ...`` statement (and
users add their own the same way). When a later template version moves that statement
(1.3.0 moved the app factory's imports from the top of ``__init__.py`` into
``create_app()``), git sees the project's changed line where the template deleted it and
reports a conflict, though nobody edited anything the template changed. Here the
project's statements are put back as the base had them, the rest merges as usual, and
the added names then go into the statement the new version has for the same module.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

from webkit_cli.generate.edits import Edit, apply_edit
from webkit_cli.generate.fields import GenerateError

#: ``merge(ours, base, theirs) -> (merged, conflicts)``, as ``LineMerger.merge``.
Merge = Callable[[bytes, bytes, bytes], tuple[bytes, int]]


@dataclass(frozen=True)
class _Import:
    scope: str | None  # the module-level function holding it, None at the top
    level: int
    module: str | None
    names: tuple[str, ...]
    start: int  # 0-based first line
    end: int  # 0-based line after the last

    @property
    def key(self) -> tuple[str | None, int, str | None]:
        return self.scope, self.level, self.module


def _imports(tree: ast.Module) -> list[_Import]:
    """``from X import a, b`` statements (no aliases, no star) at the top and in functions."""
    found = []
    scopes: list[tuple[str | None, list[ast.stmt]]] = [(None, tree.body)]
    scopes += [
        (node.name, node.body)
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    for scope, body in scopes:
        for node in body:
            if not isinstance(node, ast.ImportFrom):
                continue
            if any(alias.asname or alias.name == "*" for alias in node.names):
                continue
            found.append(
                _Import(
                    scope,
                    node.level,
                    node.module,
                    tuple(alias.name for alias in node.names),
                    node.lineno - 1,
                    node.end_lineno or node.lineno,
                )
            )
    return found


def _parse(data: bytes) -> tuple[ast.Module, list[str]] | None:
    try:
        text = data.decode("utf-8")
        return ast.parse(text), text.splitlines(keepends=True)
    except (UnicodeDecodeError, SyntaxError, ValueError):
        return None


def carry_added_imports(ours: bytes, base: bytes, theirs: bytes, merge: Merge) -> bytes | None:
    """The clean merge of a Python file whose only conflict was an import the project
    extended and the template moved; ``None`` when that is not the case (or it still
    conflicts), so the caller keeps git's conflict."""
    parsed_ours, parsed_base = _parse(ours), _parse(base)
    if parsed_ours is None or parsed_base is None:
        return None
    (ours_tree, ours_lines), (base_tree, base_lines) = parsed_ours, parsed_base
    in_base: dict[tuple[str | None, int, str | None], list[_Import]] = {}
    for imp in _imports(base_tree):
        in_base.setdefault(imp.key, []).append(imp)
    in_ours: dict[tuple[str | None, int, str | None], list[_Import]] = {}
    for imp in _imports(ours_tree):
        in_ours.setdefault(imp.key, []).append(imp)
    # Only a statement the base has once in that place, which the project extended
    # (every base name kept, some added): anything else is the user's own rewrite.
    carried: list[tuple[_Import, tuple[str, ...]]] = []
    for key, mine in in_ours.items():
        olds = in_base.get(key, [])
        if len(mine) != 1 or len(olds) != 1:
            continue
        old, new = olds[0], mine[0]
        added = tuple(n for n in new.names if n not in old.names)
        if added and set(old.names) <= set(new.names):
            carried.append((new, added))
    if not carried:
        return None
    # The project's file with those statements as the base wrote them, last first so the
    # earlier line numbers hold.
    lines = list(ours_lines)
    for imp, _ in sorted(carried, key=lambda c: -c[0].start):
        old = in_base[imp.key][0]
        lines[imp.start : imp.end] = base_lines[old.start : old.end]
    merged, conflicts = merge("".join(lines).encode("utf-8"), base, theirs)
    if conflicts:
        return None
    parsed = _parse(merged)
    if parsed is None:
        return None
    text = merged.decode("utf-8")
    for imp, added in carried:
        target = _statement_for(_imports(parsed[0]), in_base[imp.key][0])
        if target is None:
            return None  # the new version imports nothing from there: the user decides
        module = "." * imp.level + (imp.module or "")
        edit = Edit(
            file="",
            why="carries the project's imports",
            kind="import",
            text=f"from {module} import {', '.join(added)}",
            within=target.scope,
        )
        try:
            text, _ = apply_edit(text, edit)
        except GenerateError:
            return None
        reparsed = _parse(text.encode("utf-8"))
        if reparsed is None:
            return None
        parsed = reparsed
    return text.encode("utf-8")


def _statement_for(candidates: list[_Import], old: _Import) -> _Import | None:
    """The merged file's statement importing from ``old``'s module that shares the most
    names with it (the one the template moved), top-level ones last on a tie."""
    same = [c for c in candidates if (c.level, c.module) == (old.level, old.module)]
    if not same:
        return None
    return max(same, key=lambda c: (len(set(c.names) & set(old.names)), c.scope is not None))
