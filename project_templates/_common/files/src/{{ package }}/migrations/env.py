"""Alembic's environment for ``flask db ...`` (Flask-Migrate) and the tests.

The engine and the models come from the app (``db.init_app`` hands them to Flask-Migrate),
so ``DATABASE_URL`` picks the database exactly as it does for the app.
"""

from __future__ import annotations

import logging
from logging.config import fileConfig
from typing import Any

from alembic import context
from flask import current_app
from sqlalchemy import text

config = context.config
logger = logging.getLogger("alembic.env")

# The command line gets alembic.ini's logging; a process that set up its own (pytest, a
# server) keeps it, loggers included.
if config.config_file_name is not None and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

#: The app's engine and ``Base.metadata`` (see ``db.init_app``).
target = current_app.extensions["migrate"].db

#: Any fixed number: containers that start at once take turns on PostgreSQL instead of
#: racing to create the same tables.
LOCK_ID = 7_310_213


def skip_empty_migration(_context: Any, _revision: Any, directives: list[Any]) -> None:
    """``flask db migrate`` without a model change writes no empty migration."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def run_migrations_offline() -> None:
    """``flask db upgrade --sql``: print the SQL for a DBA instead of running it."""
    context.configure(
        url=target.engine.url.render_as_string(hide_password=False),
        target_metadata=target.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    options = dict(current_app.extensions["migrate"].configure_args)
    options.setdefault("process_revision_directives", skip_empty_migration)
    with target.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target.metadata, **options)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Held until this transaction ends: the whole upgrade, DDL included.
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
