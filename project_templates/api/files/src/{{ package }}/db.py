"""SQLAlchemy 2.x wiring: one engine per app, one session per app context.

``DATABASE_URL`` picks the database (``postgresql+psycopg://user:pass@host/db``); without it
the app uses ``instance/<package>.sqlite3``. The schema is made and changed by the migrations
in ``migrations/`` (Flask-Migrate): ``flask --app <package> db upgrade`` before the first start
and after each pull; the app itself never creates tables.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app, g
from flask_migrate import Migrate
from sqlalchemy import Engine, MetaData, create_engine
from sqlalchemy.engine import make_url
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


class Database:
    """The app's engine and session factory, created lazily on first use.

    ``migrations/env.py`` reads ``engine`` and ``metadata`` from it.
    """

    metadata = Base.metadata

    def __init__(self, url: str, create_dir: Path | None = None) -> None:
        self.url = url
        #: The instance folder, made on first use when the default SQLite file lives there.
        self.create_dir = create_dir
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        return self._ready()[0]

    def session(self) -> Session:
        """A new session (the engine is made on first use)."""
        return self._ready()[1]()

    def dispose(self) -> None:
        """Close every pooled connection (tests and CLI commands call this at the end)."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
                self._sessions = None

    def _ready(self) -> tuple[Engine, sessionmaker[Session]]:
        with self._lock:
            if self._engine is None or self._sessions is None:
                self._engine = self._connect()
                self._sessions = sessionmaker(self._engine, expire_on_commit=False)
            return self._engine, self._sessions

    def _connect(self) -> Engine:
        if self.create_dir is not None:
            self.create_dir.mkdir(parents=True, exist_ok=True)
        # pre_ping: a server-side restart of PostgreSQL must not fail the next request.
        return create_engine(self.url, pool_pre_ping=True)


def database_url(app: Flask) -> str:
    """The SQLAlchemy URL from ``DATABASE_URL``, defaulting to SQLite in the instance folder."""
    configured = app.config.get("DATABASE_URL")
    if not configured:
        return f"sqlite:///{Path(app.instance_path) / (app.name + '.sqlite3')}"
    url = make_url(configured)
    # Hosting platforms hand out postgres:// URLs; SQLAlchemy would pick psycopg2 for them.
    if url.drivername in {"postgres", "postgresql"}:
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def init_app(app: Flask) -> None:
    """Make the app's ``Database``, add ``flask db ...``, and close each request's session."""
    from . import models  # noqa: F401  (registers the tables on Base.metadata)

    default = not app.config.get("DATABASE_URL")
    create_dir = Path(app.instance_path) if default else None
    database = Database(database_url(app), create_dir)
    app.extensions["database"] = database
    Migrate(app, database, directory=str(MIGRATIONS))
    app.teardown_appcontext(_close_session)


def get_database(app: Flask | None = None) -> Database:
    database: Database = (app or current_app).extensions["database"]
    return database


def get_session() -> Session:
    """The session of the current app context (one per request)."""
    if "db_session" not in g:
        g.db_session = get_database().session()
    session: Session = g.db_session
    return session


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error (for CLI commands)."""
    session = get_database().session()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()
