"""SQL on the request log: ``3 q 1.2 ms`` per request of a SQLAlchemy app, and an N+1
hint naming the project line that ran one statement per row."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.server._server import Server
from webkit_cli.server.accesslog import AccessEntry, JsonFormatter, PlainFormatter
from webkit_cli.server.sqlstats import N_PLUS_ONE, QueryStats

APP = """\
from flask import Flask
from sqlalchemy import create_engine, pool, text

app = Flask(__name__)
engine = create_engine(
    "sqlite://", poolclass=pool.StaticPool, connect_args={"check_same_thread": False}
)
with engine.begin() as conn:
    conn.execute(text("CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT)"))
    conn.execute(text("CREATE TABLE post (id INTEGER PRIMARY KEY, author_id INTEGER)"))
    for i in range(8):
        conn.execute(text("INSERT INTO author VALUES (:i, :n)"), {"i": i, "n": f"a{i}"})
        conn.execute(text("INSERT INTO post VALUES (:i, :i)"), {"i": i})


@app.get("/three")
def three():
    with engine.connect() as conn:
        for _ in range(3):
            conn.execute(text("SELECT count(*) FROM post")).scalar()
    return "ok"


@app.get("/posts")
def posts():
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, author_id FROM post")).all()
        names = [
            conn.execute(text("SELECT name FROM author WHERE id = :id"), {"id": r[1]}).scalar()
            for r in rows
        ]
    return ",".join(names)


@app.get("/plain")
def plain():
    return "no queries"
"""

NO_SQL_APP = """\
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return "hi"
"""

LINE = re.compile(r"^\S+ GET\s+(/\S+)\s+200 .*$", re.MULTILINE)


def wait_for_stdout(server: Server, text: str, timeout: float = 15.0) -> str:
    """The request log is the workers' stdout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in server.stdout:
            return server.stdout
        time.sleep(0.02)
    raise AssertionError(f"{text!r} not logged:\n{server.stdout}\n{server.stderr}")


def log_line(server: Server, path: str) -> str:
    text = wait_for_stdout(server, f"GET    {path} ")
    for match in LINE.finditer(text):
        if match.group(1) == path:
            return match.group(0)
    raise AssertionError(text)


@pytest.mark.slow
def test_each_request_line_counts_its_queries_and_hints_at_n_plus_one(tmp_path: Path) -> None:
    project = tmp_path / "blog"
    project.mkdir()
    (project / "app.py").write_text(APP, encoding="utf-8")
    server = Server(project, ["--no-reload", "--log-format", "plain"])
    try:
        assert server.get("/three")[0] == 200
        assert re.search(r"  3 q \d+\.\d ms$", log_line(server, "/three"))
        assert server.get("/plain")[0] == 200
        assert re.search(r"  0 q 0\.0 ms$", log_line(server, "/plain"))
        assert "N+1" not in server.stderr

        status, _, body = server.get("/posts")
        assert status == 200 and body.startswith("a0,a1")
        assert re.search(r"  9 q \d+\.\d ms$", log_line(server, "/posts"))
        text = wait_for_stdout(server, "N+1:")
        hint = next(line for line in text.splitlines() if "N+1:" in line)
        line = next(n for n, t in enumerate(APP.splitlines(), 1) if "FROM author WHERE" in t)
        assert hint.strip() == f"↳ N+1: 8 × SELECT name FROM author WHERE id = ? (app.py:{line})"
    finally:
        server.close()
    server.assert_nothing_left()


@pytest.mark.slow
def test_an_app_without_sqlalchemy_has_no_query_column(tmp_path: Path) -> None:
    project = tmp_path / "nosql"
    project.mkdir()
    (project / "app.py").write_text(NO_SQL_APP, encoding="utf-8")
    server = Server(project, ["--no-reload", "--log-format", "plain"])
    try:
        assert server.get("/")[0] == 200
        line = wait_for_stdout(server, "GET    / ").splitlines()
        assert not any(" q " in text for text in line if "GET" in text)
    finally:
        server.close()
    server.assert_nothing_left()


def test_the_same_statement_with_the_same_parameters_is_no_n_plus_one() -> None:
    stats = QueryStats()
    from webkit_cli.server.sqlstats import _Statement

    stats.statements["SELECT 1"] = _Statement(count=N_PLUS_ONE + 3, params={"()"})
    stats.statements["SELECT x WHERE id = ?"] = _Statement(
        count=N_PLUS_ONE, params={"(1,)", "(2,)"}, source="views.py:9"
    )
    stats.statements["SELECT y WHERE id = ?"] = _Statement(
        count=N_PLUS_ONE - 1, params={"(1,)", "(2,)"}
    )
    assert stats.hints() == [f"N+1: {N_PLUS_ONE} × SELECT x WHERE id = ? (views.py:9)"]


def test_json_lines_carry_the_queries_and_hints() -> None:
    entry = AccessEntry(
        time=0.0, method="GET", path="/", query="", status=200, duration_ms=2.0, size=2
    )
    assert "queries" not in json.loads(JsonFormatter().line(entry))
    assert not PlainFormatter().line(entry).endswith("ms  ")
    entry.queries, entry.query_ms, entry.hints = 3, 1.25, ("N+1: 5 × SELECT",)
    data = json.loads(JsonFormatter().line(entry))
    assert (data["queries"], data["query_ms"], data["hints"]) == (3, 1.25, ["N+1: 5 × SELECT"])
    assert PlainFormatter().line(entry).endswith("  3 q 1.2 ms")


def test_a_failing_statement_leaves_no_start_behind() -> None:
    import sqlalchemy
    from sqlalchemy import create_engine, text

    from webkit_cli.server import sqlstats

    assert sqlstats.install(None)
    engine = create_engine("sqlite://")
    stats = QueryStats()
    token = sqlstats.CURRENT.set(stats)
    try:
        with engine.connect() as conn:
            with pytest.raises(sqlalchemy.exc.OperationalError):
                conn.execute(text("SELECT * FROM missing_table"))
            conn.execute(text("SELECT 1"))
            assert not conn.info.get("webkit_sql_start")
    finally:
        sqlstats.CURRENT.reset(token)
    assert stats.count == 1
    # Outside a request nothing is counted.
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert stats.count == 1
