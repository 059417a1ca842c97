"""The route model: :func:`collect_routes` turns ``app.url_map`` into :class:`RouteInfo` rows.

Each endpoint's view is resolved to ``module:qualname`` and ``file:line``. Cost matters
(``webkit routes`` must not be noticeably slower than ``flask routes`` on a 5000-route
app), so locations come from code objects (``co_filename``, ``co_firstlineno``) and
``linecache`` instead of ``inspect.getsourcelines``, which tokenises the file per view.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import linecache
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import FunctionType, MethodType
from typing import Any

#: Methods werkzeug/Flask add to every rule by themselves; hidden unless asked for.
AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})

#: Problem codes, in the order they are reported.
PROBLEM_CODES = (
    "duplicate-route",
    "view-signature",
    "missing-argument",
    "slash-conflict",
    "missing-view",
)

# A variable in a rule: ``<name>``, ``<int:name>``, ``<any(a, b):name>``.
VARIABLE_RE = re.compile(
    r"<(?:(?P<converter>[A-Za-z_]\w*)(?:\((?P<args>[^)]*)\))?:)?(?P<name>[A-Za-z_]\w*)>"
)


@dataclass(frozen=True)
class RouteInfo:
    """One URL rule of the map, with its view resolved.

    ``methods`` holds every method the rule answers (HEAD and OPTIONS included), sorted;
    it is empty when the rule accepts any method (a raw werkzeug rule without
    ``methods``). ``view`` is ``"module:qualname"`` of the function the user wrote
    (decorators unwrapped; the class for Flask class-based views); ``source_file`` is the
    absolute path of its file and ``source_line`` the 1-based line of its ``def``/``class``.
    ``blueprint`` is the dotted blueprint name (``"parent.child"``), ``None`` for routes
    of the app itself.
    """

    rule: str
    methods: tuple[str, ...]
    endpoint: str
    view: str | None
    source_file: str | None
    source_line: int | None
    arguments: tuple[str, ...]
    defaults: Mapping[str, Any] | None
    host: str | None
    subdomain: str | None
    strict_slashes: bool
    redirect_to: str | None
    blueprint: str | None
    build_only: bool = False
    websocket: bool = False

    def visible_methods(self, all_methods: bool = False) -> tuple[str, ...]:
        """The methods to show: HEAD and OPTIONS only with ``all_methods``, like Flask."""
        if all_methods:
            return self.methods
        return tuple(m for m in self.methods if m not in AUTOMATIC_METHODS)

    @property
    def view_dotted(self) -> str | None:
        """``module.qualname``, the form the table shows."""
        return self.view.replace(":", ".", 1) if self.view else None


@dataclass(frozen=True)
class RouteProblem:
    """Something about a route that is certainly wrong (see :data:`PROBLEM_CODES`).

    ``source_file``/``source_line`` point at the view to fix, when there is one.
    """

    code: str
    message: str
    rule: str
    endpoint: str
    source_file: str | None
    source_line: int | None


def collect_routes(app: Any) -> list[RouteInfo]:
    """Every rule of ``app.url_map`` in registration order (the order werkzeug matches ties).

    ``app`` is a Flask app or any object whose ``url_map`` is a werkzeug ``Map``; its
    ``view_functions`` mapping is used when present. For a plain werkzeug map whose
    endpoints are callables, the callable is taken as the view.
    """
    url_map = app.url_map
    view_functions: Mapping[str, Any] = getattr(app, "view_functions", None) or {}
    has_blueprints = hasattr(app, "blueprints")
    host_matching = bool(getattr(url_map, "host_matching", False))
    locate = _ViewLocator()
    routes: list[RouteInfo] = []
    for rule in url_map.iter_rules():
        raw_endpoint = rule.endpoint
        if isinstance(raw_endpoint, str):
            endpoint = raw_endpoint
            view = view_functions.get(endpoint)
        else:
            # werkzeug allows any object as endpoint; a callable is then the view itself.
            view = raw_endpoint if callable(raw_endpoint) else None
            endpoint = callable_name(raw_endpoint) if view is not None else str(raw_endpoint)
        if endpoint == "static" and is_flask_static_lambda(view):
            # Flask serves its static folder through a lambda in Flask.__init__; name what
            # it calls instead, like blueprints' static routes already show.
            view = getattr(type(app), "send_static_file", view)
        name, source_file, source_line = locate(view) if view is not None else (None, None, None)
        blueprint = None
        if has_blueprints and "." in endpoint:
            blueprint = endpoint.rpartition(".")[0]
        redirect = rule.redirect_to
        if redirect is not None and not isinstance(redirect, str):
            redirect = callable_name(redirect)
        routes.append(
            _make_route(
                {
                    "rule": rule.rule,
                    "methods": tuple(sorted(rule.methods)) if rule.methods else (),
                    "endpoint": endpoint,
                    "view": name,
                    "source_file": source_file,
                    "source_line": source_line,
                    "arguments": _ordered_arguments(rule),
                    "defaults": dict(rule.defaults) if rule.defaults else None,
                    "host": (rule.host or None) if host_matching else None,
                    "subdomain": None if host_matching else (rule.subdomain or None),
                    "strict_slashes": bool(rule.strict_slashes),
                    "redirect_to": redirect,
                    "blueprint": blueprint,
                    "build_only": bool(rule.build_only),
                    "websocket": bool(getattr(rule, "websocket", False)),
                }
            )
        )
    return routes


def _make_route(values: dict[str, Any]) -> RouteInfo:
    """``RouteInfo(**values)`` without the frozen dataclass's per-field
    ``object.__setattr__`` calls: 1.4 us instead of 0.4 us a route, 5 ms of the 5000-route
    benchmark. Only for complete field sets built here (asserted in the tests)."""
    route: RouteInfo = object.__new__(RouteInfo)
    route.__dict__.update(values)
    return route


def is_flask_static_lambda(view: Any) -> bool:
    return (
        getattr(view, "__name__", None) == "<lambda>"
        and getattr(view, "__module__", "").startswith("flask.")
        and getattr(view, "__qualname__", "").endswith("__init__.<locals>.<lambda>")
    )


def _ordered_arguments(rule: Any) -> tuple[str, ...]:
    """The rule's variables in the order they appear (host part first), then defaults."""
    arguments = rule.arguments
    if not arguments:
        return ()
    # werkzeug records the converters in parse order (domain, then path): use that when
    # it is there, it is ten times cheaper than parsing the rule again.
    converters = getattr(rule, "_converters", None)
    if isinstance(converters, dict) and set(converters) <= arguments:
        ordered = list(converters)
    else:
        ordered = []
        for text in (rule.host or "", rule.subdomain or "", rule.rule):
            if "<" in text:
                for match in VARIABLE_RE.finditer(text):
                    name = match.group("name")
                    if name in arguments and name not in ordered:
                        ordered.append(name)
    if len(ordered) < len(arguments):
        ordered.extend(sorted(a for a in arguments if a not in ordered))
    return tuple(ordered)


def callable_name(obj: Any) -> str:
    target = unwrap_view(obj)
    module = getattr(target, "__module__", None) or "?"
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}:{qualname}"


def unwrap_view(obj: Any) -> Any:
    """The function the user wrote: through ``__wrapped__``, partials and bound methods."""
    for _ in range(100):  # a cycle guard, like inspect.unwrap's
        if type(obj) is FunctionType:
            # The common case, and the fast one: functools.wraps stores __wrapped__ in
            # the function's __dict__.
            wrapped = obj.__dict__.get("__wrapped__")
            if wrapped is None:
                return obj
            obj = wrapped
        elif isinstance(obj, functools.partial):
            obj = obj.func
        elif isinstance(obj, MethodType):
            obj = obj.__func__
        elif hasattr(obj, "__wrapped__") and not isinstance(obj, type):
            obj = obj.__wrapped__
        else:
            return obj
    return obj


class _ViewLocator:
    """Resolve views to (``module:qualname``, file, line), caching per file and per class."""

    def __init__(self) -> None:
        self._abs: dict[str, str] = {}
        self._class_lines: dict[type, int | None] = {}
        self._lines: dict[str, list[str]] = {}

    def __call__(self, view: Any) -> tuple[str | None, str | None, int | None]:
        # Plain functions (nearly every view) take the dict lookups; a missing attribute
        # through getattr costs an exception inside CPython.
        attrs = view.__dict__ if type(view) is FunctionType else None
        view_class = (
            attrs.get("view_class") if attrs is not None else getattr(view, "view_class", None)
        )
        if isinstance(view_class, type):
            return self._locate_class(view_class)
        target = view if attrs is not None and "__wrapped__" not in attrs else unwrap_view(view)
        code = getattr(target, "__code__", None)
        if code is None and not inspect.isroutine(target) and callable(target):
            # A callable object: its class is what the user wrote.
            call = getattr(type(target), "__call__", None)  # noqa: B004
            code = getattr(unwrap_view(call), "__code__", None)
        module = getattr(target, "__module__", None)
        qualname = getattr(target, "__qualname__", None)
        if qualname is None:
            qualname = type(target).__qualname__
            module = type(target).__module__
        name = f"{module or '?'}:{qualname}"
        if code is None:
            return name, None, None
        filename = code.co_filename
        lines = self._lines.get(filename)
        if lines is None:
            lines = self._lines[filename] = linecache.getlines(filename)
        return name, self._absolute(filename), def_line(filename, code.co_firstlineno, lines)

    def _absolute(self, filename: str) -> str | None:
        if filename.startswith("<"):  # <string>, <frozen ...>: no file to point at
            return None
        cached = self._abs.get(filename)
        if cached is None:
            cached = self._abs[filename] = os.path.abspath(filename)  # noqa: PTH100
        return cached

    def _locate_class(self, cls: type) -> tuple[str, str | None, int | None]:
        name = f"{cls.__module__}:{cls.__qualname__}"
        filename = None
        with contextlib.suppress(TypeError, OSError):
            filename = inspect.getfile(cls)
        if cls not in self._class_lines:
            self._class_lines[cls] = _class_line(cls, filename)
        line = self._class_lines[cls]
        return name, self._absolute(filename) if filename else None, line


_DEF_RE = re.compile(r"\s*(?:async\s+)?(?:def|class)\s")


def def_line(filename: str, first: int, lines: Sequence[str] | None = None) -> int:
    """The line of the ``def`` itself: ``co_firstlineno`` is that of the first decorator.

    ``linecache`` reads each file once, so this stays cheap for thousands of views;
    ``lines`` may be passed when the caller already holds the file's lines.
    """
    if lines is None:
        lines = linecache.getlines(filename)
    if first > len(lines) or not lines[first - 1].lstrip().startswith("@"):
        return first
    for number in range(first + 1, min(first + 200, len(lines) + 1)):
        if _DEF_RE.match(lines[number - 1]):
            return number
    return first


def _class_line(cls: type, filename: str | None) -> int | None:
    first = getattr(cls, "__firstlineno__", None)  # Python 3.13+
    if isinstance(first, int):
        return first
    if filename is None:
        return None
    # Before 3.13 inspect.getsourcelines parses the whole module (4 ms per class,
    # measured on the 5000-route benchmark); instead search upwards from the class's
    # first method for its ``class`` statement, with the lines linecache already holds.
    pattern = re.compile(rf"\s*class\s+{re.escape(cls.__name__)}\b")
    lines = [
        code.co_firstlineno
        for value in vars(cls).values()
        if (code := getattr(unwrap_view(value), "__code__", None)) is not None
        and code.co_filename == filename
    ]
    if lines:
        for number in range(min(lines), 0, -1):
            if pattern.match(linecache.getline(filename, number)):
                return number
        return None
    for number, text in enumerate(linecache.getlines(filename), start=1):
        if pattern.match(text):
            return number
    return None
