"""CSRF (S007, S008): does every POST form carry the token the app's protection checks?

* The protection is Flask-WTF (``CSRFProtect``/``FlaskForm``), Flask-SeaSurf, the app's
  own check — a ``before_request`` handler that reads a form field or header and aborts
  (CTFd's session nonce) — or ``[tool.webkit.check] csrf-token = "FIELD"`` when none of
  those can be seen.
* The HTML of a template is read through :mod:`html.parser` after Jinja has parsed it; a
  form counts as carrying the token when any expression inside it mentions ``csrf`` or
  ``hidden_tag`` (or the app's own field), or calls a macro / includes a template that
  does (one that cannot be resolved, e.g. a library's ``quick_form``, is given the benefit
  of the doubt). Forms posting to an absolute ``http(s)://`` URL are another site's
  business and are skipped.
* An app that also accepts the token in a header may submit a form from script, so its
  forms are not S007 (the benefit of the doubt again).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from webkit_cli.check.context import CheckContext, TemplateFile
from webkit_cli.check.findings import Finding, finding
from webkit_cli.check.registry import register


@dataclass(frozen=True)
class CsrfProtection:
    """What protects the project's unsafe requests, and the token names forms must carry."""

    #: "flask-wtf", "seasurf", "app" (its own before_request) or "config" (declared)
    kind: str
    #: the app's own field names (besides anything ``csrf``); empty for the libraries
    fields: frozenset[str] = frozenset()
    #: the token can come in a header, so forms may be submitted from script
    accepts_header: bool = False
    #: where it was seen (for messages): "flaskr/__init__.py"
    where: str = ""


def _mentions_csrf(node: Any, fields: frozenset[str] = frozenset()) -> bool:
    """An expression naming ``csrf_token``/``hidden_tag``/anything ``csrf``/a token field."""
    from jinja2 import nodes

    for sub in [node, *node.find_all((nodes.Name, nodes.Getattr))]:
        label = getattr(sub, "name", None) or getattr(sub, "attr", None) or ""
        if isinstance(sub, nodes.Name | nodes.Getattr) and (
            "csrf" in label.lower() or label == "hidden_tag" or label in fields
        ):
            return True
    return False


class _CsrfResolver:
    """Whether an include or a macro call renders a CSRF token (memoised, cycle-safe)."""

    def __init__(self, ctx: CheckContext, fields: frozenset[str] = frozenset()) -> None:
        self.ctx = ctx
        self.fields = fields
        self.memo: dict[tuple[str, str | None], bool] = {}

    def template_provides(self, name: str, macro: str | None = None) -> bool:
        key = (name, macro)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = True  # a cycle or an unknown template: benefit of the doubt
        file = self.ctx.template_file(name)  # by folder or the app's loader
        if file is None or file.tree is None:
            return True
        from jinja2 import nodes

        scope: Any = file.tree
        if macro is not None:
            macros = [m for m in file.tree.find_all(nodes.Macro) if m.name == macro]
            if not macros:
                return True
            scope = macros[0]
        result = self.scope_provides(file, scope)
        self.memo[key] = result
        return result

    def scope_provides(self, file: TemplateFile, scope: Any) -> bool:
        from jinja2 import nodes

        if _mentions_csrf(scope, self.fields):
            return True
        for node in scope.find_all((nodes.Include, nodes.Call)):
            if self.node_provides(file, node):
                return True
        return False

    def node_provides(self, file: TemplateFile, node: Any) -> bool:
        """For a node inside a form: does it (or what it renders) provide the token?"""
        from jinja2 import nodes

        if isinstance(node, nodes.Include):
            t = node.template
            if isinstance(t, nodes.Const) and isinstance(t.value, str):
                return self.template_provides(t.value)
            return True
        if _mentions_csrf(node, self.fields):
            return True
        if isinstance(node, nodes.Call):
            return self._call_provides(file, node.node)
        return False

    def _call_provides(self, file: TemplateFile, callee: Any) -> bool:
        from jinja2 import nodes

        tree = file.tree
        assert tree is not None
        if isinstance(callee, nodes.Name):
            local = [m for m in tree.find_all(nodes.Macro) if m.name == callee.name]
            if local:
                return self.scope_provides(file, local[0])
            for imp in tree.find_all(nodes.FromImport):
                for entry in imp.names:
                    alias = entry[1] if isinstance(entry, tuple) else entry
                    real = entry[0] if isinstance(entry, tuple) else entry
                    if alias == callee.name:
                        return self._imported(imp.template, real)
            return False  # a plain function or filter of the app (url_for, range, ...)
        if isinstance(callee, nodes.Getattr) and isinstance(callee.node, nodes.Name):
            for module_import in tree.find_all(nodes.Import):
                if module_import.target == callee.node.name:
                    return self._imported(module_import.template, callee.attr)
        return False

    def _imported(self, template: Any, macro: str) -> bool:
        from jinja2 import nodes

        if isinstance(template, nodes.Const) and isinstance(template.value, str):
            return self.template_provides(template.value, macro)
        return True


_MARK = "\x01{}\x02"


class _Flat:
    """The template's text with each output expression replaced by a numbered mark.

    Line numbers are kept: newlines are padded so text from template line N stays on line N.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.line = 1
        self.marks: list[Any] = []

    def pad_to(self, lineno: int) -> None:
        if lineno > self.line:
            self.parts.append("\n" * (lineno - self.line))
            self.line = lineno

    def text(self, data: str, lineno: int) -> None:
        self.pad_to(lineno)
        self.parts.append(data)
        self.line += data.count("\n")

    def mark(self, node: Any) -> None:
        self.pad_to(node.lineno)
        self.parts.append(_MARK.format(len(self.marks)))
        self.marks.append(node)


def _flatten(node: Any, flat: _Flat) -> None:
    from jinja2 import nodes

    if isinstance(node, nodes.Output):
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                flat.text(child.data, child.lineno)
            else:
                flat.mark(child)
        return
    if isinstance(node, nodes.Include | nodes.CallBlock):
        flat.mark(node.call if isinstance(node, nodes.CallBlock) else node)
    for child in node.iter_child_nodes():
        if isinstance(child, nodes.Stmt | nodes.Template) or isinstance(node, nodes.CallBlock):
            _flatten(child, flat)


_LIBRARIES = {"flask_wtf": "flask-wtf", "flask_seasurf": "seasurf"}
_BEFORE_REQUEST = frozenset({"before_request", "before_app_request"})
_TOKEN_WORDS = re.compile(r"csrf|xsrf|nonce|token", re.IGNORECASE)


def _library(tree: ast.Module) -> str | None:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            top = name.split(".", 1)[0]
            if top in _LIBRARIES:
                return _LIBRARIES[top]
    return None


def _hook_name(node: ast.AST) -> str | None:
    """``before_request`` for ``@app.before_request`` / ``@bp.before_app_request()``."""
    if isinstance(node, ast.Call):
        node = node.func
    return node.attr if isinstance(node, ast.Attribute) and node.attr in _BEFORE_REQUEST else None


def _before_request_functions(tree: ast.Module) -> Iterator[ast.FunctionDef]:
    """Functions registered as before-request hooks, by decorator or ``app.before_request(f)``."""
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    for func in functions.values():
        if any(_hook_name(d) for d in func.decorator_list):
            yield func
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _hook_name(node.func) and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Name) and arg.id in functions:
                yield functions[arg.id]


def _request_reads(func: ast.FunctionDef) -> tuple[set[str], set[str]]:
    """Literal names read from ``request.form``/``values``/``json`` and ``request.headers``."""
    fields: set[str] = set()
    headers: set[str] = set()
    for node in ast.walk(func):
        source: ast.AST | None = None
        key: ast.AST | None = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if node.func.attr == "get":
                source, key = node.func.value, node.args[0]
        elif isinstance(node, ast.Subscript):
            source, key = node.value, node.slice
        if not (
            isinstance(source, ast.Attribute)
            and isinstance(source.value, ast.Name)
            and source.value.id == "request"
            and isinstance(key, ast.Constant)
            and isinstance(key.value, str)
        ):
            continue
        if source.attr in {"form", "values", "json"}:
            fields.add(key.value)
        elif source.attr == "headers":
            headers.add(key.value)
    return fields, headers


def _rejects(func: ast.FunctionDef) -> bool:
    """The hook can refuse the request: ``abort(...)`` or a ``raise``."""
    for node in ast.walk(func):
        if isinstance(node, ast.Raise):
            return True
        if isinstance(node, ast.Call):
            callee = node.func
            name = callee.id if isinstance(callee, ast.Name) else getattr(callee, "attr", None)
            if name == "abort":
                return True
    return False


def _checks_method(func: ast.FunctionDef) -> bool:
    return any(
        isinstance(node, ast.Attribute)
        and node.attr == "method"
        and isinstance(node.value, ast.Name)
        and node.value.id == "request"
        for node in ast.walk(func)
    )


def _own_check(func: ast.FunctionDef) -> tuple[set[str], set[str]] | None:
    """(form fields, headers) when ``func`` is a CSRF check: reads a token, refuses, and is
    about unsafe methods or names a token (``csrf``, ``nonce``...)."""
    fields, headers = _request_reads(func)
    if not (fields or headers) or not _rejects(func):
        return None
    named = _TOKEN_WORDS.search(func.name) or any(
        _TOKEN_WORDS.search(name) for name in fields | headers
    )
    return (fields, headers) if named or _checks_method(func) else None


def find_protection(ctx: CheckContext) -> CsrfProtection | None:
    """The project's CSRF protection, as its code (or its configuration) shows it."""
    declared = ctx.config.csrf_token
    if declared:
        return CsrfProtection("config", frozenset({declared}), where="[tool.webkit.check]")
    # the source must name the library to import it (a fast path that parses nothing)
    for file, tree in ctx.parsed_python(*_LIBRARIES):
        if file.is_test:
            continue
        library = _library(tree)
        if library is not None:
            return CsrfProtection(library, where=file.rel)
    for file, tree in ctx.parsed_python(*_BEFORE_REQUEST):
        if file.is_test:
            continue
        for func in _before_request_functions(tree):
            found = _own_check(func)
            if found is not None:
                fields, headers = found
                return CsrfProtection(
                    "app", frozenset(fields), accepts_header=bool(headers), where=file.rel
                )
    return None


def _post_forms_without_token(
    file: TemplateFile, tree: Any, resolver: _CsrfResolver
) -> Iterator[int]:
    flat = _Flat()
    _flatten(tree, flat)
    text = "".join(flat.parts)
    if "<form" not in text.lower():
        return
    from webkit_cli.check._forms import FormFinder

    finder = FormFinder(text)
    finder.feed(text)
    alternatives = "|".join(map(re.escape, sorted(resolver.fields)))
    named = re.compile(rf"""name\s*=\s*["']?(?:{alternatives})\b""") if alternatives else None
    for start, end, line in finder.finish():
        inside = text[start:end]
        if named is not None and named.search(inside):
            continue  # <input type=hidden name="nonce" ...>: the app's own field
        marks = [int(m) for m in re.findall("\x01(\\d+)\x02", inside)]
        if not any(resolver.node_provides(file, flat.marks[i]) for i in marks):
            yield line


def forms_locally_protected(tree: Any) -> bool:
    """True when every POST form of a template has an output naming a CSRF token itself
    (``{{ csrf_token() }}``, ``{{ form.hidden_tag() }}``): then S007/S008 report nothing
    for it whatever the project's protection, so the per-file cache keeps this and a cached
    run does not parse it. (An include is never decided here: it depends on other files.)"""
    from jinja2 import nodes

    flat = _Flat()
    _flatten(tree, flat)
    text = "".join(flat.parts)
    if "<form" not in text.lower():
        return True
    from webkit_cli.check._forms import FormFinder

    finder = FormFinder(text)
    finder.feed(text)
    for start, end, _line in finder.finish():
        marks = [int(m) for m in re.findall("\x01(\\d+)\x02", text[start:end])]
        if not any(
            not isinstance(flat.marks[i], nodes.Include) and _mentions_csrf(flat.marks[i])
            for i in marks
        ):
            return False
    return True


@register("S007", "S008")
def csrf_forms(ctx: CheckContext) -> list[Finding]:
    """POST forms without the token the project's CSRF protection checks (remembered
    until a template or a module changes: on a big project this is the costly rule)."""
    return ctx.memoised("S007", lambda: list(_csrf_forms(ctx)))


def _csrf_forms(ctx: CheckContext) -> Iterator[Finding]:
    protection: CsrfProtection | None = None
    resolver: _CsrfResolver | None = None
    for file in ctx.template_files:
        if file.error is not None:
            continue
        result = ctx.file_results.get(file.rel)
        if result is not None and result.extracts.get("S007") is True:
            continue  # no form, or each renders its token itself (known without a read)
        if "<form" not in file.source.lower():
            continue  # no form, nothing to protect
        tree = file.tree
        if tree is None:
            continue
        if resolver is None:  # looked for once, and only when there is a form at all
            protection = find_protection(ctx)
            fields = protection.fields if protection is not None else frozenset()
            resolver = _CsrfResolver(ctx, fields)
        for line in _post_forms_without_token(file, tree, resolver):
            if protection is None:
                yield finding(
                    "S008", file.rel, line, "This POST form is not protected against CSRF: "
                    "the project has no CSRF protection."
                )  # fmt: skip
            elif protection.kind in {"flask-wtf", "seasurf"}:
                yield finding(
                    "S007", file.rel, line, "This POST form has no CSRF token; Flask-WTF will "
                    "reject its submissions (400 Bad Request)."
                )  # fmt: skip
            elif not protection.accepts_header:
                shown = " or ".join(sorted(protection.fields))
                yield finding(
                    "S007", file.rel, line, f"This POST form sends no {shown} field; the "
                    f"CSRF check of {protection.where} rejects its submissions."
                )  # fmt: skip
