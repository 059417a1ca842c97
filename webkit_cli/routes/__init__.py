"""The route table of a Flask app (or any object with a werkzeug ``Map`` as ``url_map``).

* :mod:`~webkit_cli.routes.model`: :func:`collect_routes` -> :class:`RouteInfo` rows;
* :mod:`~webkit_cli.routes.analysis`: :func:`find_problems` -> :class:`RouteProblem`
  (shadowed routes, impossible view signatures, ``/x`` vs ``/x/``, missing views);
  ``webkit check`` reuses it for its route rules;
* :mod:`~webkit_cli.routes.render`: filters, sorting, the table and the JSON document.
"""

from __future__ import annotations

from webkit_cli.routes.analysis import find_problems
from webkit_cli.routes.model import (
    AUTOMATIC_METHODS,
    PROBLEM_CODES,
    RouteInfo,
    RouteProblem,
    collect_routes,
)
from webkit_cli.routes.render import (
    JSON_SCHEMA,
    JSON_SCHEMA_VERSION,
    SORT_KEYS,
    PathDisplay,
    RouteTable,
    blueprint_names,
    build_table,
    filter_routes,
    problems_for,
    sort_routes,
    summary_line,
    to_json,
)

__all__ = [
    "AUTOMATIC_METHODS",
    "JSON_SCHEMA",
    "JSON_SCHEMA_VERSION",
    "PROBLEM_CODES",
    "SORT_KEYS",
    "PathDisplay",
    "RouteInfo",
    "RouteProblem",
    "RouteTable",
    "blueprint_names",
    "build_table",
    "collect_routes",
    "filter_routes",
    "find_problems",
    "problems_for",
    "sort_routes",
    "summary_line",
    "to_json",
]
