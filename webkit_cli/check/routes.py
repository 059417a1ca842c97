"""Route rules (R001-R005): the conflict analysis of ``webkit routes``, as findings."""

from __future__ import annotations

from collections.abc import Iterator

from webkit_cli.check.context import CheckContext
from webkit_cli.check.findings import Finding, finding
from webkit_cli.check.registry import register

#: ``webkit_cli.routes.RouteProblem.code`` -> stable rule code
ROUTE_CODES = {
    "duplicate-route": "R001",
    "view-signature": "R002",
    "missing-argument": "R003",
    "slash-conflict": "R004",
    "missing-view": "R005",
}


@register(*ROUTE_CODES.values())
def route_problems(ctx: CheckContext) -> Iterator[Finding]:
    """Duplicate rules, views that cannot take their variables, slash conflicts."""
    assert ctx.facts is not None  # a needs-import check runs only with the app
    # Computed in the child that imported the app, where the view functions are.
    for problem in ctx.facts.route_problems:
        code = ROUTE_CODES.get(problem.code)
        if code is None:  # a newer analysis than this table: not a stable code yet
            continue
        file = ctx.rel(problem.source_file) if problem.source_file else None
        if file is not None and file not in ctx.all_files:
            file, line = None, None  # a view in an installed library: nothing to point at
        else:
            line = problem.source_line
        yield finding(code, file, line, problem.message)
