"""``FIELD:TYPE[:OPTIONS]`` specs: parsed, validated, and described for the generator templates.

A generator template writes a model, a migration, a form and tests from the same field
list, so each field carries everything those need, worked out here once: the SQLAlchemy
type of the model and of the migration, the Python type, the form field and validators,
the JSON Schema, and sample values the generated tests post (one valid, one different,
one invalid where the type can be invalid).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from webkit_cli.errors import WebkitError


class GenerateError(WebkitError):
    """``webkit generate`` refused (bad name, bad field, a resource that exists, …)."""


TYPES = ("str", "text", "int", "float", "bool", "date", "datetime", "decimal", "email", "url")
#: ``ref:OTHER`` is the eleventh type: a foreign key to the model OTHER.
REF = "ref"
FLAGS = ("required", "unique", "index")
DEFAULT_MAX = {"str": 120, "email": 254, "url": 2048}
#: Names a field cannot take: the primary key, what the models' base class or the
#: generated code defines on every model, and SQLAlchemy's own attributes.
RESERVED_FIELDS = frozenset(
    {"id", "created_at", "updated_at", "user_id", "owner_id", "metadata", "registry", "query"}
)
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*\Z")


@dataclass(frozen=True)
class Field:
    """One field of a resource, with what each generated file needs to know about it."""

    name: str
    type: str  # one of TYPES, or "ref"
    required: bool = False
    unique: bool = False
    index: bool = False
    max: int | None = None
    default: Any = None  # a Python value of the field's type, or None
    ref: str | None = None  # the referenced model's class name (type "ref")
    ref_table: str | None = None
    ref_module: str | None = None
    ref_owned: bool = False  # the referenced model's rows belong to users
    extra: dict[str, str] = field(default_factory=dict)

    # --- names ---------------------------------------------------------------------------
    @property
    def column(self) -> str:
        """The attribute and column: ``author`` → ``author_id`` for a reference."""
        return f"{self.name}_id" if self.type == REF else self.name

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()

    @property
    def nullable(self) -> bool:
        return not self.required and self.type != "bool"

    # --- the model and the migration ---------------------------------------------------
    @property
    def sa_type(self) -> str:
        """The column type as the model writes it (names imported from ``sqlalchemy``)."""
        return {
            "str": f"String({self.max})",
            "email": f"String({self.max})",
            "url": f"String({self.max})",
            "text": "Text",
            "int": "Integer",
            "float": "Float",
            "bool": "Boolean",
            "date": "Date",
            "datetime": "DateTime(timezone=True)",
            "decimal": "Numeric(12, 2)",
            REF: "Integer",
        }[self.type]

    @property
    def sa_import(self) -> str:
        """The ``sqlalchemy`` name the model imports for :attr:`sa_type`."""
        return self.sa_type.split("(", 1)[0]

    @property
    def migration_type(self) -> str:
        """The column type as Alembic's autogenerate writes it (``sa.`` prefixed)."""
        return {
            "str": f"sa.String(length={self.max})",
            "email": f"sa.String(length={self.max})",
            "url": f"sa.String(length={self.max})",
            "text": "sa.Text()",
            "int": "sa.Integer()",
            "float": "sa.Float()",
            "bool": "sa.Boolean()",
            "date": "sa.Date()",
            "datetime": "sa.DateTime(timezone=True)",
            "decimal": "sa.Numeric(precision=12, scale=2)",
            REF: "sa.Integer()",
        }[self.type]

    @property
    def py_type(self) -> str:
        base = {
            "int": "int",
            "float": "float",
            "bool": "bool",
            "date": "date",
            "datetime": "datetime",
            "decimal": "Decimal",
            REF: "int",
        }.get(self.type, "str")
        return base if not self.nullable else f"{base} | None"

    @property
    def py_imports(self) -> tuple[str, ...]:
        """``from X import Y`` lines the model needs for :attr:`py_type`."""
        return {
            "date": ("from datetime import date",),
            "datetime": ("from datetime import datetime",),
            "decimal": ("from decimal import Decimal",),
        }.get(self.type, ())

    @property
    def default_literal(self) -> str | None:
        """The default as Python source (``None`` when the field has none)."""
        if self.default is None:
            return None if self.type != "bool" else "False"
        return _literal(self.default)

    @property
    def server_default(self) -> str | None:
        """The default as the migration's ``server_default`` SQL text, for NOT NULL columns
        added to a table that may hold rows (booleans: ``sa.false()``)."""
        if self.type == "bool":
            return "sa.true()" if self.default else "sa.false()"
        return None

    # --- the form ------------------------------------------------------------------------
    @property
    def form_field(self) -> str:
        """The WTForms field class (all in ``wtforms``)."""
        return {
            "str": "StringField",
            "email": "EmailField",
            "url": "URLField",
            "text": "TextAreaField",
            "int": "IntegerField",
            "float": "FloatField",
            "bool": "BooleanField",
            "date": "DateField",
            "datetime": "DateTimeLocalField",
            "decimal": "DecimalField",
            REF: "SelectField",
        }[self.type]

    @property
    def form_validators(self) -> tuple[str, ...]:
        """Validator calls (names from ``wtforms.validators``) for the form field."""
        out: list[str] = []
        if self.type == "bool":
            return ()
        out.append("InputRequired()" if self.required else "Optional()")
        if self.max is not None:
            out.append(f"Length(max={self.max})")
        if self.type == "email":
            out.append(
                'Regexp(r"^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", message="Enter an email address.")'
            )
        if self.type == "url":
            out.append('Regexp(r"^https?://\\S+$", message="Enter an http:// or https:// URL.")')
        return tuple(out)

    @property
    def validator_imports(self) -> tuple[str, ...]:
        return tuple(sorted({v.split("(", 1)[0] for v in self.form_validators}))

    # --- JSON ----------------------------------------------------------------------------
    @property
    def json_schema(self) -> dict[str, Any]:
        schemas: dict[str, dict[str, Any]] = {
            "str": {"type": "string"},
            "email": {"type": "string", "format": "email"},
            "url": {"type": "string", "format": "uri"},
            "text": {"type": "string"},
            "int": {"type": "integer"},
            "float": {"type": "number"},
            "bool": {"type": "boolean"},
            "date": {"type": "string", "format": "date"},
            "datetime": {"type": "string", "format": "date-time"},
            "decimal": {"type": "string", "format": "decimal"},
            REF: {"type": "integer", "minimum": 1},
        }
        schema = schemas[self.type]
        if self.max is not None:
            schema = {**schema, "maxLength": self.max}
        if self.type == "int":
            schema = {**schema, "minimum": -(2**31), "maximum": 2**31 - 1}
        if self.nullable:
            schema = {**schema, "type": [schema["type"], "null"]}
        return schema

    # --- samples for the generated tests --------------------------------------------------
    def sample(self, n: int = 1) -> Any:
        """A valid Python value (``n`` picks a different one), never the default."""
        if self.default is not None and self.type in {"str", "text", "email", "url"}:
            n += 1  # keep the samples apart from the default
        values: dict[str, Any] = {
            "str": _short(self.label, n, self.max),
            "text": f"Some {self.name.replace('_', ' ')} text, number {n}.",
            "email": f"person{n}@example.com",
            "url": f"https://example.com/{self.name}/{n}",
            "int": 40 + n,
            "float": 1.5 * n,
            "bool": n % 2 == 1,
            "date": date(2026, 1, min(n, 28)),
            "datetime": datetime(2026, 1, min(n, 28), 9, 30),
            "decimal": Decimal(f"{n}9.95"),
            REF: None,
        }
        return values[self.type]

    def form_value(self, n: int = 1) -> str:
        """:meth:`sample` as a browser posts it."""
        value = self.sample(n)
        if self.type == "bool":
            return "y" if value else ""
        if self.type == "datetime":
            return str(value.strftime("%Y-%m-%dT%H:%M"))
        return str(value)

    def json_value(self, n: int = 1) -> Any:
        """:meth:`sample` as a JSON client sends it."""
        value = self.sample(n)
        if self.type == "datetime":
            return value.replace(tzinfo=UTC).isoformat()  # JSON times carry their offset
        if self.type in {"date", "decimal"}:
            return value.isoformat() if self.type == "date" else str(value)
        return value

    @property
    def invalid_form_value(self) -> str | None:
        """A value the form refuses, or None when every input is valid for the type."""
        if self.max is not None:
            return "x" * (self.max + 1)
        return {
            "int": "not a number",
            "float": "not a number",
            "decimal": "not a number",
            "date": "2026-13-45",
            "datetime": "yesterday",
        }.get(self.type)

    @property
    def invalid_json_value(self) -> Any:
        if self.max is not None:
            return "x" * (self.max + 1)
        return {
            "int": "not a number",
            "float": "not a number",
            "decimal": "not a number",
            "date": "2026-13-45",
            "datetime": "yesterday",
            "bool": "yes",
            "text": 12,
            REF: "x",
        }.get(self.type)


def _short(label: str, n: int, max_len: int | None) -> str:
    """``"Title 1"``, shortened to ``max_len`` without losing the number (that makes two
    samples differ) and without a space at either end (forms strip them)."""
    suffix = str(n)
    if max_len is None or len(label) + 1 + len(suffix) <= max_len:
        return f"{label} {suffix}"
    head = label[: max(max_len - len(suffix), 0)].rstrip()
    return f"{head}{suffix}" if head else suffix[:max_len]


def _literal(value: Any) -> str:
    if isinstance(value, Decimal):
        return f'Decimal("{value}")'
    if isinstance(value, datetime):
        return f'datetime.fromisoformat("{value.isoformat()}")'
    if isinstance(value, date):
        return f'date.fromisoformat("{value.isoformat()}")'
    if isinstance(value, str):
        import json

        return json.dumps(value, ensure_ascii=False)  # double quotes, as ruff format writes
    return repr(value)


def _parse_default(type_: str, raw: str, spec: str) -> Any:
    try:
        if type_ in {"str", "text", "email", "url"}:
            return raw
        if type_ == "int":
            return int(raw)
        if type_ == "float":
            return float(raw)
        if type_ == "decimal":
            return Decimal(raw)
        if type_ == "bool":
            if raw.lower() in {"true", "1", "yes"}:
                return True
            if raw.lower() in {"false", "0", "no"}:
                return False
            raise ValueError(raw)
        if type_ == "date":
            return date.fromisoformat(raw)
        if type_ == "datetime":
            return datetime.fromisoformat(raw)
    except (ValueError, InvalidOperation):
        pass
    raise GenerateError(f"{spec}: default={raw!r} is not a valid {type_}.")


def parse_field(spec: str) -> Field:
    """``title:str:max=80:required`` → a :class:`Field` (references are resolved later)."""
    parts = spec.split(":")
    name = parts[0]
    if not name:
        raise GenerateError(f"{spec!r}: a field needs a name, as in title:str.")
    check_field_name(name, spec)
    if len(parts) < 2 or not parts[1]:
        raise GenerateError(
            f"{spec!r}: give the field a type, as in {name}:str "
            f"(types: {', '.join(TYPES)}, ref:MODEL)."
        )
    type_ = parts[1].lower()
    options = parts[2:]
    ref = None
    if type_ == REF:
        if not options or not options[0] or "=" in options[0] or options[0] in FLAGS:
            raise GenerateError(f"{spec!r}: name the model it refers to, as in {name}:ref:author.")
        ref, options = options[0], options[1:]
    elif type_ not in TYPES:
        import difflib

        close = difflib.get_close_matches(type_, [*TYPES, REF], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise GenerateError(
            f"{spec!r}: unknown type {parts[1]!r}.{hint} Types: {', '.join(TYPES)}, ref:MODEL."
        )
    flags: dict[str, bool] = {}
    max_len = DEFAULT_MAX.get(type_)
    default: Any = None
    for option in options:
        key, has_value, value = option.partition("=")
        key = key.lower()
        if key in FLAGS and not has_value:
            flags[key] = True
        elif key == "max" and has_value:
            if type_ not in DEFAULT_MAX:
                raise GenerateError(f"{spec!r}: max= applies to str, email and url fields only.")
            if not value.isdigit() or not 1 <= int(value) <= 65535:
                raise GenerateError(f"{spec!r}: max= needs a length from 1 to 65535.")
            max_len = int(value)
        elif key == "default" and has_value:
            if type_ == REF:
                raise GenerateError(f"{spec!r}: a reference cannot have a default.")
            default = _parse_default(type_, value, repr(spec))
        else:
            raise GenerateError(
                f"{spec!r}: unknown option {option!r} "
                "(options: required, unique, index, max=N, default=VALUE)."
            )
    if isinstance(default, str) and max_len is not None and len(default) > max_len:
        raise GenerateError(f"{spec!r}: the default is longer than max={max_len}.")
    return Field(
        name=name,
        type=type_,
        required=flags.get("required", False),
        unique=flags.get("unique", False),
        index=flags.get("index", False),
        max=max_len,
        default=default,
        ref=ref,
    )


def check_field_name(name: str, spec: str) -> None:
    if not IDENTIFIER.match(name):
        raise GenerateError(
            f"{spec!r}: field names are lowercase letters, digits and underscores, starting "
            "with a letter."
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise GenerateError(f"{spec!r}: {name!r} is a Python keyword; choose another name.")
    if name in RESERVED_FIELDS or name.startswith("_"):
        raise GenerateError(
            f"{spec!r}: {name!r} is reserved (every generated model has id, created_at and, "
            "with accounts, its owner); choose another name."
        )


def parse_fields(specs: Sequence[str]) -> list[Field]:
    fields = [parse_field(spec) for spec in specs]
    seen: set[str] = set()
    for f in fields:
        for name in {f.name, f.column}:
            if name in seen:
                raise GenerateError(f"The field {name!r} is given twice.")
            seen.add(name)
    return fields


def sqlalchemy_imports(fields: Iterable[Field]) -> list[str]:
    """The ``sqlalchemy`` names a model with ``fields`` imports, sorted."""
    names = {f.sa_import for f in fields}
    if any(f.type == REF for f in fields):
        names.add("ForeignKey")
    return sorted(names)
