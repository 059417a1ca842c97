"""Compare the app's models with its migrations, as ``alembic check`` does (runs in the child).

The migrations are applied to a scratch, in-memory SQLite database (never the app's own
``SQLALCHEMY_DATABASE_URI``: the project's ``env.py`` is not run, since it connects to the
configured database), then :func:`alembic.autogenerate.compare_metadata` compares that
schema with the models' metadata. Each difference becomes a :class:`Difference`, plain
data that crosses the pipe to the parent, where rule D001 turns it into a finding.

Where the migrations and the models are:

* Flask-Migrate: ``app.extensions["migrate"]`` holds the ``db`` it was given (Flask-
  SQLAlchemy's instance, or any object with a ``metadata``, as webkit's templates give it),
  the migrations folder and the arguments its ``env.py`` passes to Alembic
  (``compare_type``, ``include_object``…). ``db.metadata`` (the default bind) is what its
  ``env.py`` compares; ``flask db init --multidb`` revisions are run and compared per bind;
* plain Alembic: an ``alembic.ini`` at the project root names the scripts
  (``script_location``), and the models are Flask-SQLAlchemy's (``app.extensions
  ["sqlalchemy"]``): the ``target_metadata`` of an ``env.py`` cannot be read without
  running it.

Anything else (no Alembic installed, no migrations folder, no models) is
``status="none"``: nothing to say. Migrations that cannot run on SQLite (PostgreSQL-only
types or statements, data migrations that need the app's session) are ``status="failed"``
with the reason: a note, never a guess.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import logging
import re
import sys
import textwrap
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Difference:
    """One way the models differ from the migrated schema."""

    #: Alembic's operation: add_table, remove_table, add_column, modify_type, …
    kind: str
    table: str
    #: the column, index or constraint concerned ("" for a whole table)
    name: str
    message: str
    #: what ``flask db migrate -m`` could say about it
    summary: str
    #: the model's file and line, when a model defines it (absolute path)
    file: str | None = None
    line: int | None = None


@dataclass
class DriftReport:
    """The outcome of a comparison (see the module docstring for ``status``)."""

    #: "none" (nothing to compare), "compared" or "failed"
    status: str = "none"
    #: "flask-migrate" or "alembic": which commands the fix names
    tool: str = ""
    #: the migrations folder (absolute)
    directory: str = ""
    #: why the comparison failed (``status="failed"``)
    reason: str = ""
    #: the revision file where applying failed, and the line (absolute path)
    file: str | None = None
    line: int | None = None
    differences: list[Difference] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DriftReport:
        differences = [Difference(**item) for item in data.get("differences", [])]
        return cls(**{**data, "differences": differences})


@dataclass
class _Source:
    """Where the migrations are, what they are compared with, and how."""

    tool: str
    config: Any  # alembic.config.Config
    directory: Path
    metadata: Any  # sqlalchemy.MetaData
    db: Any
    configure_args: dict[str, Any]


def _metadata_of(db: Any) -> Any:
    """The default bind's metadata of a Flask-SQLAlchemy instance (3.x and 2.x)."""
    metadatas = getattr(db, "metadatas", None)
    if isinstance(metadatas, dict) and None in metadatas:
        return metadatas[None]
    return getattr(db, "metadata", None)


def _find_source(app: Any, root: Path) -> _Source | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    extensions = getattr(app, "extensions", None) or {}
    migrate = extensions.get("migrate")
    if migrate is not None and getattr(migrate, "db", None) is not None:
        directory = Path(root, str(getattr(migrate, "directory", "migrations")))
        if not (directory / "env.py").is_file():
            return None  # `flask db init` was never run: no migrations to compare with
        ini = directory / "alembic.ini"
        config = Config(str(ini) if ini.is_file() else None)
        config.set_main_option("script_location", str(directory))
        # what `flask db` does before each command (user callbacks may set options)
        callbacks = getattr(getattr(migrate, "migrate", None), "call_configure_callbacks", None)
        if callbacks is not None:
            config = callbacks(config) or config
        metadata = _metadata_of(migrate.db)
        args = dict(getattr(migrate, "configure_args", None) or {})
        return _Source("flask-migrate", config, directory, metadata, migrate.db, args)
    ini = root / "alembic.ini"
    state = extensions.get("sqlalchemy")
    if state is None or not ini.is_file():
        return None
    db = getattr(state, "db", state)  # Flask-SQLAlchemy 2.x keeps a state holding db
    config = Config(str(ini))
    if not config.get_main_option("script_location"):
        return None
    try:
        # as Alembic resolves it: relative to the working directory (the root), "%(here)s",
        # or a package resource ("myapp:migrations")
        directory = Path(ScriptDirectory.from_config(config).dir)
    except CommandError:  # the folder does not exist: no migrations yet
        return None
    if not (directory / "env.py").is_file():
        return None
    return _Source("alembic", config, directory, _metadata_of(db), db, {})


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    """No bytecode written into the project's migrations; no warnings, nor Alembic's
    "Running upgrade" lines (when the app logs at INFO), on the user's stderr."""
    saved = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    logger = logging.getLogger("alembic")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.dont_write_bytecode = saved
        logger.setLevel(level)


def _has_no_source(app: Any, root: Path) -> bool:
    """True when :func:`_find_source` would find nothing, told without importing Alembic
    or SQLAlchemy (most of a warm ``webkit check``): no Flask-Migrate with a migrations
    folder, and no Flask-SQLAlchemy beside an ``alembic.ini``. False when unsure."""
    try:
        extensions = getattr(app, "extensions", None) or {}
        migrate = extensions.get("migrate")
        if migrate is not None and getattr(migrate, "db", None) is not None:
            directory = Path(root, str(getattr(migrate, "directory", "migrations")))
            return not (directory / "env.py").is_file()
        return extensions.get("sqlalchemy") is None or not (root / "alembic.ini").is_file()
    except Exception:  # noqa: BLE001 - let _find_source meet it and report it
        return False


def compare_app(app: Any, root: str) -> DriftReport:
    """Apply the migrations to a scratch database and compare them with the models."""
    if _has_no_source(app, Path(root)):
        return DriftReport()
    try:
        import alembic.autogenerate  # noqa: F401 - the rule needs Alembic, else it is silent
        import sqlalchemy  # noqa: F401
    except ImportError:
        return DriftReport()
    with _quietly():
        try:
            source = _find_source(app, Path(root))
        except Exception as exc:  # noqa: BLE001 - a broken alembic.ini or callback
            return DriftReport(status="failed", reason=_describe(exc))
        if source is None or source.metadata is None:
            return DriftReport()
        report = DriftReport(status="compared", tool=source.tool, directory=str(source.directory))
        try:
            compared = _migrate_and_compare(source)
        except Exception as exc:  # noqa: BLE001 - migrations SQLite cannot run, bad scripts
            report.status, report.reason = "failed", _describe(exc)
            report.file, report.line = _failing_frame(exc, source.directory)
            return report
        for bind, metadata, raw in compared:
            locator = _Locator(source.db, metadata)
            for diff in raw:
                try:
                    found = list(_differences(diff, locator))
                except Exception:  # noqa: BLE001 - a diff shape this code does not know
                    found = [_unknown(diff)]
                if bind:  # Flask-Migrate's multi-database migrations: say which database
                    found = [
                        replace(d, message=f"{d.message[:-1]} (bind {bind!r}).") for d in found
                    ]
                report.differences.extend(found)
    return report


def _unknown(diff: Any) -> Difference:
    """A difference reported as Alembic gives it (a newer Alembic's operation, say)."""
    first = diff[0] if isinstance(diff, list) and diff else diff
    kind = str(first[0]) if isinstance(first, tuple) and first else "difference"
    text = " ".join(repr(diff).split())
    text = text if len(text) <= 200 else text[:199] + "…"
    return Difference(kind, "", "", f"The models differ from the migrations: {text}.", kind)


#: SQLAlchemy's noise in an error message: the compiler's repr, the link to its docs
_NOISE = re.compile(r"Compiler <[^<>]*> |\s*\(Background on this error at: [^)]*\)")


def _describe(exc: BaseException) -> str:
    text = _NOISE.sub(lambda m: "SQLite " if m.group(0).startswith("Compiler") else "", str(exc))
    text = " ".join(text.split())
    if len(text) > 300:
        text = text[:299] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failing_frame(exc: BaseException, directory: Path) -> tuple[str | None, int | None]:
    """The innermost frame inside the migrations folder: the revision that could not run."""
    found: tuple[str | None, int | None] = (None, None)
    base = directory.resolve()
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        filename = Path(frame.f_code.co_filename).resolve()
        if filename.is_relative_to(base):
            found = (str(filename), lineno)
    return found


def _binds(script: Any, source: _Source) -> list[tuple[str | None, Any]]:
    """``[(None, metadata)]``, or for ``flask db init --multidb`` migrations (whose
    ``upgrade(engine_name)`` runs one database's part) every Flask-SQLAlchemy bind, the
    default one as ``""`` (the names Flask-Migrate's multi-database ``env.py`` passes)."""
    head = next(iter(script.walk_revisions()), None)
    upgrade = getattr(getattr(head, "module", None), "upgrade", None)
    if upgrade is None or "engine_name" not in inspect.signature(upgrade).parameters:
        return [(None, source.metadata)]
    metadatas = getattr(source.db, "metadatas", None)
    if isinstance(metadatas, dict) and metadatas:
        return [("" if key is None else str(key), data) for key, data in metadatas.items()]
    return [("", source.metadata)]


def _migrate_and_compare(source: _Source) -> list[tuple[str, Any, list[Any]]]:
    """(bind, metadata, Alembic's differences) for the default database (bind ``""``) or,
    with multi-database migrations, for each."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(source.config)
    return [
        (bind or "", metadata, _compare_one(source, script, metadata, bind))
        for bind, metadata in _binds(script, source)
    ]


def _compare_one(source: _Source, script: Any, metadata: Any, bind: str | None) -> list[Any]:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.environment import EnvironmentContext
    from sqlalchemy import create_engine
    from sqlalchemy.pool import StaticPool

    def upgrade(revision: Any, context: Any) -> Any:
        return script._upgrade_revs("heads", revision)

    # One connection to a private in-memory database: nothing is written anywhere.
    engine = create_engine("sqlite://", poolclass=StaticPool)
    try:
        with (
            engine.connect() as connection,
            EnvironmentContext(source.config, script, fn=upgrade, destination_rev="heads") as env,
        ):
            env.configure(connection=connection, target_metadata=metadata, **source.configure_args)
            with env.begin_transaction():
                if bind is None:
                    env.run_migrations()
                else:
                    env.run_migrations(engine_name=bind)
            return list(compare_metadata(env.get_context(), metadata))
    finally:
        engine.dispose()


def _sqlite_type(type_: Any) -> str | None:
    from sqlalchemy.dialects import sqlite

    try:
        return str(type_.compile(dialect=sqlite.dialect()))
    except Exception:  # noqa: BLE001 - a type SQLite cannot render
        return None


def _columns(columns: Any) -> str:
    return ", ".join(str(getattr(column, "name", column)) for column in columns)


def _differences(diff: Any, locator: _Locator) -> Iterator[Difference]:
    """Alembic's diff tuples (and lists of column modifications) as :class:`Difference`."""
    if isinstance(diff, list):
        yield from _modifications(diff, locator)
        return
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        table = diff[1]
        if kind == "add_table":
            file, line = locator.table(table.name)
            yield Difference(
                kind,
                table.name,
                "",
                f"Table {table.name!r} is in the models but not in the migrations.",
                f"add {table.name} table",
                file,
                line,
            )
        else:
            yield Difference(
                kind,
                table.name,
                "",
                f"Table {table.name!r} is in the migrations but no model defines it.",
                f"drop {table.name} table",
            )
    elif kind in ("add_column", "remove_column"):
        _schema, table, column = diff[1], diff[2], diff[3]
        if kind == "add_column":
            file, line = locator.column(table, column.name)
            yield Difference(
                kind,
                table,
                column.name,
                f"Column {table}.{column.name} is in the model but not in the migrations.",
                f"add {table}.{column.name}",
                file,
                line,
            )
        else:
            file, line = locator.table(table)
            yield Difference(
                kind,
                table,
                column.name,
                f"Column {table}.{column.name} is in the migrations but not in the model.",
                f"drop {table}.{column.name}",
                file,
                line,
            )
    elif kind in ("add_index", "remove_index"):
        index = diff[1]
        table = index.table.name if index.table is not None else ""
        what = f"Index {index.name!r} on {table} ({_columns(index.expressions)})"
        file, line = locator.table(table)
        if kind == "add_index":
            message = f"{what} is in the models but not in the migrations."
        else:
            message = f"{what} is in the migrations but not in the models."
        verb = "add" if kind == "add_index" else "drop"
        yield Difference(kind, table, index.name or "", message, f"{verb} {index.name}", file, line)
    elif kind in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        constraint = diff[1]
        table = constraint.table.name if constraint.table is not None else ""
        columns = _columns(constraint.columns)
        if kind.endswith("_fk"):
            target = ", ".join(element.target_fullname for element in constraint.elements)
            what, noun = f"Foreign key {table} ({columns}) -> {target}", "foreign key"
        elif type(constraint).__name__ == "UniqueConstraint":
            what, noun = f"Unique constraint on {table} ({columns})", "unique constraint"
        else:
            what, noun = f"Constraint on {table} ({columns})", "constraint"
        added = kind.startswith("add")
        side = "models but not in the migrations" if added else "migrations but not in the models"
        file, line = locator.table(table)
        yield Difference(
            kind,
            table,
            str(constraint.name or ""),
            f"{what} is in the {side}.",
            f"{'add' if added else 'drop'} {table} {noun}",
            file,
            line,
        )
    else:
        # add_table_comment, remove_table_comment and whatever newer Alembic adds
        table_obj = diff[1] if len(diff) > 1 else None
        table = str(getattr(table_obj, "name", "") or "")
        file, line = locator.table(table)
        readable = kind.replace("_", " ")
        message = f"The models differ from the migrations: {readable}"
        message += f" on table {table!r}." if table else "."
        yield Difference(kind, table, "", message, f"{readable} {table}".strip(), file, line)


def _modifications(changes: list[Any], locator: _Locator) -> Iterator[Difference]:
    """``[("modify_type", schema, table, column, existing, old, new), …]`` for one column."""
    for change in changes:
        kind, _schema, table, column, _existing, old, new = change
        file, line = locator.column(table, column)
        where = f"Column {table}.{column}"
        if kind == "modify_type":
            before, after = _sqlite_type(old), _sqlite_type(new)
            if before is not None and before == after:
                continue  # the same column in SQLite: not comparable on this database
            message = (
                f"{where} is {before or repr(old)} in the migrations "
                f"but {after or repr(new)} in the model."
            )
        elif kind == "modify_nullable":
            message = (
                f"{where} is {'nullable' if old else 'NOT NULL'} in the migrations "
                f"but {'nullable' if new else 'NOT NULL'} in the model."
            )
        elif kind == "modify_default":
            message = f"{where} has a different server default in the model than in the migrations."
        else:
            readable = kind.removeprefix("modify_").replace("_", " ")
            message = f"{where} has a different {readable} in the model than in the migrations."
        yield Difference(kind, table, column, message, f"change {table}.{column}", file, line)


def _registries(db: Any) -> list[Any]:
    """The ORM registries whose mapped classes may define the tables: Flask-SQLAlchemy's
    ``db.Model.registry``, else every registry (a plain ``DeclarativeBase``, as in webkit's
    templates, is known to SQLAlchemy only)."""
    registry = getattr(getattr(db, "Model", None), "registry", None)
    if registry is not None:
        return [registry]
    # (the module, not the legacy function sqlalchemy.orm.mapper of the same name)
    mapper_module = importlib.import_module("sqlalchemy.orm.mapper")
    # private, but in SQLAlchemy since 1.4; without it findings only have no line
    every = getattr(mapper_module, "_all_registries", None)
    return sorted(every(), key=id) if every is not None else []


class _Locator:
    """The model class (and line of the attribute) that defines a table or column."""

    def __init__(self, db: Any, metadata: Any) -> None:
        self._classes: dict[str, Any] = {}
        try:
            registries = _registries(db)
            for registry in registries:
                for mapper in registry.mappers:
                    table = mapper.local_table
                    if getattr(table, "metadata", None) is metadata:
                        self._classes.setdefault(table.name, mapper)
        except Exception:  # noqa: BLE001 - no locations rather than no findings
            self._classes.clear()

    def table(self, table: str) -> tuple[str | None, int | None]:
        """The file and line of the model class mapped to ``table``."""
        try:
            return self._table(table)
        except Exception:  # noqa: BLE001 - an odd class: no location rather than no finding
            return None, None

    def column(self, table: str, column: str) -> tuple[str | None, int | None]:
        """The line that assigns the column's attribute in the class, else the class line."""
        try:
            return self._column(table, column)
        except Exception:  # noqa: BLE001 - as above
            return self.table(table)

    def _table(self, table: str) -> tuple[str | None, int | None]:
        mapper = self._classes.get(table)
        if mapper is None:
            return None, None
        _lines, start = inspect.getsourcelines(mapper.class_)  # OSError: defined in exec()
        return inspect.getsourcefile(mapper.class_), start

    def _column(self, table: str, column: str) -> tuple[str | None, int | None]:
        mapper = self._classes.get(table)
        if mapper is None:
            return None, None
        file, start = self._table(table)
        if start is None:
            return file, start
        keys = [key for key, col in mapper.columns.items() if getattr(col, "name", None) == column]
        lines, _ = inspect.getsourcelines(mapper.class_)
        tree = ast.parse(textwrap.dedent("".join(lines)))
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node in body:
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            if any(isinstance(t, ast.Name) and t.id in keys for t in targets):
                return file, start + node.lineno - 1
        return file, start
