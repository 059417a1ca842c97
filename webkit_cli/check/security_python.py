"""Security rules in Python code (S001-S003, S005, S006, S009): one visitor per module.

Decisions a reader may question:

* S001 (hard-coded ``SECRET_KEY``) ignores test code (``tests/``, ``test_*.py``,
  ``conftest.py``, and a configuration class that sets ``TESTING = True``): a throw-away
  key in a test configuration protects nothing and is the idiomatic way to test a Flask
  app. S002 treats the same test code alike, and so does S003: test helpers format the
  names of the fixtures they create (``"DROP ROLE %s" % self.role_name``) into SQL run
  against a throw-away database, where no request reaches it. A literal *fallback*
  (``os.environ.get("SECRET_KEY", "dev")``, ``... or "dev"``) is flagged: in production it
  silently becomes the key.
* S002 flags ``app.run(debug=True)`` anywhere, and ``DEBUG = True`` / ``app.debug = True``
  / ``config["DEBUG"] = True`` unless it is conditional (inside an ``if``), in test code, or
  in a scope named for development (``DevelopmentConfig``, ``config_dev.py``, ``local``).
* S003 follows a variable back to its assignments in the same function, so
  ``q = f"..."; cur.execute(q)`` is caught as well as the inline form. It accepts what
  cannot carry text: a number (``"KILL %d" % pid``, ``f"LIMIT {n:d}"``) and an identifier
  quoted by the dialect (``engine.dialect.identifier_preparer.quote(name)``), since no
  driver binds a table name as a parameter. ``quoted_name(name, True)`` is not accepted:
  formatted into a string it is the bare name, quoted only when SQLAlchemy compiles it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from typing import Any

from webkit_cli.check.context import CheckContext, PythonFile
from webkit_cli.check.findings import Finding, finding
from webkit_cli.check.registry import register
from webkit_cli.check.suppression import foreign_suppressions

_DEV_SCOPE = re.compile(r"dev|local|debug|test", re.IGNORECASE)
_SQL_METHODS = frozenset({"execute", "executemany", "executescript"})
#: words without which no Python security rule can match (checked before walking a module)
_PY_TRIGGERS = (
    "SECRET_KEY", "secret_key", "DEBUG", "debug", "execute", "text", "Markup", "autoescape",
    "run",
)  # fmt: skip
#: modules whose ``run()`` is not a server's (``asyncio.run(..., debug=True)``)
_NOT_AN_APP = frozenset({"asyncio", "subprocess", "trio", "anyio", "uvloop"})
_ALL_INTERFACES = frozenset({"0.0.0.0", "::", "[::]"})  # noqa: S104 - what we look for


# --- Python -------------------------------------------------------------------------------


def _is_str(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _is_false(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _is_env_lookup(node: ast.AST) -> bool:
    """``os.environ.get(...)``, ``os.getenv(...)``, ``environ.get(...)``."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "getenv":
        return True
    if isinstance(func, ast.Name) and func.id == "getenv":
        return True
    if isinstance(func, ast.Attribute) and func.attr == "get":
        owner = func.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        return name == "environ"
    return False


def _literal_secret(node: ast.AST | None) -> str | None:
    """Why ``node`` is a hard-coded secret (``None`` when it is not)."""
    if _is_str(node) and node.value:  # type: ignore[union-attr]
        return "is set to a string literal"
    if node is not None and _is_env_lookup(node):
        call = node
        assert isinstance(call, ast.Call)
        default = call.args[1] if len(call.args) > 1 else None
        for kw in call.keywords:
            if kw.arg == "default":
                default = kw.value
        if _is_str(default) and default.value:  # type: ignore[union-attr]
            return "falls back to a string literal when the variable is unset"
    if (
        isinstance(node, ast.BoolOp)
        and isinstance(node.op, ast.Or)
        and any(_is_str(v) and v.value for v in node.values)  # type: ignore[attr-defined]
    ):
        return "falls back to a string literal when the variable is unset"
    return None


def _target_key(target: ast.AST) -> str | None:
    """``SECRET_KEY`` for ``SECRET_KEY = ``, ``x.secret_key = ``, ``x["SECRET_KEY"] = ``."""
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute) and target.attr in {"secret_key", "debug"}:
        # Only on something that is an app (`app.debug`), not any object's `debug` flag.
        owner = ast.unparse(target.value).lower()
        return target.attr.upper() if owner.endswith(("app", "application")) else None
    if isinstance(target, ast.Subscript) and _is_str(target.slice):
        return str(target.slice.value)  # type: ignore[attr-defined]
    return None


def _flatten_add(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [*_flatten_add(node.left), *_flatten_add(node.right)]
    return [node]


def _sets_testing(node: ast.ClassDef) -> bool:
    """``class TestingConfig: TESTING = True`` (Flask's testing flag, in the class body)."""
    for stmt in node.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else []
        if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets = [stmt.target]
        value = getattr(stmt, "value", None)
        if _is_true(value) and any(isinstance(t, ast.Name) and t.id == "TESTING" for t in targets):
            return True
    return False


_CONSTANT_NAME = re.compile(r"^_?[A-Z][A-Z0-9_]*$")
_SAFE_CALLS = frozenset({"int", "float", "len", "bool", "abs", "round"})
TRUSTED = "trusted"
#: What S003 accepts for an identifier, which no driver can bind as a parameter: the
#: methods of SQLAlchemy's ``IdentifierPreparer`` that quote (and escape) a name ...
_QUOTE_METHODS = frozenset({
    "quote", "quote_identifier", "quote_schema", "format_table", "format_column",
    "format_schema", "format_index", "format_constraint", "format_sequence", "format_label",
})  # fmt: skip
#: ... reached through the attributes that hold one (``engine.dialect.identifier_preparer``,
#: a compiler's ``self.preparer``), and functions that quote a name (psycopg2's)
_PREPARER_ATTRS = frozenset({"identifier_preparer", "preparer"})
_QUOTE_FUNCTIONS = frozenset({"quote_ident"})
#: %-conversions and format-spec types that print a number or raise: ``"KILL %d" % pid``
_NUMERIC_PERCENT = frozenset("diouxXeEfFgG")
_NUMERIC_SPEC = frozenset("bdoxXneEfFgG%")
_PERCENT_SPEC = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[#0 +-]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?"
    r"[hlL]?(?P<type>.?)",
    re.DOTALL,
)


def _numeric_spec(spec: str | None) -> bool:
    """A format spec (``"d"``, ``"08.2f"``) whose output can only be a number."""
    return bool(spec) and "{" not in spec and spec[-1] in _NUMERIC_SPEC  # type: ignore[operator,index]


def _percent_fields(template: str) -> list[tuple[str | None, bool]] | None:
    """(mapping key, prints only a number) per conversion of a %-template; ``None`` when a
    ``*`` width takes a value of its own (then values and conversions cannot be paired)."""
    fields: list[tuple[str | None, bool]] = []
    for match in _PERCENT_SPEC.finditer(template):
        if match["type"] == "%":
            continue
        if "*" in (match["width"], match["precision"]):
            return None
        fields.append((match["key"], match["type"] in _NUMERIC_PERCENT))
    return fields


def _format_fields(template: str) -> list[tuple[str, bool]] | None:
    """(argument, prints only a number) per field of a ``str.format`` template, the
    argument as ``"0"`` or ``"name"``; ``None`` if the template cannot be paired with them."""
    import string

    fields: list[tuple[str, bool]] = []
    auto = 0
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec and "{" in spec:
            return None  # a nested field takes an argument of its own
        key = re.split(r"[.\[]", name, maxsplit=1)[0]
        if key == "":
            key, auto = str(auto), auto + 1
        fields.append((key, conversion is None and _numeric_spec(spec)))
    return fields


#: Nodes that hold no node a visitor method is written for: neither walked nor dispatched.
_LEAVES: tuple[type[ast.AST], ...] = (
    ast.Constant, ast.Name, ast.expr_context, ast.operator, ast.boolop, ast.cmpop, ast.unaryop,
)  # fmt: skip


class _FastVisitor(ast.NodeVisitor):
    """:class:`ast.NodeVisitor` with its dispatch looked up once per node type, and the
    leaves without a ``visit_`` method skipped: the same visits in the same order, at a
    fraction of the cost (the walk was a third of a cold ``webkit check``)."""

    _handlers: dict[type[ast.AST], Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {}

    def visit(self, node: ast.AST) -> None:
        cls = node.__class__
        try:
            handler = self._handlers[cls]
        except KeyError:
            method = "visit_" + cls.__name__
            handler = getattr(type(self), method, None)
            if handler is getattr(ast.NodeVisitor, method, None):
                handler = None  # NodeVisitor's own visit_Constant: generic_visit, as here
            if handler is None and not issubclass(cls, _LEAVES):
                handler = type(self).generic_visit
            self._handlers[cls] = handler
        if handler is not None:
            handler(self, node)

    def generic_visit(self, node: ast.AST) -> None:
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item)
            elif isinstance(value, ast.AST):
                self.visit(value)


class _PythonVisitor(_FastVisitor):
    """One pass over a module for every Python security rule."""

    def __init__(self, file: PythonFile) -> None:
        self.file = file
        self.findings: list[Finding] = []
        self.scopes: list[str] = [file.rel.rsplit("/", 1)[-1]]
        #: one flag per enclosing class: does it set ``TESTING = True``?
        self.testing_classes: list[bool] = []
        self.if_depth = 0
        self.sql_text_names: set[str] = set()  # names bound to sqlalchemy.text
        self.sqlalchemy_modules: set[str] = set()
        #: per function scope: variable -> [(line, formatting kind or None)]
        self.assignments: list[dict[str, list[tuple[int, str | None]]]] = [{}]
        #: (variable, first line) of an assignment -> its last line
        self.spans: dict[tuple[str, int], int] = {}
        #: per function scope: variable -> "preparer" (an IdentifierPreparer) or "quote" (its
        #: quoting method), for ``quote = engine.dialect.identifier_preparer.quote``
        self.quoting: list[dict[str, str]] = [{}]
        #: lines where another tool's suppression (ruff's noqa for S608) waives S003: the SQL
        #: is often built on one line and executed on another, and ruff flags the building
        self.sql_waived = {
            line for line, codes in foreign_suppressions(file.source).items() if "S003" in codes
        }

    def add(self, code: str, node: ast.AST, message: str) -> None:
        line = getattr(node, "lineno", None)
        col = getattr(node, "col_offset", None)
        self.findings.append(
            finding(code, self.file.rel, line, message, column=col + 1 if col is not None else None)
        )

    # scopes ------------------------------------------------------------------------------
    def _scoped(self, node: ast.AST, name: str, *, new_vars: bool) -> None:
        self.scopes.append(name)
        saved_if, self.if_depth = self.if_depth, 0 if new_vars else self.if_depth
        if new_vars:
            self.assignments.append({})
            self.quoting.append({})
        self.generic_visit(node)
        if new_vars:
            self.assignments.pop()
            self.quoting.pop()
        self.if_depth = saved_if
        self.scopes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scoped(node, node.name, new_vars=True)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._scoped(node, node.name, new_vars=True)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.testing_classes.append(_sets_testing(node))
        self._scoped(node, node.name, new_vars=False)
        self.testing_classes.pop()

    def visit_If(self, node: ast.If) -> None:
        self.if_depth += 1
        self.generic_visit(node)
        self.if_depth -= 1

    @property
    def in_test_scope(self) -> bool:
        """Test code: a test file, or inside a configuration class with ``TESTING = True``."""
        return self.file.is_test or any(self.testing_classes)

    @property
    def in_dev_scope(self) -> bool:
        return self.in_test_scope or any(_DEV_SCOPE.search(s) for s in self.scopes)

    # imports -----------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == "sqlalchemy" or alias.name.startswith("sqlalchemy."):
                self.sqlalchemy_modules.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if (node.module or "").startswith("sqlalchemy"):
            for alias in node.names:
                if alias.name == "text":
                    self.sql_text_names.add(alias.asname or alias.name)

    # assignments -------------------------------------------------------------------------
    def _check_setting(self, key: str | None, value: ast.AST, node: ast.AST) -> None:
        if key == "SECRET_KEY" and not self.in_test_scope:
            why = _literal_secret(value)
            if why:
                self.add("S001", node, f"SECRET_KEY {why}.")
        if key == "DEBUG" and _is_true(value) and not self.if_depth and not self.in_dev_scope:
            self.add("S002", node, "DEBUG is forced on outside a development configuration.")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._check_setting(_target_key(target), node.value, node)
            if isinstance(target, ast.Name):
                self._remember(target.id, node.lineno, self._kind(node.value, node.lineno))
                self.spans[(target.id, node.lineno)] = node.end_lineno or node.lineno
                self._remember_quoting(target.id, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._check_setting(_target_key(node.target), node.value, node)
            if isinstance(node.target, ast.Name):
                self._remember(node.target.id, node.lineno, self._kind(node.value, node.lineno))
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name) and isinstance(node.op, ast.Add | ast.Mod):
            name, line = node.target.id, node.lineno
            previous = self._lookup(name, line)
            kind: str | None = previous
            if previous == TRUSTED or previous is None:
                combined = ast.BinOp(left=node.target, op=node.op, right=node.value)
                how = self._formatted(combined, line)
                kind = how if how else (TRUSTED if previous == TRUSTED else None)
            self._remember(name, line, kind)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if _is_str(key):
                self._check_setting(key.value, value, value)  # type: ignore[union-attr]
        self.generic_visit(node)

    def _remember_quoting(self, name: str, value: ast.AST) -> None:
        if self._is_preparer(value):
            self.quoting[-1][name] = "preparer"
        elif self._is_quote_function(value):
            self.quoting[-1][name] = "quote"
        else:
            self.quoting[-1].pop(name, None)

    def _quoting(self, name: str) -> str | None:
        return self.quoting[-1].get(name) or self.quoting[0].get(name)

    def _is_preparer(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute):
            return node.attr in _PREPARER_ATTRS
        return isinstance(node, ast.Name) and self._quoting(node.id) == "preparer"

    def _is_quote_function(self, func: ast.AST) -> bool:
        """``preparer.quote``, ``quote_ident``, or a name bound to one of them."""
        if isinstance(func, ast.Attribute):
            if func.attr in _QUOTE_FUNCTIONS:
                return True
            return func.attr in _QUOTE_METHODS and self._is_preparer(func.value)
        if isinstance(func, ast.Name):
            return func.id in _QUOTE_FUNCTIONS or self._quoting(func.id) == "quote"
        return False

    def _remember(self, name: str, line: int, kind: str | None) -> None:
        self.assignments[-1].setdefault(name, []).append((line, kind))

    def _bound_at(self, name: str, line: int) -> int | None:
        """The first line of the last assignment to ``name`` in this scope before ``line``."""
        for line_seen, _kind in reversed(self.assignments[-1].get(name, [])):
            if line_seen <= line:
                return line_seen
        return None

    def _lookup(self, name: str, line: int) -> str | None:
        """The kind of the last value bound to ``name`` in this scope before ``line``."""
        for line_seen, kind in reversed(self.assignments[-1].get(name, [])):
            if line_seen <= line:
                return kind
        return None

    def _kind(self, value: ast.AST, line: int) -> str | None:
        """``TRUSTED``, a formatting description (``"an f-string"``), or ``None``."""
        how = self._formatted(value, line)
        if how:
            return how
        return TRUSTED if self._trusted(value, line) else None

    def _trusted(self, node: ast.AST, line: int) -> bool:
        """A value that cannot carry user input into SQL: literals, CONSTANTS, numbers."""
        if isinstance(node, ast.Constant):
            return True
        if isinstance(node, ast.Name):
            return bool(_CONSTANT_NAME.match(node.id)) or self._lookup(node.id, line) == TRUSTED
        if isinstance(node, ast.Attribute):
            return bool(_CONSTANT_NAME.match(node.attr))
        if isinstance(node, ast.List | ast.Tuple):
            return all(self._trusted(elt, line) for elt in node.elts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
            if isinstance(node.op, ast.Mult):  # "?" * n, ["?"] * n: the literal is what repeats
                return self._trusted(node.left, line) or self._trusted(node.right, line)
            return self._trusted(node.left, line) and self._trusted(node.right, line)
        if isinstance(node, ast.GeneratorExp | ast.ListComp):
            return self._trusted(node.elt, line)
        if isinstance(node, ast.JoinedStr):
            return self._formatted(node, line) is None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_str(node.left):
            return self._formatted(node, line) is None  # "LIMIT %d" % n
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in _SAFE_CALLS:
                return True
            if self._is_quote_function(func):
                return True  # a quoted identifier: preparer.quote(name)
            if isinstance(func, ast.Attribute) and func.attr == "format" and _is_str(func.value):
                return self._formatted(node, line) is None
            if isinstance(func, ast.Attribute) and func.attr == "join" and _is_str(func.value):
                return all(self._trusted(arg, line) for arg in node.args)
        return False

    def _formatted(self, node: ast.AST | None, line: int) -> str | None:
        """How ``node`` formats a non-trusted value into a string, or ``None``."""
        if isinstance(node, ast.JoinedStr):
            fields = [v for v in node.values if isinstance(v, ast.FormattedValue)]
            return "an f-string" if any(not self._fvalue_safe(v, line) for v in fields) else None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _is_str(node.left):
            template = node.left.value  # type: ignore[attr-defined]
            values = self._percent_values(template, node.right)
            return "%-formatting" if any(not self._trusted(v, line) for v in values) else None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            parts = _flatten_add(node)
            stringy = any(
                _is_str(p)
                or isinstance(p, ast.JoinedStr)
                or (isinstance(p, ast.Name) and self._lookup(p.id, line) not in (None, TRUSTED))
                for p in parts
            )
            if stringy and not all(self._trusted(p, line) for p in parts):
                return "string concatenation"
            return None
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and _is_str(node.func.value)
        ):
            template = node.func.value.value  # type: ignore[attr-defined]
            values = self._format_values(template, node)
            return "str.format()" if any(not self._trusted(v, line) for v in values) else None
        return None

    def _fvalue_safe(self, value: ast.FormattedValue, line: int) -> bool:
        """``{name}`` of a trusted value, or ``{n:d}``: a number whatever ``n`` holds."""
        if self._trusted(value.value, line):
            return True
        spec = value.format_spec
        if value.conversion != -1 or not isinstance(spec, ast.JoinedStr):
            return False
        if not all(_is_str(part) for part in spec.values):
            return False
        return _numeric_spec("".join(part.value for part in spec.values))  # type: ignore[attr-defined]

    @staticmethod
    def _percent_values(template: str, right: ast.AST) -> list[ast.AST]:
        """The values of ``template % right`` that may print as text (not ``%d``)."""
        fields = _percent_fields(template)
        values: list[ast.AST] = list(right.values) if isinstance(right, ast.Dict) else [right]
        if fields is None:
            return values
        if all(numeric for _key, numeric in fields):
            return []
        positional = not any(key is not None for key, _numeric in fields)
        starred = isinstance(right, ast.Tuple) and any(
            isinstance(e, ast.Starred) for e in right.elts
        )
        if isinstance(right, ast.Tuple) and positional and not starred:
            pairs = zip(right.elts, fields, strict=False)
            return [elt for elt, (_key, numeric) in pairs if not numeric]
        if isinstance(right, ast.Dict) and not positional:
            by_key = {
                key.value: value
                for key, value in zip(right.keys, right.values, strict=True)
                if isinstance(key, ast.Constant)
            }
            if None not in right.keys and all(key in by_key for key, _numeric in fields):
                return [by_key[key] for key, numeric in fields if not numeric]
        return values

    @staticmethod
    def _format_values(template: str, call: ast.Call) -> list[ast.AST]:
        """The arguments of ``template.format(...)`` that may print as text (not ``{:d}``)."""
        every: list[ast.AST] = [*call.args, *(kw.value for kw in call.keywords)]
        fields = _format_fields(template)
        if fields is None:
            return every
        if all(numeric for _key, numeric in fields):
            return []
        by_key: dict[str, ast.AST] = {str(i): arg for i, arg in enumerate(call.args)}
        by_key.update((kw.arg, kw.value) for kw in call.keywords if kw.arg is not None)
        unpacked = any(isinstance(a, ast.Starred) for a in call.args) or any(
            kw.arg is None for kw in call.keywords
        )
        if unpacked or not all(key in by_key for key, _numeric in fields):
            return every
        return [by_key[key] for key, numeric in fields if not numeric]

    # calls -------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        attr = func.attr if isinstance(func, ast.Attribute) else None
        name = func.id if isinstance(func, ast.Name) else attr
        for kw in node.keywords:
            if kw.arg in {"SECRET_KEY", "DEBUG"}:
                self._check_setting(kw.arg, kw.value, kw.value)
        if attr == "run":
            self._check_run(node)
        if name in _SQL_METHODS or self._is_sql_text(func):
            self._check_sql(node, name or "text")
        if name == "Markup" and node.args and not self._markup_safe(node.args[0]):
            self.add("S005", node, "Markup() wraps a non-literal value, which is not escaped.")
        if name == "Environment":
            for kw in node.keywords:
                if kw.arg == "autoescape" and _is_false(kw.value):
                    self.add("S006", node, "Jinja Environment(autoescape=False).")
        self.generic_visit(node)

    @staticmethod
    def _markup_safe(arg: ast.AST) -> bool:
        """A literal, or a value already escaped by ``escape()``."""
        if _is_str(arg):
            return True
        if isinstance(arg, ast.Call):
            func = arg.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            return name == "escape"
        return False

    def _is_sql_text(self, func: ast.AST) -> bool:
        if isinstance(func, ast.Name):
            return func.id in self.sql_text_names
        return (
            isinstance(func, ast.Attribute)
            and func.attr == "text"
            and isinstance(func.value, ast.Name)
            and func.value.id in self.sqlalchemy_modules
        )

    def _check_run(self, node: ast.Call) -> None:
        """``app.run(host, port, debug)``: by keyword or position (Flask's signature)."""
        owner = node.func.value if isinstance(node.func, ast.Attribute) else None
        if isinstance(owner, ast.Name) and owner.id in _NOT_AN_APP:
            return  # asyncio.run(main(), debug=True) is not a web server
        given = dict(zip(("host", "port", "debug"), node.args, strict=False))
        given.update({kw.arg: kw.value for kw in node.keywords if kw.arg})
        if _is_true(given.get("debug")):
            self.add("S002", node, "run(debug=True) forces the debugger on.")
        host_node = given.get("host")
        host = host_node.value if isinstance(host_node, ast.Constant) else None
        if host in _ALL_INTERFACES:
            self.add("S009", node, f"run(host={host!r}) serves on every interface.")

    def _check_sql(self, node: ast.Call, name: str) -> None:
        if not node.args or self.file.is_test:
            return
        arg = node.args[0]
        how = self._formatted(arg, node.lineno)
        if how is None and isinstance(arg, ast.Name):
            how = self._lookup(arg.id, node.lineno)
            bound = self._bound_at(arg.id, node.lineno)
            if bound is not None and self.sql_waived:
                last = self.spans.get((arg.id, bound), bound)
                if self.sql_waived.intersection(range(bound, last + 1)):
                    return  # `q = "..." % x  with a noqa for S608` then execute(q)
        if how is not None and how != TRUSTED:
            self.add("S003", node, f"SQL built with {how} is passed to {name}().")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.generic_visit(node)


@register("S001", "S002", "S003", "S005", "S006", "S009", per_file=True)
def python_security(ctx: CheckContext) -> Iterator[Finding]:
    """Secrets, debug, SQL formatting, Markup, autoescape and host in Python code."""
    for file, tree in ctx.parsed_python():
        # Fast path: a module naming none of the things these rules look at needs no walk.
        if not any(word in file.source for word in _PY_TRIGGERS):
            continue
        visitor = _PythonVisitor(file)
        visitor.visit(tree)
        yield from visitor.findings
        if "autoescape" not in file.source:
            continue
        # `app.jinja_env.autoescape = False` is an attribute assignment, not a call
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and _is_false(node.value)
                and any(
                    isinstance(t, ast.Attribute) and t.attr == "autoescape" for t in node.targets
                )
            ):
                message = "autoescape is set to False."
                column = node.col_offset + 1
                yield finding("S006", file.rel, node.lineno, message, column=column)
