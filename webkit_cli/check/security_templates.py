"""Template security rules: ``|safe`` on variables (S004) and autoescape off (S006)."""

from __future__ import annotations

from collections.abc import Iterator

from webkit_cli.check.context import CheckContext
from webkit_cli.check.findings import Finding, finding
from webkit_cli.check.registry import register

#: Jinja filters whose output is already escaped, so a ``|safe`` after them is harmless
_ESCAPING_FILTERS = frozenset({"tojson", "escape", "e", "forceescape", "urlencode"})


@register("S004", "S006", per_file=True)
def template_security(ctx: CheckContext) -> Iterator[Finding]:
    """|safe on variables and {% autoescape false %}."""
    from jinja2 import nodes

    for file, tree in ctx.parsed_templates():
        for flt in tree.find_all(nodes.Filter):
            inner = flt.node
            literal = isinstance(inner, nodes.Const | nodes.TemplateData)
            # `x|tojson|safe`, `x|e|safe`: the value was escaped by the filter before it
            escaped = isinstance(inner, nodes.Filter) and inner.name in _ESCAPING_FILTERS
            if flt.name == "safe" and inner is not None and not literal and not escaped:
                yield finding(
                    "S004", file.rel, flt.lineno, "|safe turns off escaping of a variable."
                )
        for mod in tree.find_all((nodes.ScopedEvalContextModifier, nodes.EvalContextModifier)):
            for option in mod.options:
                value = option.value
                if (
                    option.key == "autoescape"
                    and isinstance(value, nodes.Const)
                    and not value.value
                ):
                    yield finding(
                        "S006", file.rel, mod.lineno, "{% autoescape false %} turns escaping off."
                    )
