"""Which routes to show, in which order: the ``-g``, ``-m``, ``-b`` and ``--sort`` options."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from webkit_cli.routes.model import RouteInfo, RouteProblem

SORT_KEYS: dict[str, Callable[[RouteInfo], Any]] = {
    "rule": lambda r: (r.host or r.subdomain or "", r.rule, r.methods, r.endpoint),
    "endpoint": lambda r: (r.endpoint, r.rule),
    "methods": lambda r: (r.visible_methods(), r.rule),
    "view": lambda r: (r.view or "", r.rule),
    "source": lambda r: (r.source_file or "\uffff", r.source_line or 0, r.rule),
}


class UnknownBlueprintError(ValueError):
    """``-b NAME`` names no blueprint of the app; ``known`` lists those that exist."""

    def __init__(self, unknown: Sequence[str], known: Sequence[str]) -> None:
        self.unknown = list(unknown)
        self.known = list(known)
        names = ", ".join(map(repr, unknown))
        hint = f"Blueprints with routes: {', '.join(known)}." if known else "It has none."
        super().__init__(f"the app has no blueprint named {names}. {hint}")


def compile_grep(pattern: str) -> Callable[[str], bool]:
    """A case-insensitive matcher: ``pattern`` as a regex, or as a plain substring when it
    is not a valid regex (so ``-g 'user('`` still works)."""
    try:
        regex = re.compile(pattern, re.IGNORECASE)
    except re.error:
        regex = re.compile(re.escape(pattern), re.IGNORECASE)
    return lambda text: regex.search(text) is not None


def _in_blueprints(route: RouteInfo, names: Sequence[str]) -> bool:
    """``-b api`` selects ``api`` and its nested blueprints (``api.v1``), not ``apiary``."""
    bp = route.blueprint
    if bp is None:
        return False
    return any(bp == name or bp.startswith(name + ".") for name in names)


def filter_routes(
    routes: Iterable[RouteInfo],
    *,
    grep: str | None = None,
    methods: Sequence[str] = (),
    blueprints: Sequence[str] = (),
) -> list[RouteInfo]:
    """Routes matching every filter given: grep (rule, endpoint, view, redirect target,
    host), any of ``methods`` (HEAD/OPTIONS included), any of ``blueprints``."""
    match = compile_grep(grep) if grep else None
    wanted = {m.upper() for m in methods}
    kept = []
    for route in routes:
        if wanted and route.methods and not wanted.intersection(route.methods):
            continue
        if blueprints and not _in_blueprints(route, blueprints):
            continue
        if match is not None:
            haystack = "\n".join(
                filter(
                    None,
                    (
                        route.rule,
                        route.endpoint,
                        route.view,
                        route.view_dotted,
                        route.redirect_to,
                        route.host or route.subdomain,
                    ),
                )
            )
            if not match(haystack):
                continue
        kept.append(route)
    return kept


def sort_routes(routes: Iterable[RouteInfo], by: str = "rule") -> list[RouteInfo]:
    """Routes sorted by one of :data:`SORT_KEYS` (stable: ties keep registration order)."""
    try:
        key = SORT_KEYS[by]
    except KeyError:
        raise ValueError(f"cannot sort by {by!r}; choose one of {', '.join(SORT_KEYS)}") from None
    return sorted(routes, key=key)


def blueprint_names(routes: Iterable[RouteInfo]) -> list[str]:
    """Every blueprint with routes, parents of nested blueprints included, sorted."""
    names: set[str] = set()
    for route in routes:
        if route.blueprint:
            parts = route.blueprint.split(".")
            names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return sorted(names)


def problems_for(
    problems: Iterable[RouteProblem], routes: Iterable[RouteInfo]
) -> list[RouteProblem]:
    """The problems about the given (shown) routes."""
    shown = {(r.rule, r.endpoint) for r in routes}
    return [p for p in problems if (p.rule, p.endpoint) in shown]


def select_routes(
    routes: Sequence[RouteInfo],
    *,
    sort: str = "rule",
    grep: str | None = None,
    methods: Sequence[str] = (),
    blueprints: Sequence[str] = (),
) -> list[RouteInfo]:
    """Filter then sort; a blueprint name that does not exist is an error, not "no rows"
    (a typo in CI would otherwise pass silently)."""
    if blueprints:
        known = blueprint_names(routes)
        unknown = [b for b in blueprints if b not in known]
        if unknown:
            raise UnknownBlueprintError(unknown, known)
    return sort_routes(
        filter_routes(routes, grep=grep, methods=methods, blueprints=blueprints), sort
    )
