"""The route table of a Flask app (or any object with a werkzeug ``Map`` as ``url_map``).

Three layers, each usable alone:

* the model: :func:`collect_routes` turns ``app.url_map`` into :class:`RouteInfo` rows,
  resolving each endpoint's view to ``module:qualname`` and ``file:line``;
* the analysis: :func:`find_problems` reports shadowed routes, view signatures that
  cannot take the rule's variables, ``/x`` vs ``/x/`` conflicts and endpoints without
  a view (``webkit check`` reuses it for its route rules);
* the renderers: :func:`build_table` (a rich ``Table``), :func:`render_plain` (aligned
  text for pipes) and :func:`to_json` (the documented JSON schema).

Cost matters: ``webkit routes`` must not be noticeably slower than ``flask routes`` on a
5000-route app, so source locations come from code objects (``co_filename``,
``co_firstlineno``) instead of ``inspect.getsourcelines`` (which reads and tokenises
every file), signatures are read from code objects too, and conflict detection groups
rules by a normalised key instead of comparing every pair.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import linecache
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
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
_VARIABLE_RE = re.compile(
    r"<(?:(?P<converter>[A-Za-z_]\w*)(?:\((?P<args>[^)]*)\))?:)?(?P<name>[A-Za-z_]\w*)>"
)

_CO_VARARGS = inspect.CO_VARARGS
_CO_VARKEYWORDS = inspect.CO_VARKEYWORDS


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


# --------------------------------------------------------------------------- model


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
            endpoint = _callable_name(raw_endpoint) if view is not None else str(raw_endpoint)
        name, source_file, source_line = locate(view) if view is not None else (None, None, None)
        blueprint = None
        if has_blueprints and "." in endpoint:
            blueprint = endpoint.rpartition(".")[0]
        redirect = rule.redirect_to
        if redirect is not None and not isinstance(redirect, str):
            redirect = _callable_name(redirect)
        routes.append(
            RouteInfo(
                rule=rule.rule,
                methods=tuple(sorted(rule.methods)) if rule.methods else (),
                endpoint=endpoint,
                view=name,
                source_file=source_file,
                source_line=source_line,
                arguments=_ordered_arguments(rule),
                defaults=dict(rule.defaults) if rule.defaults else None,
                host=(rule.host or None) if host_matching else None,
                subdomain=None if host_matching else (rule.subdomain or None),
                strict_slashes=bool(rule.strict_slashes),
                redirect_to=redirect,
                blueprint=blueprint,
                build_only=bool(rule.build_only),
                websocket=bool(getattr(rule, "websocket", False)),
            )
        )
    return routes


def _ordered_arguments(rule: Any) -> tuple[str, ...]:
    """The rule's variables in the order they appear (host part first), then defaults."""
    arguments = rule.arguments
    if not arguments:
        return ()
    ordered: list[str] = []
    for text in (rule.host or "", rule.subdomain or "", rule.rule):
        if "<" in text:
            for match in _VARIABLE_RE.finditer(text):
                name = match.group("name")
                if name in arguments and name not in ordered:
                    ordered.append(name)
    ordered.extend(sorted(a for a in arguments if a not in ordered))
    return tuple(ordered)


def _callable_name(obj: Any) -> str:
    target = _unwrap(obj)
    module = getattr(target, "__module__", None) or "?"
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}:{qualname}"


def _unwrap(obj: Any) -> Any:
    """The function the user wrote: through ``__wrapped__``, partials and bound methods."""
    for _ in range(100):  # a cycle guard, like inspect.unwrap's
        if isinstance(obj, functools.partial):
            obj = obj.func
        elif inspect.ismethod(obj):
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

    def __call__(self, view: Any) -> tuple[str | None, str | None, int | None]:
        view_class = getattr(view, "view_class", None)
        if isinstance(view_class, type):
            return self._locate_class(view_class)
        target = _unwrap(view)
        code = getattr(target, "__code__", None)
        if code is None and not inspect.isroutine(target) and callable(target):
            # A callable object: its class is what the user wrote.
            call = getattr(type(target), "__call__", None)  # noqa: B004
            code = getattr(_unwrap(call), "__code__", None)
        module = getattr(target, "__module__", None)
        qualname = getattr(target, "__qualname__", None)
        if qualname is None:
            qualname = type(target).__qualname__
            module = type(target).__module__
        name = f"{module or '?'}:{qualname}"
        if code is None:
            return name, None, None
        filename = self._absolute(code.co_filename)
        return name, filename, _def_line(code.co_filename, code.co_firstlineno)

    def _absolute(self, filename: str) -> str | None:
        if filename.startswith("<"):  # <string>, <frozen ...>: no file to point at
            return None
        cached = self._abs.get(filename)
        if cached is None:
            cached = self._abs[filename] = os.path.abspath(filename)  # noqa: PTH100
        return cached

    def _locate_class(self, cls: type) -> tuple[str, str | None, int | None]:
        name = f"{cls.__module__}:{cls.__qualname__}"
        if cls not in self._class_lines:
            self._class_lines[cls] = _class_line(cls)
        line = self._class_lines[cls]
        filename = None
        with contextlib.suppress(TypeError, OSError):
            filename = inspect.getfile(cls)
        return name, self._absolute(filename) if filename else None, line


_DEF_RE = re.compile(r"\s*(?:async\s+)?(?:def|class)\s")


def _def_line(filename: str, first: int) -> int:
    """The line of the ``def`` itself: ``co_firstlineno`` is that of the first decorator.

    ``linecache`` reads each file once, so this stays cheap for thousands of views.
    """
    line = linecache.getline(filename, first)
    if not line.lstrip().startswith("@"):
        return first
    for offset in range(1, 200):
        text = linecache.getline(filename, first + offset)
        if not text:
            break
        if _DEF_RE.match(text):
            return first + offset
    return first


def _class_line(cls: type) -> int | None:
    first = getattr(cls, "__firstlineno__", None)  # Python 3.13+
    if isinstance(first, int):
        return first
    # Older Pythons: find the class statement (rare: class-based views only).
    try:
        return inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return None


# ------------------------------------------------------------------------ analysis


def find_problems(app: Any, routes: Sequence[RouteInfo] | None = None) -> list[RouteProblem]:
    """Everything certainly wrong with the app's routes, sorted by code then rule.

    ``routes`` may be passed when :func:`collect_routes` was already called for ``app``
    (it must then be that list, in registration order).
    """
    if routes is None:
        routes = collect_routes(app)
    url_map = app.url_map
    rules = list(url_map.iter_rules())
    if len(rules) != len(routes):  # a foreign list: recompute, never mis-pair
        routes = collect_routes(app)
    problems: list[RouteProblem] = []
    problems.extend(_duplicates(url_map, routes))
    problems.extend(_signature_problems(app, rules, routes))
    problems.extend(_slash_conflicts(url_map, routes))
    problems.extend(_missing_views(app, routes))
    order = {code: i for i, code in enumerate(PROBLEM_CODES)}
    problems.sort(key=lambda p: order.get(p.code, len(order)))
    return problems


def _normalised_rule(text: str, converters: Mapping[str, Any]) -> str:
    """The rule with variable names dropped and converters resolved to their class.

    ``/u/<id>``, ``/u/<string:name>`` and ``/u/<default:x>`` match the same URLs, so
    they share a key.
    """
    if "<" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        converter = match.group("converter") or "default"
        cls = converters.get(converter)
        kind = cls.__qualname__ if cls is not None else converter
        args = match.group("args")
        return f"<{kind}({args.strip()})>" if args else f"<{kind}>"

    return _VARIABLE_RE.sub(replace, text)


def _domain(route: RouteInfo, converters: Mapping[str, Any] | None = None) -> str:
    domain = route.host or route.subdomain or ""
    return _normalised_rule(domain, converters) if converters is not None else domain


def _where(route: RouteInfo) -> str:
    domain = _domain(route)
    return f"{domain}{route.rule}" if route.host else route.rule


def _overlap(a: RouteInfo, b: RouteInfo) -> tuple[str, ...]:
    """Methods both rules answer, HEAD and OPTIONS aside (werkzeug answers those itself).

    ``("*",)`` when both rules accept any method.
    """
    if not a.methods and not b.methods:
        return ("*",)
    if not a.methods or not b.methods:
        shared = set(a.methods or b.methods)
    else:
        shared = set(a.methods) & set(b.methods)
    return tuple(sorted(shared - AUTOMATIC_METHODS))


def _duplicates(url_map: Any, routes: Sequence[RouteInfo]) -> list[RouteProblem]:
    converters = getattr(url_map, "converters", {})
    groups: dict[tuple[str, str, bool], list[RouteInfo]] = {}
    for route in routes:
        if route.build_only:  # never matched, so never shadows nor is shadowed
            continue
        key = (
            _domain(route, converters),
            _normalised_rule(route.rule, converters),
            route.websocket,
        )
        groups.setdefault(key, []).append(route)
    problems = []
    for group in groups.values():
        if len(group) < 2:
            continue
        # werkzeug tries rules with the same parts in registration order: the first wins.
        for i, later in enumerate(group):
            for earlier in group[:i]:
                if earlier.endpoint == later.endpoint:
                    continue
                shared = _overlap(earlier, later)
                if not shared:
                    continue
                methods = "Any method" if shared == ("*",) else ", ".join(shared)
                problems.append(
                    RouteProblem(
                        code="duplicate-route",
                        message=(
                            f"{methods} {_where(later)} is bound to both '{earlier.endpoint}' "
                            f"and '{later.endpoint}'; '{later.endpoint}' is never reached "
                            "for those methods. Remove one rule or change its path or methods."
                        ),
                        rule=later.rule,
                        endpoint=later.endpoint,
                        source_file=later.source_file,
                        source_line=later.source_line,
                    )
                )
                break
    return problems


@dataclass(frozen=True)
class _Signature:
    """What keyword arguments a callable accepts and which it needs."""

    accepts: frozenset[str] | None  # None: any keyword (**kwargs)
    required: frozenset[str]
    positional_only_required: tuple[str, ...]


def _signature(func: Any, *, skip_first: bool = False) -> _Signature | None:
    """Read the signature from the code object (fast); fall back to inspect for the rest."""
    code = getattr(func, "__code__", None)
    if code is not None and not inspect.ismethod(func):
        argcount = code.co_argcount
        posonly = code.co_posonlyargcount
        kwonly = code.co_kwonlyargcount
        names = code.co_varnames
        positional = list(names[:argcount])
        defaults = getattr(func, "__defaults__", None) or ()
        first_default = argcount - len(defaults)
        required_positional = [n for i, n in enumerate(positional) if i < first_default]
        posonly_names = positional[:posonly]
        start = 1 if skip_first and positional else 0
        kwonly_names = list(names[argcount : argcount + kwonly])
        keyword_names = positional[max(posonly, start) :] + kwonly_names
        kwdefaults = getattr(func, "__kwdefaults__", None) or {}
        required = {n for n in required_positional[start:] if n not in posonly_names}
        required |= {n for n in kwonly_names if n not in kwdefaults}
        posonly_required = tuple(n for n in required_positional[start:] if n in posonly_names)
        accepts = None if code.co_flags & _CO_VARKEYWORDS else frozenset(keyword_names)
        return _Signature(accepts, frozenset(required), posonly_required)
    if inspect.ismethod(func):
        return _signature(func.__func__, skip_first=True)
    try:
        sig = inspect.signature(func, follow_wrapped=False)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    if skip_first and params:
        params = params[1:]
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params)
    keyword = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    required = {
        p.name
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    posonly_req = tuple(
        p.name for p in params if p.default is p.empty and p.kind is p.POSITIONAL_ONLY
    )
    return _Signature(None if accepts_any else frozenset(keyword), frozenset(required), posonly_req)


def _is_forwarder(func: Any) -> bool:
    """``def wrapper(*args, **kwargs)``: a decorator's wrapper that passes everything on."""
    code = getattr(getattr(func, "__func__", func), "__code__", None)
    if code is None:
        return False
    bound = 1 if inspect.ismethod(func) else 0
    return (
        code.co_argcount - bound == 0
        and code.co_kwonlyargcount == 0
        and bool(code.co_flags & (_CO_VARARGS | _CO_VARKEYWORDS))
    )


def _handlers(view: Any, methods: Iterable[str]) -> list[tuple[Any, bool, bool]]:
    """The callables Flask ends up calling with the URL variables.

    Each item is ``(callable, skip_first, certain)``: ``certain`` is False when a
    forwarding decorator sits in between (it might add or consume arguments, so only
    "cannot accept" is reported, never "requires").
    """
    view_class = getattr(view, "view_class", None)
    if isinstance(view_class, type):
        own = [
            getattr(view_class, m.lower())
            for m in methods
            if m != "OPTIONS" and callable(getattr(view_class, m.lower(), None))
        ]
        if "HEAD" in methods and not hasattr(view_class, "head") and hasattr(view_class, "get"):
            own.append(view_class.get)
        dispatch = getattr(view_class, "dispatch_request", None)
        if own and _is_generic_dispatch(dispatch):
            return [(h, True, not hasattr(h, "__wrapped__")) for h in dict.fromkeys(own)]
        if dispatch is not None and not _is_generic_dispatch(dispatch):
            return [(dispatch, True, not hasattr(dispatch, "__wrapped__"))]
        return []
    # Walk down through forwarding wrappers (``*args, **kwargs``) to the first callable
    # with a real signature; a wrapper with explicit parameters is what gets the variables.
    current, forwarded = view, False
    for _ in range(100):
        inner = getattr(current, "__wrapped__", None)
        if inner is None or not _is_forwarder(current):
            break
        current, forwarded = inner, True
    return [(current, False, not forwarded)]


def _is_generic_dispatch(dispatch: Any) -> bool:
    """Flask's MethodView.dispatch_request, which forwards to get/post/... by method."""
    func = getattr(dispatch, "__func__", dispatch)
    return getattr(func, "__qualname__", "") == "MethodView.dispatch_request" and getattr(
        func, "__module__", ""
    ).startswith("flask")


def _preprocessed_blueprints(app: Any) -> set[str | None]:
    """Blueprints (``None``: the app) whose url_value_preprocessors may rewrite view args."""
    registry = getattr(app, "url_value_preprocessors", None)
    if not isinstance(registry, Mapping):
        return set()
    return {name for name, funcs in registry.items() if funcs}


def _affected_by_preprocessor(route: RouteInfo, preprocessed: set[str | None]) -> bool:
    if not preprocessed:
        return False
    if None in preprocessed:
        return True
    if route.blueprint is None:
        return False
    parts = route.blueprint.split(".")
    return any(".".join(parts[: i + 1]) in preprocessed for i in range(len(parts)))


def _signature_problems(
    app: Any, rules: Sequence[Any], routes: Sequence[RouteInfo]
) -> list[RouteProblem]:
    view_functions: Mapping[str, Any] = getattr(app, "view_functions", None) or {}
    preprocessed = _preprocessed_blueprints(app)
    cache: dict[tuple[int, tuple[str, ...]], list[tuple[Any, bool, bool, _Signature]]] = {}
    problems: list[RouteProblem] = []
    for rule, route in zip(rules, routes, strict=True):
        if route.redirect_to is not None or route.build_only:
            continue  # never dispatched to a view
        endpoint = rule.endpoint
        view = view_functions.get(endpoint) if isinstance(endpoint, str) else endpoint
        if view is None or not callable(view):
            continue
        if _affected_by_preprocessor(route, preprocessed):
            continue  # a url_value_preprocessor may pop or add values: nothing is certain
        key = (id(view), route.methods)
        checked = cache.get(key)
        if checked is None:
            checked = []
            for handler, skip_first, certain in _handlers(view, route.methods):
                sig = _signature(handler, skip_first=skip_first)
                if sig is not None:
                    checked.append((handler, skip_first, certain, sig))
            cache[key] = checked
        supplied = set(route.arguments)
        for handler, _skip, certain, sig in checked:
            name = _callable_name(handler)
            if sig.accepts is not None:
                unexpected = sorted(supplied - sig.accepts)
                if unexpected:
                    problems.append(
                        _signature_problem(
                            "view-signature",
                            f"{name} cannot take {_names(unexpected)} from rule "
                            f"{_where(route)}: every request to it raises TypeError. "
                            f"Add the parameter{_s(unexpected)} to the view.",
                            route,
                        )
                    )
            if not certain:
                continue
            missing = sorted((sig.required - supplied) | set(sig.positional_only_required))
            if missing:
                problems.append(
                    _signature_problem(
                        "missing-argument",
                        f"{name} requires {_names(missing)}, which rule {_where(route)} "
                        f"does not supply: every request to it raises TypeError. Give the "
                        f"parameter{_s(missing)} a default or add {_it(missing)} to the rule.",
                        route,
                    )
                )
    return problems


def _names(names: Sequence[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return ("argument " if len(quoted) == 1 else "arguments ") + ", ".join(quoted)


def _s(names: Sequence[str]) -> str:
    return "" if len(names) == 1 else "s"


def _it(names: Sequence[str]) -> str:
    return "it" if len(names) == 1 else "them"


def _signature_problem(code: str, message: str, route: RouteInfo) -> RouteProblem:
    return RouteProblem(
        code=code,
        message=message,
        rule=route.rule,
        endpoint=route.endpoint,
        source_file=route.source_file,
        source_line=route.source_line,
    )


def _slash_conflicts(url_map: Any, routes: Sequence[RouteInfo]) -> list[RouteProblem]:
    converters = getattr(url_map, "converters", {})
    groups: dict[tuple[str, str], dict[bool, list[RouteInfo]]] = {}
    for route in routes:
        if route.build_only or route.rule == "/" or route.redirect_to is not None:
            continue
        normal = _normalised_rule(route.rule, converters)
        slashed = normal.endswith("/")
        key = (_domain(route, converters), normal.rstrip("/") if slashed else normal)
        groups.setdefault(key, {}).setdefault(slashed, []).append(route)
    problems = []
    for sides in groups.values():
        if len(sides) < 2:
            continue
        for with_slash in sides[True]:
            for without in sides[False]:
                if with_slash.endpoint == without.endpoint:
                    continue
                problems.append(
                    RouteProblem(
                        code="slash-conflict",
                        message=(
                            f"{_where(without)} ('{without.endpoint}') and {_where(with_slash)} "
                            f"('{with_slash.endpoint}') differ only by the trailing slash, so "
                            "a typed or linked URL silently reaches the other view. Rename "
                            "one of them."
                        ),
                        rule=with_slash.rule,
                        endpoint=with_slash.endpoint,
                        source_file=with_slash.source_file,
                        source_line=with_slash.source_line,
                    )
                )
    return problems


def _missing_views(app: Any, routes: Sequence[RouteInfo]) -> list[RouteProblem]:
    view_functions = getattr(app, "view_functions", None)
    if not isinstance(view_functions, Mapping):
        return []  # a plain werkzeug app: endpoints are dispatched its own way
    problems = []
    for route in routes:
        if route.redirect_to is not None or route.build_only:
            continue
        if route.endpoint not in view_functions and route.view is None:
            problems.append(
                RouteProblem(
                    code="missing-view",
                    message=(
                        f"Endpoint '{route.endpoint}' of rule {_where(route)} has no view "
                        "function: every request to it fails. Register one with "
                        "app.add_url_rule(..., view_func=...) or @app.endpoint("
                        f"'{route.endpoint}')."
                    ),
                    rule=route.rule,
                    endpoint=route.endpoint,
                    source_file=None,
                    source_line=None,
                )
            )
    return problems


# ------------------------------------------------------------------- filtering/sorting

SORT_KEYS: dict[str, Callable[[RouteInfo], Any]] = {
    "rule": lambda r: (r.host or r.subdomain or "", r.rule, r.methods),
    "endpoint": lambda r: (r.endpoint, r.rule),
    "methods": lambda r: (r.visible_methods(), r.rule),
    "view": lambda r: (r.view or "", r.rule),
    "source": lambda r: (r.source_file or "\uffff", r.source_line or 0, r.rule),
}
