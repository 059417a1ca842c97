"""The route table of a Flask app (or any object with a werkzeug ``Map`` as ``url_map``).

* :mod:`~webkit_cli.routes.model`: :func:`collect_routes` -> :class:`RouteInfo` rows;
* :mod:`~webkit_cli.routes.analysis`: :func:`find_problems` -> :class:`RouteProblem`
  (shadowed routes, impossible view signatures, ``/x`` vs ``/x/``, missing views);
  ``webkit check`` reuses it for its route rules;
* :mod:`~webkit_cli.routes.query`: the filters and sort orders;
* :mod:`~webkit_cli.routes.table` and :mod:`~webkit_cli.routes.export`: the table and
  the JSON document.
"""

from __future__ import annotations

from webkit_cli.routes.analysis import find_problems
from webkit_cli.routes.export import JSON_SCHEMA, JSON_SCHEMA_VERSION, to_json
from webkit_cli.routes.model import (
    AUTOMATIC_METHODS,
    PROBLEM_CODES,
    RouteInfo,
    RouteProblem,
    collect_routes,
)
from webkit_cli.routes.paths import PathDisplay
from webkit_cli.routes.query import (
    SORT_KEYS,
    UnknownBlueprintError,
    blueprint_names,
    filter_routes,
    problems_for,
    select_routes,
    sort_routes,
)
from webkit_cli.routes.table import RouteTable, build_table, summary_line

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
    "UnknownBlueprintError",
    "blueprint_names",
    "build_table",
    "collect_routes",
    "filter_routes",
    "find_problems",
    "problems_for",
    "select_routes",
    "sort_routes",
    "summary_line",
    "to_json",
]
