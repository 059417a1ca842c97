"""Template rules (T001-T002): templates parse; literal extends/include/import targets exist."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from webkit_cli.check.context import CheckContext
from webkit_cli.check.findings import Finding, finding
from webkit_cli.check.registry import check


@check("T001")
def template_syntax(ctx: CheckContext) -> Iterator[Finding]:
    """Every template parses with the app's Jinja environment (or a plain one)."""
    for file in ctx.template_files:
        if file.error is not None:
            message = getattr(file.error, "message", None) or str(file.error)
            yield finding("T001", file.rel, file.error_line, f"TemplateSyntaxError: {message}")


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


@check("T002")
def template_references(ctx: CheckContext) -> Iterator[Finding]:
    """``{% extends %}``/``{% include %}``/``{% import %}``/``{% from %}`` name real templates."""
    from jinja2 import nodes

    kinds = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)
    for file, tree in ctx.parsed_templates():
        for node in tree.find_all(kinds):
            assert isinstance(node, kinds)
            if isinstance(node, nodes.Include) and node.ignore_missing:
                continue
            names = _literal_names(node.template)
            if not names or any(ctx.template_exists(name) for name in names):
                continue  # dynamic names are not guessed; a list needs one existing entry
            tag = type(node).__name__.lower().replace("fromimport", "from")
            shown = " or ".join(f"'{n}'" for n in names)
            yield finding(
                "T002",
                file.rel,
                node.lineno,
                f"{{% {tag} %}} names template {shown}, which does not exist in any "
                "templates folder.",
            )
