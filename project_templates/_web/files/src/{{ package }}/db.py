"""The database: SQLAlchemy 2.x, one engine per app, one session per request.

``DATABASE_URL`` picks the database (for example
``postgresql+psycopg://user:password@host/dbname``); without it the app uses a
SQLite file in its instance folder. The schema is made and changed by the migrations in
``migrations/`` (Flask-Migrate): ``flask --app <package> db upgrade`` before the first start
and after each pull; the app itself never creates tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from flask import Flask, current_app, g
from flask_migrate import Migrate
from sqlalchemy import Engine, MetaData, create_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

#: Where the migrations live: inside the package, so an installed wheel (the Docker image)
#: has them too.
MIGRATIONS = Path(__file__).with_name("migrations")

#: Named constraints: a later migration can drop or alter them (SQLite's batch mode needs it).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class MigrationTarget(NamedTuple):
    """What ``migrations/env.py`` reads from ``app.extensions["migrate"].db``."""

    engine: Engine
    metadata: MetaData


def database_url(app: Flask) -> str:
    """The configured URL, or a SQLite file in the instance folder."""
    url = app.config.get("DATABASE_URL")
    if url:
        return str(url)
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{instance / (app.name + '.db')}"


def init_app(app: Flask) -> None:
    """Create the engine, add ``flask db ...``, and close each request's session."""
    from . import models  # noqa: F401  (registers the tables on Base.metadata)

    engine = create_engine(database_url(app), pool_pre_ping=True)
    app.extensions["sqlalchemy_engine"] = engine
    app.extensions["sqlalchemy_sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    Migrate(app, MigrationTarget(engine, Base.metadata), directory=str(MIGRATIONS))
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    """The current request's session, opened on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["sqlalchemy_sessionmaker"]()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
