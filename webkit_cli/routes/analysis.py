"""What is certainly wrong with an app's routes: :func:`find_problems`.

``webkit routes`` prints these as warnings and ``webkit check`` reuses them as its route
rules. Conflicts are found by grouping rules under a normalised key (variable names
dropped, converters resolved to their class), never by comparing every pair, so the
analysis stays linear on large apps. Signatures are read from code objects, which is
about twenty times cheaper than ``inspect.signature``.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from types import FunctionType, MethodType
from typing import Any

from webkit_cli.routes.model import (
    AUTOMATIC_METHODS,
    PROBLEM_CODES,
    VARIABLE_RE,
    RouteInfo,
    RouteProblem,
    callable_name,
    collect_routes,
    def_line,
    is_flask_static_lambda,
    unwrap_view,
)

_CO_VARARGS = inspect.CO_VARARGS
_CO_VARKEYWORDS = inspect.CO_VARKEYWORDS


def find_problems(app: Any, routes: Sequence[RouteInfo] | None = None) -> list[RouteProblem]:
    """Everything certainly wrong with the app's routes: by code (PROBLEM_CODES order),
    then in registration order.

    ``routes`` may be passed when :func:`collect_routes` was already called for ``app``
    (it must then be that list, in registration order).
    """
    if routes is None:
        routes = collect_routes(app)
    url_map = app.url_map
    rules = list(url_map.iter_rules())
    if len(rules) != len(routes):  # a foreign list: recompute, never mis-pair
        routes = collect_routes(app)
    keys = _match_keys(url_map, routes)
    aliases = _url_aliases(app, routes, keys)
    problems: list[RouteProblem] = []
    problems.extend(_duplicates(routes, keys, aliases, _static_folders(app, routes)))
    problems.extend(_signature_problems(app, rules, routes))
    problems.extend(_slash_conflicts(routes, keys))
    problems.extend(_missing_views(app, routes, aliases))
    order = {code: i for i, code in enumerate(PROBLEM_CODES)}
    problems.sort(key=lambda p: order.get(p.code, len(order)))
    return problems


class _Normaliser:
    """Rules with variable names dropped and converters resolved to their class.

    ``/u/<id>``, ``/u/<string:name>`` and ``/u/<default:x>`` match the same URLs, so
    they share a key. Each distinct variable text is resolved once.
    """

    def __init__(self, converters: Mapping[str, Any]) -> None:
        self.converters = converters
        self.variables: dict[str, str] = {}

    def _variable(self, match: re.Match[str]) -> str:
        text = match.group(0)
        normal = self.variables.get(text)
        if normal is None:
            converter = match.group("converter") or "default"
            cls = self.converters.get(converter)
            kind = cls.__qualname__ if cls is not None else converter
            args = match.group("args")
            normal = f"<{kind}({args.strip()})>" if args else f"<{kind}>"
            self.variables[text] = normal
        return normal

    def __call__(self, text: str) -> str:
        return VARIABLE_RE.sub(self._variable, text) if "<" in text else text


def _match_keys(url_map: Any, routes: Sequence[RouteInfo]) -> list[tuple[str, str]]:
    """(normalised domain, normalised rule) per route: equal keys match the same URLs."""
    normalise = _Normaliser(getattr(url_map, "converters", {}))
    domains: dict[str, str] = {}
    keys = []
    for route in routes:
        domain = route.host or route.subdomain or ""
        if domain not in domains:
            domains[domain] = normalise(domain)
        keys.append((domains[domain], normalise(route.rule)))
    return keys


def _where(route: RouteInfo) -> str:
    return f"{route.host}{route.rule}" if route.host else route.rule


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


def _has_view(route: RouteInfo, view_functions: Mapping[str, Any]) -> bool:
    return route.endpoint in view_functions or route.view is not None


def _url_aliases(
    app: Any, routes: Sequence[RouteInfo], keys: Sequence[tuple[str, str]]
) -> set[int]:
    """Routes (by index) that only name a URL another route already serves.

    Flask's tutorial registers ``app.add_url_rule("/", endpoint="index")`` after the blog
    blueprint's ``/`` view, so that ``url_for("index")`` builds "/": the rule has no view,
    but werkzeug never dispatches to it (the earlier rule wins for every method it answers),
    so neither "never reached" nor "every request fails" would be true.
    """
    view_functions = getattr(app, "view_functions", None)
    if not isinstance(view_functions, Mapping):
        return set()
    served: dict[tuple[str, str, bool], list[RouteInfo]] = {}
    aliases = set()
    for index, (route, (domain, rule)) in enumerate(zip(routes, keys, strict=True)):
        if route.build_only:
            continue
        key = (domain, rule, route.websocket)
        if route.redirect_to is not None or _has_view(route, view_functions):
            served.setdefault(key, []).append(route)
            continue
        earlier = served.get(key, [])
        wanted = set(route.methods) - AUTOMATIC_METHODS
        if earlier and (
            any(not r.methods for r in earlier)
            or (wanted and wanted <= {m for r in earlier for m in r.methods})
        ):
            aliases.add(index)
    return aliases


def _static_folders(app: Any, routes: Sequence[RouteInfo]) -> dict[str, str]:
    """Endpoint -> real path of the folder, for the routes that serve a static folder: the
    app's (Flask's ``static`` lambda) and each blueprint's (its ``send_static_file``)."""
    view_functions = getattr(app, "view_functions", None)
    if not isinstance(view_functions, Mapping):
        return {}
    folders: dict[str, str] = {}
    for route in routes:
        if route.endpoint != "static" and not route.endpoint.endswith(".static"):
            continue
        view = view_functions.get(route.endpoint)
        owner = getattr(view, "__self__", None)
        if getattr(view, "__name__", None) != "send_static_file" or owner is None:
            owner = app if route.endpoint == "static" and is_flask_static_lambda(view) else None
        folder = getattr(owner, "static_folder", None) if owner is not None else None
        if isinstance(folder, str):
            folders[route.endpoint] = os.path.realpath(folder)
    return folders


def _duplicates(
    routes: Sequence[RouteInfo],
    keys: Sequence[tuple[str, str]],
    aliases: set[int],
    static_folders: Mapping[str, str],
) -> list[RouteProblem]:
    groups: dict[tuple[str, str, bool], list[RouteInfo]] = {}
    for index, (route, (domain, rule)) in enumerate(zip(routes, keys, strict=True)):
        if route.build_only:  # never matched, so never shadows nor is shadowed
            continue
        if index in aliases:  # a second name for a served URL, for url_for
            continue
        groups.setdefault((domain, rule, route.websocket), []).append(route)
    problems = []
    for group in groups.values():
        if len(group) < 2:
            continue
        # werkzeug tries rules with the same parts in registration order: the first wins.
        for i, later in enumerate(group):
            for earlier in group[:i]:
                if earlier.endpoint == later.endpoint:
                    continue
                folder = static_folders.get(earlier.endpoint)
                if folder is not None and static_folders.get(later.endpoint) == folder:
                    # Blueprint("public", __name__, static_folder="../static") without a
                    # url_prefix (cookiecutter-flask): the app's /static serves the same files.
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
                            f"for {methods}. Remove one rule or change its path or methods."
                        ),
                        rule=later.rule,
                        endpoint=later.endpoint,
                        source_file=later.source_file,
                        source_line=later.source_line,
                    )
                )
                break
    return problems


# What a callable takes: (keyword names it accepts, None for **kwargs; the names it
# requires; positional-only parameters without default, which keywords never fill).
_Signature = tuple[frozenset[str] | None, tuple[str, ...], tuple[str, ...]]


def _signature(func: Any, *, skip_first: bool = False) -> _Signature | None:
    """Read the signature from the code object; inspect only for the unusual callables.

    ``inspect.signature`` costs ~20 us a call, a third of what ``flask routes`` spends per
    route; the code object has everything needed for plain and async functions.
    """
    if type(func) is MethodType:
        func, skip_first = func.__func__, True
    code = getattr(func, "__code__", None)
    if code is not None and type(func) is FunctionType:
        argcount = code.co_argcount
        posonly = code.co_posonlyargcount
        kwonly_end = argcount + code.co_kwonlyargcount
        names = code.co_varnames  # positional, keyword-only, then *args, **kwargs, locals
        defaults = func.__defaults__
        first_default = argcount - (len(defaults) if defaults else 0)
        start = 1 if skip_first and argcount else 0
        kw_start = max(posonly, start)
        required = names[kw_start:first_default]
        if kwonly_end > argcount:
            kwdefaults = func.__kwdefaults__ or {}
            required += tuple(n for n in names[argcount:kwonly_end] if n not in kwdefaults)
        posonly_required = names[start : min(posonly, first_default)]
        accepts = None if code.co_flags & _CO_VARKEYWORDS else frozenset(names[kw_start:kwonly_end])
        return accepts, required, posonly_required
    try:
        sig = inspect.signature(func, follow_wrapped=False)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    if skip_first and params:
        params = params[1:]
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params)
    keyword = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    required_names = tuple(
        p.name
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )
    posonly_req = tuple(
        p.name for p in params if p.default is p.empty and p.kind is p.POSITIONAL_ONLY
    )
    return (None if accepts_any else frozenset(keyword)), required_names, posonly_req


def _is_forwarder(func: Any) -> bool:
    """``def wrapper(*args, **kwargs)``: a decorator's wrapper that passes everything on."""
    code = getattr(getattr(func, "__func__", func), "__code__", None)
    if code is None:
        return False
    bound = 1 if isinstance(func, MethodType) else 0
    return (
        code.co_argcount - bound == 0
        and code.co_kwonlyargcount == 0
        and bool(code.co_flags & (_CO_VARARGS | _CO_VARKEYWORDS))
    )


def _through_forwarders(func: Any) -> tuple[Any, bool]:
    """Walk down forwarding wrappers to the first callable with a real signature.

    Returns it and whether a forwarder was crossed: a forwarder might add or consume
    arguments (webargs' ``use_kwargs`` adds some), so then only "cannot take" is certain.
    A wrapper with explicit parameters is itself what receives the URL variables.
    """
    if type(func) is FunctionType and "__wrapped__" not in func.__dict__:
        return func, False  # the common case, without getattr's failed lookups
    forwarded = False
    for _ in range(100):
        inner = getattr(func, "__wrapped__", None)
        if inner is None or not _is_forwarder(func):
            break
        func, forwarded = inner, True
    return func, forwarded


def _handlers(view: Any, methods: Iterable[str]) -> list[tuple[Any, bool, bool]]:
    """The callables Flask ends up calling with the URL variables.

    Each item is ``(callable, skip_first, certain)``; see :func:`_through_forwarders`
    for ``certain``.
    """
    if type(view) is FunctionType:
        view_class = view.__dict__.get("view_class")
    else:
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
            targets = list(dict.fromkeys(own))
        elif dispatch is not None and not _is_generic_dispatch(dispatch):
            targets = [dispatch]
        else:
            return []
        handlers = []
        for target in targets:
            func, forwarded = _through_forwarders(target)
            # The forwarder took `self` in its *args; the function below it still has it.
            handlers.append((func, True, not forwarded))
        return handlers
    func, forwarded = _through_forwarders(view)
    return [(func, False, not forwarded)]


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
    if None in preprocessed:
        return True
    if route.blueprint is None:
        return False
    parts = route.blueprint.split(".")
    return any(".".join(parts[: i + 1]) in preprocessed for i in range(len(parts)))


def _signature_problems(
    app: Any, rules: Sequence[Any], routes: Sequence[RouteInfo]
) -> list[RouteProblem]:
    view_functions = getattr(app, "view_functions", None)
    if not isinstance(view_functions, Mapping):
        # Not Flask: how the app calls its handlers (a request first? keywords?) is
        # unknown, so a signature proves nothing.
        return []
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
        if preprocessed and _affected_by_preprocessor(route, preprocessed):
            continue  # a url_value_preprocessor may pop or add values: nothing is certain
        # Class-based views dispatch by method, so their handlers depend on the rule's.
        plain = type(view) is FunctionType and "view_class" not in view.__dict__
        key = (id(view), () if plain else route.methods)
        checked = cache.get(key)
        if checked is None:
            checked = []
            for handler, skip_first, certain in _handlers(view, route.methods):
                sig = _signature(handler, skip_first=skip_first)
                if sig is not None:
                    checked.append((handler, skip_first, certain, sig))
            cache[key] = checked
        supplied = route.arguments
        for handler, skip_first, certain, (accepts, required, posonly_required) in checked:
            unexpected = [] if accepts is None else [a for a in supplied if a not in accepts]
            missing = [n for n in required if n not in supplied] if certain else []
            if certain and posonly_required:
                missing += posonly_required
            if unexpected or missing:
                problems.extend(
                    _signature_problem_pair(route, handler, skip_first, unexpected, missing)
                )
    return problems


def _signature_problem_pair(
    route: RouteInfo,
    handler: Any,
    skip_first: bool,
    unexpected: list[str],
    missing: list[str],
) -> list[RouteProblem]:
    name = callable_name(handler)
    # A class-based view's get/post/dispatch_request is where the fix goes.
    where = _code_location(handler) if skip_first else None
    found = []
    if unexpected:
        unexpected = sorted(unexpected)
        found.append(
            _signature_problem(
                "view-signature",
                f"{name} cannot take {_names(unexpected)} from rule "
                f"{_where(route)}: every request to it raises TypeError. "
                f"Add the parameter{_s(unexpected)} to the view.",
                route,
                where,
            )
        )
    if missing:
        missing = sorted(set(missing))
        found.append(
            _signature_problem(
                "missing-argument",
                f"{name} requires {_names(missing)}, which rule {_where(route)} "
                f"does not supply: every request to it raises TypeError. Give the "
                f"parameter{_s(missing)} a default or add {_it(missing)} to the rule.",
                route,
                where,
            )
        )
    return found


def _names(names: Sequence[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return ("argument " if len(quoted) == 1 else "arguments ") + ", ".join(quoted)


def _s(names: Sequence[str]) -> str:
    return "" if len(names) == 1 else "s"


def _it(names: Sequence[str]) -> str:
    return "it" if len(names) == 1 else "them"


def _code_location(func: Any) -> tuple[str, int] | None:
    code = getattr(unwrap_view(func), "__code__", None)
    if code is None or code.co_filename.startswith("<"):
        return None
    filename = os.path.abspath(code.co_filename)  # noqa: PTH100 - cheap, no Path objects
    return filename, def_line(code.co_filename, code.co_firstlineno)


def _signature_problem(
    code: str, message: str, route: RouteInfo, where: tuple[str, int] | None = None
) -> RouteProblem:
    file, line = where if where is not None else (route.source_file, route.source_line)
    return RouteProblem(
        code=code,
        message=message,
        rule=route.rule,
        endpoint=route.endpoint,
        source_file=file,
        source_line=line,
    )


def _slash_conflicts(
    routes: Sequence[RouteInfo], keys: Sequence[tuple[str, str]]
) -> list[RouteProblem]:
    groups: dict[tuple[str, str], dict[bool, list[RouteInfo]]] = {}
    for route, (domain, normal) in zip(routes, keys, strict=True):
        if route.build_only or route.rule == "/" or route.redirect_to is not None:
            continue
        slashed = normal.endswith("/")
        key = (domain, normal[:-1] if slashed else normal)
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


def _missing_views(app: Any, routes: Sequence[RouteInfo], aliases: set[int]) -> list[RouteProblem]:
    view_functions = getattr(app, "view_functions", None)
    if not isinstance(view_functions, Mapping):
        return []  # a plain werkzeug app: endpoints are dispatched its own way
    problems = []
    for index, route in enumerate(routes):
        if route.redirect_to is not None or route.build_only or index in aliases:
            continue
        if not _has_view(route, view_functions):
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
