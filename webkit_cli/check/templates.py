"""Template rules (T001-T003): templates parse; literal template names point at real files."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

from webkit_cli.check.context import CheckContext
from webkit_cli.check.findings import Finding, finding
from webkit_cli.check.registry import register


@register("T001")
def template_syntax(ctx: CheckContext) -> Iterator[Finding]:
    """Every template parses with the app's Jinja environment (or a plain one)."""
    for file in ctx.template_files:
        if file.error is not None:
            message = getattr(file.error, "message", None) or str(file.error)
            if isinstance(file.error, ValueError):  # not text, or too deep: no Jinja error
                message = message[0].upper() + message[1:] + "."
            else:
                message = f"TemplateSyntaxError: {message}"
            yield finding("T001", file.rel, file.error_line, message)


def _literal_names(node: Any) -> list[str] | None:
    """The template names of a Const or a list/tuple of Consts; ``None`` if not literal."""
    from jinja2 import nodes

    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, nodes.List | nodes.Tuple):
        names = [_literal_names(item) for item in node.items]
        if all(n is not None and len(n) == 1 for n in names):
            return [n[0] for n in names if n]
    return None


def template_refs(tree: Any) -> list[tuple[tuple[str, ...], int, str]]:
    """(literal names, line, tag) of each reference a template makes to others: what T002
    needs of a template, kept in the per-file cache so that a cached run parses nothing."""
    from jinja2 import nodes

    kinds = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)
    refs: list[tuple[tuple[str, ...], int, str]] = []
    for node in tree.find_all(kinds):
        assert isinstance(node, kinds)
        if isinstance(node, nodes.Include) and node.ignore_missing:
            continue
        names = _literal_names(node.template)
        if not names:
            continue  # dynamic names are not guessed
        tag = type(node).__name__.lower().replace("fromimport", "from")
        refs.append((tuple(names), node.lineno, tag))
    return refs


@register("T002")
def template_references(ctx: CheckContext) -> Iterator[Finding]:
    """``{% extends %}``/``{% include %}``/``{% import %}``/``{% from %}`` name real templates."""
    for file in ctx.template_files:
        if file.error is not None:
            continue
        result = ctx.file_results.get(file.rel)
        refs = result.extracts.get("T002") if result is not None else None
        if refs is None:
            if file.tree is None:
                continue
            refs = template_refs(file.tree)
        for names, line, tag in refs:
            if any(ctx.template_exists(name) for name in names):
                continue  # a list needs one existing entry
            shown = " or ".join(f"'{n}'" for n in names)
            yield finding(
                "T002",
                file.rel,
                line,
                f"{{% {tag} %}} names template {shown}, which does not exist in any "
                "templates folder.",
            )


#: Flask's functions whose first argument is a template name (or a list of names)
_RENDERERS = frozenset({"render_template", "stream_template"})


def render_refs(tree: ast.Module) -> list[tuple[str, tuple[str, ...], int, int]]:
    """(function, literal names, line, column) of each ``render_template(...)`` call: what
    T003 needs of a module, kept in the per-file cache."""
    refs: list[tuple[str, tuple[str, ...], int, int]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name not in _RENDERERS:
            continue
        names = _python_literal_names(node.args[0])
        if names:
            refs.append((name, tuple(names), node.lineno, node.col_offset + 1))
    return refs


@register("T003")
def render_template_targets(ctx: CheckContext) -> Iterator[Finding]:
    """``render_template("page.html")`` in Python names a template that exists."""
    for file in ctx.python_files:
        if file.error is not None:
            continue
        result = ctx.file_results.get(file.rel)
        if result is not None:
            refs = result.extracts.get("T003", [])  # absent: no renderer named in the module
        elif "_template" not in file.source or file.tree is None:
            continue  # no renderer named in this module: nothing to look at (or parse)
        else:
            refs = render_refs(file.tree)
        for name, names, line, column in refs:
            if any(ctx.template_exists(n) for n in names):
                continue
            shown = " or ".join(f"'{n}'" for n in names)
            yield finding(
                "T003",
                file.rel,
                line,
                f"{name}() names template {shown}, which does not exist in any templates folder.",
                column=column,
            )


def _python_literal_names(node: ast.AST) -> list[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.List | ast.Tuple) and node.elts:
        names = [_python_literal_names(elt) for elt in node.elts]
        if all(n is not None and len(n) == 1 for n in names):
            return [n[0] for n in names if n]
    return None
