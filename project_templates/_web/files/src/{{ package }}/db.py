"""The database: SQLAlchemy 2.x, one engine per app, one session per request.

``DATABASE_URL`` picks the database (for example
``postgresql+psycopg://user:password@host/dbname``); without it the app uses a
SQLite file in its instance folder, created on first start.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, g
from sqlalchemy import create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """Base class of every model."""


def database_url(app: Flask) -> str:
    """The configured URL, or a SQLite file in the instance folder."""
    url = app.config.get("DATABASE_URL")
    if url:
        return str(url)
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{instance / (app.name + '.db')}"


def init_app(app: Flask) -> None:
    """Create the engine and the tables, and close each request's session."""
    from . import models  # noqa: F401  (registers the tables on Base.metadata)

    engine = create_engine(database_url(app), pool_pre_ping=True)
    app.extensions["sqlalchemy_engine"] = engine
    app.extensions["sqlalchemy_sessionmaker"] = sessionmaker(engine, expire_on_commit=False)
    try:
        Base.metadata.create_all(engine)
    except DBAPIError:
        # Another worker (gunicorn -w 4) created the tables at the same moment.
        Base.metadata.create_all(engine)
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
