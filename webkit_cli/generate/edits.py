"""Small, explained edits to the user's files: an import, a line after an anchor, an append.

A generator never rewrites a file the user owns: it adds lines at one place it can find
for sure. When that place is not there (the factory was rewritten, the import moved into
a function), the edit fails with the exact line to add by hand, and nothing is written.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from webkit_cli.generate.fields import GenerateError

LINE_LENGTH = 100


@dataclass(frozen=True)
class Edit:
    """One edit of one file, rendered: what it adds and why (for the plan and the errors)."""

    file: str  # relative POSIX path in the project
    why: str
    kind: str  # "import", "after", "before" or "append"
    text: str  # the import statement, the line(s) to insert, or the text to append
    #: "after"/"before": a regex; the lines go after the statement on the last line that
    #: matches, or before the first line that matches (a template's marker comment).
    #: Several anchors are tried in order (a marker first, then a line older projects have).
    anchor: str | tuple[str, ...] | None = None
    #: "import": the function whose own imports take it (the app factory), when that
    #: function has an import from the same module; else it goes at the top, as before.
    within: str | None = None


@dataclass(frozen=True)
class Applied:
    edit: Edit
    added: tuple[str, ...]  # the lines as they now read (for the dry run)


def apply_edit(source: str, edit: Edit) -> tuple[str, Applied | None]:
    """``source`` with ``edit`` made; ``None`` when the file already has it."""
    if edit.kind == "import":
        return _add_import(source, edit)
    if edit.kind in {"after", "before"}:
        return _insert_at(source, edit)
    if edit.kind == "append":
        if edit.text.strip() and edit.text.strip() in source:
            return source, None
        sep = "" if source.endswith("\n") or not source else "\n"
        gap = "\n\n" if source.strip() else ""
        return source + sep + gap + edit.text.rstrip("\n") + "\n", Applied(
            edit, tuple(edit.text.rstrip("\n").splitlines())
        )
    raise GenerateError(f"Unknown edit kind {edit.kind!r} for {edit.file}.")


def _cannot(edit: Edit, where: str) -> GenerateError:
    lines = "; ".join(line.strip() for line in edit.text.strip().splitlines())
    return GenerateError(
        f"Cannot find where to edit {edit.file} ({edit.why}): {where}. Add `{lines}` where it "
        "belongs yourself, then run the command again. Nothing was written."
    )


def _parse_import(text: str) -> tuple[str, list[str]]:
    match = re.fullmatch(r"from\s+(\.*[\w.]*)\s+import\s+([\w, ]+)", text.strip())
    if not match:
        raise GenerateError(f"A generator's import edit must read 'from X import a, b': {text!r}.")
    names = [n.strip() for n in match.group(2).split(",") if n.strip()]
    return match.group(1), names


def _format_import(module: str, names: list[str], indent: str = "") -> str:
    line = f"{indent}from {module} import {', '.join(names)}"
    if len(line) <= LINE_LENGTH:
        return line
    body = "".join(f"{indent}    {name},\n" for name in names)
    return f"{indent}from {module} import (\n{body}{indent})"


def _add_import(source: str, edit: Edit) -> tuple[str, Applied | None]:
    module, wanted = _parse_import(edit.text)
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise GenerateError(
            f"{edit.file} does not parse (line {exc.lineno}: {exc.msg}): fix it first. "
            "Nothing was written."
        ) from None
    level = len(module) - len(module.lstrip("."))
    name = module.lstrip(".") or None
    imports = [n for n in tree.body if isinstance(n, ast.ImportFrom | ast.Import)]
    lines = source.splitlines(keepends=True)
    # The factory's own import first (the project imports its modules there, so the
    # package loads none of them); a project whose factory imports none has them on top.
    for node in [*_function_body(tree, edit.within), *tree.body]:
        if not isinstance(node, ast.ImportFrom) or node.level != level or node.module != name:
            continue
        if any(alias.asname for alias in node.names) or node.names[0].name == "*":
            continue
        have = [alias.name for alias in node.names]
        missing = [n for n in wanted if n not in have]
        if not missing:
            return source, None
        merged = sorted({*have, *missing}, key=_isort_key)
        start, end = node.lineno - 1, (node.end_lineno or node.lineno)
        indent = lines[start][: node.col_offset]
        new = _format_import(module, merged, indent) + "\n"
        text = "".join(lines[:start]) + new + "".join(lines[end:])
        return text, Applied(edit, tuple(new.rstrip("\n").splitlines()))
    if not imports:
        raise _cannot(edit, "it has no imports at the top to add one beside")
    # A new statement after the last import of the same kind (relative after relative),
    # which is where isort puts it when the module sorts last; ruff's I001 may still ask to
    # move it, which `ruff check --fix` does.
    same = [n for n in imports if isinstance(n, ast.ImportFrom) and n.level == level]
    after = (same or imports)[-1]
    end = after.end_lineno or after.lineno
    new = _format_import(module, sorted(wanted, key=_isort_key)) + "\n"
    text = "".join(lines[:end]) + new + "".join(lines[end:])
    return text, Applied(edit, tuple(new.rstrip("\n").splitlines()))


def _function_body(tree: ast.Module, name: str | None) -> list[ast.stmt]:
    """The statements of the module-level function ``name`` (none without one)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return node.body
    return []


def _isort_key(name: str) -> tuple[int, str]:
    """isort's default "force_sort_within_sections" off order: CONSTANTS, Classes, modules."""
    kind = 0 if name.isupper() else (1 if name[:1].isupper() else 2)
    return kind, name.lower()


def _insert_at(source: str, edit: Edit) -> tuple[str, Applied | None]:
    assert edit.anchor is not None
    lines = source.splitlines(keepends=True)
    wanted = [line.strip() for line in edit.text.strip("\n").splitlines()]
    stripped = [line.strip() for line in lines]
    if wanted and all(w in stripped for w in wanted if w):
        return source, None
    anchors = (edit.anchor,) if isinstance(edit.anchor, str) else edit.anchor
    matches: list[int] = []
    for pattern in anchors:
        try:
            anchor = re.compile(pattern)
        except re.error as exc:
            raise GenerateError(
                f"A generator's anchor {pattern!r} is not a regex: {exc}."
            ) from None
        matches = [i for i, line in enumerate(lines) if anchor.search(line)]
        if matches:
            break
    if not matches:
        raise _cannot(edit, "no line matches " + " or ".join(repr(a) for a in anchors))
    if edit.kind == "before":
        i = matches[0]
        indent = re.match(r"[ \t]*", lines[i]).group(0)  # type: ignore[union-attr]
        new = _indented(edit.text, indent)
        text = "".join(lines[:i]) + "".join(new) + "".join(lines[i:])
        return text, Applied(edit, tuple(n.rstrip("\n") for n in new))
    i = matches[-1]
    # A statement that goes on over several lines (a call with arguments on the next
    # lines) ends where its brackets close.
    depth = 0
    j = i
    while True:
        depth += _bracket_balance(lines[j])
        if depth <= 0 or j + 1 >= len(lines):
            break
        j += 1
    indent = re.match(r"[ \t]*", lines[i]).group(0)  # type: ignore[union-attr]
    new = _indented(edit.text, indent)
    if not lines[j].endswith("\n"):
        lines[j] += "\n"
    text = "".join(lines[: j + 1]) + "".join(new) + "".join(lines[j + 1 :])
    return text, Applied(edit, tuple(n.rstrip("\n") for n in new))


def _indented(text: str, indent: str) -> list[str]:
    """``text``'s lines, re-indented as a block to ``indent``."""
    block = text.strip("\n").splitlines()
    common = min((len(b) - len(b.lstrip()) for b in block if b.strip()), default=0)
    return [f"{indent}{b[common:]}\n" if b.strip() else "\n" for b in block]


def _bracket_balance(line: str) -> int:
    code = re.sub(r"(['\"]).*?\1", "", line.split("#", 1)[0])
    return sum(code.count(c) for c in "([{") - sum(code.count(c) for c in ")]}")
