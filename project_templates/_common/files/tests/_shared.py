"""What the tests of one run share instead of making it again for every test's app.

Each test gets an app of its own (``make_app`` in ``conftest.py``), but two things do not
change between them: the compiled code of the templates, and, on a server database, the
models' tables. And no test needs its SQLite file to survive a power cut.
"""

from __future__ import annotations

import sqlite3
from types import CodeType
from typing import Any

from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import Engine, MetaData, create_engine, event


@event.listens_for(Engine, "connect")
def _sqlite_without_disk_sync(dbapi_connection: Any, _record: Any) -> None:
    """Every SQLite connection of the tests commits without waiting for the disk (no fsync,
    the rollback journal in memory): what a crash would lose is thrown away anyway, and
    those waits were half of the suite's wall time."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous = OFF")
        dbapi_connection.execute("PRAGMA journal_mode = MEMORY")


class TemplateCode(BytecodeCache):
    """Jinja's compiled templates, kept in memory for every app of the run.

    Each app has a Jinja environment of its own that compiles every template it renders
    again: that was a third of the suite's time. Every test app comes from the same
    ``create_app``, so the same Jinja settings; a template whose source changed is compiled
    again (its checksum differs).
    """

    def __init__(self) -> None:
        self._code: dict[str, tuple[str, CodeType]] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        found = self._code.get(bucket.key)
        if found is not None and found[0] == bucket.checksum:
            bucket.code = found[1]

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is not None:
            self._code[bucket.key] = (bucket.checksum, bucket.code)


#: Set as ``app.jinja_env.bytecode_cache`` on every app ``make_app`` builds.
TEMPLATE_CODE = TemplateCode()


class ServerDatabase:
    """The server database ``TEST_DATABASE_URL`` points at (e.g. PostgreSQL), shared by the
    tests of the run.

    The models' tables are made once, by the first test that needs them, and emptied after
    each test: on PostgreSQL one ``TRUNCATE ... RESTART IDENTITY`` (ids start at 1 again) costs
    a fraction of the DDL of every table, which dropping and making them for every test ran.
    A test that needs the database without any table (the migrations' tests) has them dropped
    first, and the run leaves the database as empty as it came.
    """

    def __init__(self, url: str, metadata: MetaData) -> None:
        self.url = url
        self.metadata = metadata
        self._engine: Engine | None = None
        self._truncate = ""  # the statement that empties the tables made, "" until made

    @property
    def engine(self) -> Engine:
        """One engine of its own for the tables' DDL, opened on first use."""
        if self._engine is None:
            self._engine = create_engine(self.url)
        return self._engine

    def make_tables(self) -> None:
        """Make the models' tables, unless they are there already (then a no-op)."""
        if self._truncate:
            return
        self.metadata.create_all(self.engine)
        quote = self.engine.dialect.identifier_preparer.quote
        names = ", ".join(quote(table.name) for table in self.metadata.sorted_tables)
        self._truncate = f"TRUNCATE {names} RESTART IDENTITY CASCADE"
        if self.engine.dialect.name == "postgresql":  # rows a killed run left behind
            self.empty_tables()

    def empty_tables(self) -> None:
        """Delete every row; elsewhere than on PostgreSQL, drop the tables."""
        if not self._truncate:
            return
        if self.engine.dialect.name != "postgresql":
            self.drop_tables()
            return
        with self.engine.begin() as connection:
            connection.exec_driver_sql(self._truncate)

    def drop_tables(self) -> None:
        """Drop the models' tables: the database is left as empty as it came."""
        self.metadata.drop_all(self.engine)
        self._truncate = ""

    def close(self) -> None:
        """At the run's end: drop the tables it made and close the engine's connections."""
        if self._truncate:
            self.drop_tables()
        if self._engine is not None:
            self._engine.dispose()
