"""Link rules (L001-L003): ``url_for`` calls with a literal endpoint, in Python and templates.

The truth is the imported app's ``url_map``; without the app these rules are skipped
rather than guessed. A relative endpoint (``.index``) is resolved against the one
blueprint defined by the module (Python) or owning the template folder (templates);
when that is ambiguous the call is skipped.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webkit_cli.check.context import CheckContext, PythonFile, TemplateFile
from webkit_cli.check.findings import Finding, finding
from webkit_cli.check.registry import register

if TYPE_CHECKING:
    from webkit_cli.check.appfacts import AppFacts, RuleFact


@dataclass(frozen=True)
class UrlForCall:
    """A ``url_for`` call whose endpoint is a string literal."""

    file: str
    line: int
    column: int | None
    endpoint: str
    #: keyword names given; ``None`` when ``**values`` makes them unknowable
    keywords: frozenset[str] | None
    #: the literal ``filename=`` value, if any
    filename: str | None


def python_calls(file: PythonFile, tree: ast.Module) -> Iterator[UrlForCall]:
    """The literal ``url_for`` calls of a module (kept in the per-file cache)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name != "url_for":
            continue
        first = node.args[0]
        if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
            continue
        keywords: frozenset[str] | None = frozenset(k.arg for k in node.keywords if k.arg)
        if any(k.arg is None for k in node.keywords) or len(node.args) > 1:
            keywords = None
        filename = None
        for kw in node.keywords:
            if kw.arg == "filename" and isinstance(kw.value, ast.Constant):
                filename = kw.value.value if isinstance(kw.value.value, str) else None
        yield UrlForCall(
            file.rel, node.lineno, node.col_offset + 1, first.value, keywords, filename
        )


def template_calls(file: TemplateFile, tree: Any) -> Iterator[UrlForCall]:
    """The literal ``url_for`` calls of a template (kept in the per-file cache)."""
    from jinja2 import nodes

    for node in tree.find_all(nodes.Call):
        callee = node.node
        if not (isinstance(callee, nodes.Name) and callee.name == "url_for") or not node.args:
            continue
        first = node.args[0]
        if not (isinstance(first, nodes.Const) and isinstance(first.value, str)):
            continue
        keywords: frozenset[str] | None = frozenset(kw.key for kw in node.kwargs)
        if node.dyn_kwargs is not None or node.dyn_args is not None or len(node.args) > 1:
            keywords = None
        filename = None
        for kw in node.kwargs:
            if kw.key == "filename" and isinstance(kw.value, nodes.Const):
                filename = kw.value.value if isinstance(kw.value.value, str) else None
        yield UrlForCall(file.rel, node.lineno, None, first.value, keywords, filename)


class Endpoints:
    """What the app's url_map says about endpoints, blueprints and static folders."""

    def __init__(self, facts: AppFacts) -> None:
        self.facts = facts
        self.rules: dict[str, list[RuleFact]] = facts.endpoints
        self.blueprints = {bp.name: bp for bp in facts.blueprints}
        self.default_scopes = set(facts.url_default_scopes)

    def blueprint_of_module(self, module: str | None) -> str | None:
        if module is None:
            return None
        names = [n for n, bp in self.blueprints.items() if bp.import_name == module]
        return names[0] if len(names) == 1 else None

    def blueprint_of_template(self, path: Path) -> str | None:
        names = []
        parents = path.resolve().parents
        for name, bp in self.blueprints.items():
            if bp.template_folder and Path(bp.template_folder) in parents:
                names.append(name)
        return names[0] if len(names) == 1 else None

    def fills_defaults(self, endpoint: str) -> bool:
        """True when a url_defaults function may supply values (then arguments are unknowable)."""
        if None in self.default_scopes:
            return True
        parts = endpoint.split(".")[:-1]
        scopes = {".".join(parts[: i + 1]) for i in range(len(parts))}
        return bool(scopes & self.default_scopes)

    def static_folder(self, endpoint: str) -> str | None:
        if endpoint == "static":
            return self.facts.static_folder
        bp = self.blueprints.get(endpoint.rpartition(".")[0])
        return bp.static_folder if bp is not None else None


def _check_call(call: UrlForCall, endpoint: str, endpoints: Endpoints) -> Iterator[Finding]:
    rules = endpoints.rules.get(endpoint)
    if rules is None:
        import difflib

        close = difflib.get_close_matches(endpoint, list(endpoints.rules), n=1)
        hint = f"Did you mean '{close[0]}'?" if close else None
        shown = call.endpoint if call.endpoint == endpoint else f"{call.endpoint} ({endpoint})"
        message = f"url_for() names endpoint '{shown}', which the app does not have."
        yield finding("L001", call.file, call.line, message, column=call.column, hint=hint)
        return
    if call.keywords is not None and not endpoints.fills_defaults(endpoint):
        missing_per_rule = [sorted(set(rule.required) - call.keywords) for rule in rules]
        if all(missing_per_rule):
            missing = min(missing_per_rule, key=len)
            names = ", ".join(missing)
            yield finding(
                "L002",
                call.file,
                call.line,
                f"url_for('{call.endpoint}') is missing {names} required by {rules[0].rule}.",
                column=call.column,
                hint=f"Pass {', '.join(f'{n}=...' for n in missing)} to url_for().",
            )
    if call.filename is not None and (endpoint == "static" or endpoint.endswith(".static")):
        folder = endpoints.static_folder(endpoint)
        # filename="/favicon.ico" builds /static//favicon.ico, which werkzeug (merge_slashes,
        # its default) redirects to /static/favicon.ico; and Path(folder) / "/x" would be "/x".
        name = call.filename.lstrip("/")
        if folder is not None and not (Path(folder) / name).is_file():
            yield finding(
                "L003",
                call.file,
                call.line,
                f"url_for('{call.endpoint}', filename='{call.filename}'): no such file in "
                f"the static folder.",
                column=call.column,
            )


def _resolve(call: UrlForCall, blueprint: str | None) -> str | None:
    if not call.endpoint.startswith("."):
        return call.endpoint
    if blueprint is None:
        return None  # relative endpoint with no single owning blueprint: skip, don't guess
    return blueprint + call.endpoint


def _calls(file: PythonFile | TemplateFile, ctx: CheckContext, find: Any) -> list[UrlForCall]:
    """The file's calls, from its cached analysis (else found in its tree)."""
    result = ctx.file_results.get(file.rel)
    if result is not None:
        return list(result.extracts.get("L001", ()))
    return list(find(file, file.tree)) if file.tree is not None else []


@register("L001", "L002", "L003")
def url_for_targets(ctx: CheckContext) -> Iterator[Finding]:
    """Literal url_for() endpoints exist, get their required arguments, static files exist."""
    assert ctx.facts is not None  # a needs-import check runs only with the app
    endpoints = Endpoints(ctx.facts)
    for pyfile in ctx.python_files:
        if pyfile.error is not None:
            continue
        calls = _calls(pyfile, ctx, python_calls)
        if not calls:
            continue
        blueprint = endpoints.blueprint_of_module(pyfile.module)
        for call in calls:
            resolved = _resolve(call, blueprint)
            if resolved is not None:
                yield from _check_call(call, resolved, endpoints)
    for tfile in ctx.template_files:
        if tfile.error is not None:
            continue
        calls = _calls(tfile, ctx, template_calls)
        if not calls:
            continue
        tblueprint = endpoints.blueprint_of_template(tfile.path)
        for call in calls:
            resolved = _resolve(call, tblueprint)
            if resolved is not None:
                yield from _check_call(call, resolved, endpoints)
