"""D001: models that differ from the schema their migrations build (``alembic check``).

Each test writes a small Flask + Flask-SQLAlchemy + Flask-Migrate project whose migration
is a hand-written revision file (what ``flask db migrate`` writes, trimmed), beside
Flask-Migrate's own ``env.py`` and ``alembic.ini``, then changes one thing.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.check.helpers import check, line_of, make_project
from tests.conftest import build_file_tree
from webkit_cli.cli import cli

needs_migrate = pytest.mark.skipif(
    importlib.util.find_spec("flask_migrate") is None,
    reason="Flask-Migrate is not installed (the oldest-dependencies run)",
)

PYPROJECT = """\
[project]
name = "blog"
version = "0.1.0"

[tool.webkit]
app = "blog:create_app"
"""

INIT_PY = """\
from __future__ import annotations

import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()


def create_app(config=None):
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get("DATABASE_URL", "sqlite:///blog.db")
    if config:
        app.config.update(config)
    db.init_app(app)
    migrate.init_app(app, db)
    from blog import models  # noqa: F401

    return app
"""

MODELS_PY = """\
from __future__ import annotations

import datetime
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from blog import db


class Role(enum.Enum):
    reader = "reader"
    editor = "editor"


class User(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(120), unique=True, index=True)
    role = db.Column(db.Enum(Role), nullable=False, default=Role.reader)
    created = db.Column(db.DateTime, default=datetime.datetime.now)
    active = db.Column(db.Boolean, default=True)
    public_id = db.Column(sa.Uuid, default=uuid.uuid4)
    settings = db.Column(sa.JSON)


class Note(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.ForeignKey("user.id"), nullable=False)
    body = db.Column(db.Text, nullable=False)
    price = db.Column(db.Numeric(10, 2))
"""

REVISION = """\
\"\"\"users and notes

Revision ID: 0001
Revises:
\"\"\"
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=120), nullable=False),
        sa.Column("role", sa.Enum("reader", "editor", name="role"), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=True),
        sa.Column("public_id", sa.Uuid(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_email"), ["email"], unique=True)
    op.create_table(
        "note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("price", sa.Numeric(precision=10, scale=2), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_table("note")
    op.drop_table("user")
"""

VERSION_FILE = "migrations/versions/0001_users_and_notes.py"


def _flask_migrate_file(name: str) -> str:
    """A file of Flask-Migrate's own ``flask db init`` template, as the user would have it."""
    spec = importlib.util.find_spec("flask_migrate")
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin).parent / "templates" / "flask" / name
    return path.read_text(encoding="utf-8")


def blog(root: Path, overrides: dict[str, str | None] | None = None) -> Path:
    """The in-sync project, with ``overrides`` applied (``None`` deletes a file)."""
    files: dict[str, str | None] = {
        "pyproject.toml": PYPROJECT,
        "src/blog/__init__.py": INIT_PY,
        "src/blog/models.py": MODELS_PY,
        "migrations/alembic.ini": _flask_migrate_file("alembic.ini.mako"),
        "migrations/env.py": _flask_migrate_file("env.py"),
        "migrations/script.py.mako": _flask_migrate_file("script.py.mako"),
        VERSION_FILE: REVISION,
        **(overrides or {}),
    }
    root.mkdir(parents=True)
    return build_file_tree(root, {rel: text for rel, text in files.items() if text is not None})


def d001(root: Path) -> list[tuple[str | None, int | None, str, str]]:
    """(file, line, message, fix) of every D001 finding."""
    report = check(root, select=["D001"])
    return [(f.file, f.line, f.message, f.fix_hint) for f in report.findings]


def with_name_column(models: str = MODELS_PY) -> str:
    return models.replace(
        "    settings = db.Column(sa.JSON)\n",
        "    settings = db.Column(sa.JSON)\n    name = db.Column(db.String(80))\n",
    )


@needs_migrate
def test_models_in_sync_with_their_migrations_have_no_finding(tmp_path: Path) -> None:
    root = blog(tmp_path / "blog")
    report = check(root)
    assert [f for f in report.findings if f.code == "D001"] == []
    assert report.notes == []


@needs_migrate
def test_a_column_added_to_a_model_is_one_finding_with_the_fix(tmp_path: Path) -> None:
    models = with_name_column()
    root = blog(tmp_path / "blog", {"src/blog/models.py": models})
    [(file, line, message, fix)] = d001(root)
    assert (file, line) == ("src/blog/models.py", line_of(models, "name = db.Column"))
    assert message == "Column user.name is in the model but not in the migrations."
    assert fix.startswith('Run flask db migrate -m "add user.name"')
    assert fix.endswith("then flask db upgrade.")


@needs_migrate
def test_a_new_model_is_a_finding_for_its_table(tmp_path: Path) -> None:
    models = MODELS_PY + (
        "\n\nclass Tag(db.Model):\n"
        "    id = db.Column(db.Integer, primary_key=True)\n"
        "    label = db.Column(db.String(30), nullable=False)\n"
    )
    root = blog(tmp_path / "blog", {"src/blog/models.py": models})
    [(file, line, message, fix)] = d001(root)
    assert (file, line) == ("src/blog/models.py", line_of(models, "class Tag"))
    assert message == "Table 'tag' is in the models but not in the migrations."
    assert 'flask db migrate -m "add tag table"' in fix


@needs_migrate
def test_removed_column_changed_type_and_nullability_are_each_named(tmp_path: Path) -> None:
    models = MODELS_PY.replace("    price = db.Column(db.Numeric(10, 2))\n", "").replace(
        "mapped_column(sa.String(120), unique=True, index=True)",
        "mapped_column(sa.String(200), unique=True, index=True)",
    )
    models = models.replace("db.Column(db.Text, nullable=False)", "db.Column(db.Text)")
    root = blog(tmp_path / "blog", {"src/blog/models.py": models})
    found = {(line, message) for _file, line, message, _fix in d001(root)}
    assert found == {
        (line_of(models, "class Note"),
         "Column note.price is in the migrations but not in the model."),
        (line_of(models, "body ="),
         "Column note.body is NOT NULL in the migrations but nullable in the model."),
        (line_of(models, "email:"),
         "Column user.email is VARCHAR(120) in the migrations but VARCHAR(200) in the model."),
    }  # fmt: skip


@needs_migrate
def test_no_migrations_folder_means_no_finding(tmp_path: Path) -> None:
    root = blog(
        tmp_path / "blog",
        {
            "src/blog/models.py": with_name_column(),
            "migrations/alembic.ini": None,
            "migrations/env.py": None,
            "migrations/script.py.mako": None,
            VERSION_FILE: None,
        },
    )
    report = check(root)
    assert [f for f in report.findings if f.code == "D001"] == []
    assert report.notes == []


#: what makes a revision impossible to run on SQLite: (text of REVISION, replaced by)
NOT_ON_SQLITE = {
    "an ARRAY column": (
        '        sa.Column("settings", sa.JSON(), nullable=True),\n',
        '        sa.Column("settings", sa.JSON(), nullable=True),\n'
        '        sa.Column("tags", postgresql.ARRAY(sa.String(length=20)), nullable=True),\n',
    ),
    "an extension": (
        "def upgrade():\n",
        'def upgrade():\n    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")\n',
    ),
    # the app's session is the configured database: it must not be reachable from here
    "a data migration through the app's session": (
        "def upgrade():\n",
        'def upgrade():\n    from blog import db\n\n    db.session.execute(sa.text("SELECT 1"))\n',
    ),
}


@needs_migrate
@pytest.mark.parametrize("what", NOT_ON_SQLITE)
def test_migrations_sqlite_cannot_run_are_a_note_not_a_finding(tmp_path: Path, what: str) -> None:
    old, new = NOT_ON_SQLITE[what]
    revision = "from sqlalchemy.dialects import postgresql\n" + REVISION.replace(old, new)
    models = with_name_column().replace(
        "import sqlalchemy as sa\n",
        "import sqlalchemy as sa\nfrom sqlalchemy.dialects import postgresql\n",
    )
    if what == "an ARRAY column":
        models = models.replace(
            "    settings = db.Column(sa.JSON)\n",
            "    settings = db.Column(sa.JSON)\n"
            "    tags = db.Column(postgresql.ARRAY(sa.String(20)))\n",
        )
    # the models drift too (user.name): a comparison of a half-built schema would report it
    root = blog(tmp_path / "blog", {VERSION_FILE: revision, "src/blog/models.py": models})
    report = check(root)
    assert [f for f in report.findings if f.code == "D001"] == []
    [note] = report.notes
    assert note.startswith(
        "D001 was skipped: the migrations in migrations/ could not be applied to a scratch "
        "SQLite database, so they were not compared with the models "
        f"({VERSION_FILE}:"
    )


@needs_migrate
def test_the_users_database_is_never_opened_nor_anything_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # bytecode would be written unless webkit prevents it: the migrations are loaded
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    root = blog(tmp_path / "blog", {"src/blog/models.py": with_name_column()})
    database = root / "blog.db"
    # The user's database has a user.name column and nothing else: compared with it
    # instead of the migrations, the findings would be about other columns and tables.
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE user (id INTEGER PRIMARY KEY, name VARCHAR(80))")
    before = database.read_bytes(), database.stat().st_mtime_ns
    # a factory that ignores the testing configuration: the app's own URL is the file
    init = INIT_PY.replace("def create_app(config=None):", "def create_app():").replace(
        "    if config:\n        app.config.update(config)\n", ""
    )
    (root / "src/blog/__init__.py").write_text(init, encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    files_before = {p for p in root.rglob("*") if "__pycache__" not in p.parts}

    [(_file, _line, message, _fix)] = d001(root)

    assert message == "Column user.name is in the model but not in the migrations."
    assert (database.read_bytes(), database.stat().st_mtime_ns) == before
    files_after = {p for p in root.rglob("*") if "__pycache__" not in p.parts}
    assert files_after == files_before
    assert not list((root / "migrations").rglob("__pycache__"))


@needs_migrate
def test_a_finding_is_silenced_on_its_line(tmp_path: Path) -> None:
    models = with_name_column().replace(
        "    name = db.Column(db.String(80))\n",
        "    name = db.Column(db.String(80))  # webkit: ignore[D001]\n",
    )
    root = blog(tmp_path / "blog", {"src/blog/models.py": models})
    assert d001(root) == []


ALEMBIC_INI = """\
[alembic]
script_location = %(here)s/alembic
"""

PLAIN_INIT_PY = """\
from __future__ import annotations

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


def create_app(config=None):
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///blog.db"
    if config:
        app.config.update(config)
    db.init_app(app)
    from blog import models  # noqa: F401

    return app
"""


def plain_alembic(root: Path, models: str) -> Path:
    """Alembic without Flask-Migrate: alembic.ini at the root, scripts in alembic/."""
    return blog(
        root,
        {
            "src/blog/__init__.py": PLAIN_INIT_PY,
            "src/blog/models.py": models,
            "alembic.ini": ALEMBIC_INI,
            "alembic/env.py": "raise RuntimeError('webkit check must not run env.py')\n",
            "alembic/versions/0001_users_and_notes.py": REVISION,
            "migrations/alembic.ini": None,
            "migrations/env.py": None,
            "migrations/script.py.mako": None,
            VERSION_FILE: None,
        },
    )


@needs_migrate
def test_plain_alembic_at_the_root_is_compared_and_its_fix_named(tmp_path: Path) -> None:
    root = plain_alembic(tmp_path / "blog", with_name_column())
    [(file, _line, message, fix)] = d001(root)
    assert (file, message) == (
        "src/blog/models.py",
        "Column user.name is in the model but not in the migrations.",
    )
    assert fix == (
        'Run alembic revision --autogenerate -m "add user.name", review the new script in '
        "alembic/versions, then alembic upgrade head."
    )


@needs_migrate
def test_without_alembic_the_rule_is_quiet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = plain_alembic(tmp_path / "blog", with_name_column())
    # Alembic made unimportable in the child that imports the app
    stubs = build_file_tree(tmp_path / "stubs", {"alembic.py": "raise ImportError('no')\n"})
    monkeypatch.setenv("PYTHONPATH", str(stubs))
    report = check(root)
    assert [f for f in report.findings if f.code == "D001"] == []
    assert report.notes == []


def test_a_project_without_flask_sqlalchemy_is_quiet(tmp_path: Path) -> None:
    """Also what the oldest-dependencies run checks: no Flask-Migrate, no Flask-SQLAlchemy."""
    root = make_project(
        tmp_path / "demo",
        {"alembic.ini": ALEMBIC_INI, "alembic/env.py": "", "alembic/versions/.keep": ""},
    )
    report = check(root)
    assert report.findings == [] and report.notes == []


@needs_migrate
def test_json_and_sarif_carry_the_finding(runner: CliRunner, tmp_path: Path) -> None:
    root = blog(tmp_path / "blog", {"src/blog/models.py": with_name_column()})
    env = {"WEBKIT_IMPORT_TIMEOUT": "120"}
    result = runner.invoke(cli, ["check", str(root), "--select", "D", "--format", "json"], env=env)
    assert result.exit_code == 1
    [item] = json.loads(result.stdout)["findings"]
    assert (item["code"], item["name"], item["severity"]) == ("D001", "missing-migration", "error")
    assert item["hint"].startswith('Run flask db migrate -m "add user.name"')
    result = runner.invoke(cli, ["check", str(root), "--select", "D", "--format", "sarif"], env=env)
    [run] = json.loads(result.stdout)["runs"]
    assert [r["ruleId"] for r in run["results"]] == ["D001"]


def test_list_rules_shows_d001(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["check", "--list-rules"])
    assert result.exit_code == 0
    assert "D001" in result.stdout and "missing-migration" in result.stdout


@needs_migrate
def test_alembic_logs_nothing_when_the_app_logs_at_info(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    init = INIT_PY.replace(
        "def create_app(config=None):\n",
        "def create_app(config=None):\n"
        "    import logging\n\n"
        "    logging.basicConfig(level=logging.INFO)\n",
    )
    root = blog(tmp_path / "blog", {"src/blog/__init__.py": init})
    assert d001(root) == []
    assert "Running upgrade" not in capfd.readouterr().err


DECLARATIVE_INIT_PY = """\
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from flask import Flask
from flask_migrate import Migrate
from sqlalchemy import Engine, MetaData, create_engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


class MigrationTarget(NamedTuple):
    engine: Engine
    metadata: MetaData


def create_app(config=None):
    app = Flask(__name__)
    app.config["DATABASE_URL"] = "sqlite:///blog.db"
    if config:
        app.config.update(config)
    from blog import models  # noqa: F401

    engine = create_engine(app.config["DATABASE_URL"])
    migrations = Path(__file__).with_name("migrations")
    Migrate(app, MigrationTarget(engine, Base.metadata), directory=str(migrations))
    return app
"""

DECLARATIVE_MODELS_PY = """\
from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from blog import Base


class Item(Base):
    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    price: Mapped[int | None]
"""

ITEMS_REVISION = """\
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None


def upgrade():
    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_table("items")
"""


@needs_migrate
def test_flask_migrate_over_a_plain_declarative_base_as_in_the_templates(tmp_path: Path) -> None:
    """webkit's templates: SQLAlchemy's own DeclarativeBase, Flask-Migrate given an object
    with the engine and metadata, the migrations inside the package."""
    folder = "src/blog/migrations"
    root = blog(
        tmp_path / "blog",
        {
            "src/blog/__init__.py": DECLARATIVE_INIT_PY,
            "src/blog/models.py": DECLARATIVE_MODELS_PY,
            "migrations/alembic.ini": None,
            "migrations/env.py": None,
            "migrations/script.py.mako": None,
            VERSION_FILE: None,
            f"{folder}/alembic.ini": _flask_migrate_file("alembic.ini.mako"),
            f"{folder}/env.py": _flask_migrate_file("env.py"),
            f"{folder}/versions/0001_items.py": ITEMS_REVISION,
        },
    )
    [(file, line, message, fix)] = d001(root)
    assert (file, line) == ("src/blog/models.py", line_of(DECLARATIVE_MODELS_PY, "price:"))
    assert message == "Column items.price is in the model but not in the migrations."
    assert f"review the new script in {folder}/versions" in fix


MULTIDB_INIT_PY = INIT_PY.replace(
    "    if config:\n",
    '    app.config["SQLALCHEMY_BINDS"] = {"audit": "sqlite:///audit.db"}\n    if config:\n',
)

MULTIDB_MODELS_PY = """\
from __future__ import annotations

from blog import db


class User(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(120), nullable=False)


class Event(db.Model):
    __bind_key__ = "audit"
    id = db.Column(db.Integer, primary_key=True)
    action = db.Column(db.String(20), nullable=False)
    ip = db.Column(db.String(45))
"""

#: what `flask db init --multidb` revisions look like: one upgrade_<bind>() per database
MULTIDB_REVISION = """\
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None


def upgrade(engine_name):
    globals()["upgrade_%s" % engine_name]()


def downgrade(engine_name):
    globals()["downgrade_%s" % engine_name]()


def upgrade_():
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade_():
    op.drop_table("user")


def upgrade_audit():
    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade_audit():
    op.drop_table("event")
"""


@needs_migrate
def test_multi_database_migrations_are_compared_per_bind(tmp_path: Path) -> None:
    root = blog(
        tmp_path / "blog",
        {
            "src/blog/__init__.py": MULTIDB_INIT_PY,
            "src/blog/models.py": MULTIDB_MODELS_PY,
            "migrations/env.py": _flask_migrate_file("../flask-multidb/env.py"),
            VERSION_FILE: MULTIDB_REVISION,
        },
    )
    [(file, line, message, _fix)] = d001(root)
    assert (file, line) == ("src/blog/models.py", line_of(MULTIDB_MODELS_PY, "ip ="))
    assert message == "Column event.ip is in the model but not in the migrations (bind 'audit')."


@needs_migrate
def test_a_migration_that_ends_the_process_is_a_note(tmp_path: Path) -> None:
    revision = REVISION.replace(
        "def upgrade():\n", "def upgrade():\n    import os\n\n    os._exit(3)\n"
    )
    root = blog(tmp_path / "blog", {VERSION_FILE: revision})
    report = check(root)
    assert [f for f in report.findings if f.code == "D001"] == []
    [note] = report.notes
    assert note.startswith("D001 was skipped: the app's process stopped answering")


@needs_migrate
def test_indexes_unique_constraints_and_foreign_keys_are_each_named(tmp_path: Path) -> None:
    models = (
        MODELS_PY.replace(
            'db.Column(db.ForeignKey("user.id"), nullable=False)',
            "db.Column(db.Integer, nullable=False)",
        )
        .replace(
            "db.Column(db.Text, nullable=False)", "db.Column(db.Text, nullable=False, unique=True)"
        )
        .replace("db.Column(db.Numeric(10, 2))", "db.Column(db.Numeric(10, 2), index=True)")
    )
    root = blog(tmp_path / "blog", {"src/blog/models.py": models})
    found = {(line, message) for _file, line, message, _fix in d001(root)}
    note = line_of(models, "class Note")
    assert found == {
        (note, "Foreign key note (user_id) -> user.id is in the migrations but not in the models."),
        (note, "Unique constraint on note (body) is in the models but not in the migrations."),
        (note, "Index 'ix_note_price' on note (price) is in the models but not in the migrations."),
    }


_WHAT_IS_IMPORTED = """\
import sys
from flask import Flask
from webkit_cli.check._drift import compare_app

for number, setup in enumerate({setups!r}):
    app = Flask(f"plain{{number}}")
    exec(setup)
    report = compare_app(app, sys.argv[1 + number])
    print(report.status, "alembic" in sys.modules, "sqlalchemy" in sys.modules, flush=True)
"""

#: (app set-up, project files) of apps with nothing to compare
WITHOUT_MIGRATIONS: list[tuple[str, dict[str, str]]] = [
    ("", {}),
    # Flask-Migrate set up, but `flask db init` never run: nothing to compare
    ("app.extensions['migrate'] = type('M', (), {'db': object(), 'directory': 'mig'})()", {}),
    # Flask-SQLAlchemy without an alembic.ini
    ("app.extensions['sqlalchemy'] = object()", {"migrations/env.py": ""}),
]


def test_an_app_without_migrations_is_told_so_without_importing_alembic(tmp_path: Path) -> None:
    """One fresh process for the three apps, one after the other: a case that imported
    Alembic or SQLAlchemy says so on its own line (and so does every one after it)."""
    import subprocess
    import sys

    folders = [
        build_file_tree(tmp_path / str(n), files) for n, (_, files) in enumerate(WITHOUT_MIGRATIONS)
    ]
    for folder in folders:
        folder.mkdir(exist_ok=True)
    script = _WHAT_IS_IMPORTED.format(setups=[setup for setup, _ in WITHOUT_MIGRATIONS])
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, folders)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.splitlines() == ["none False False"] * len(WITHOUT_MIGRATIONS)
