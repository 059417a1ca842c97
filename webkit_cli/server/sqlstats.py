"""SQL per request: the query count and time on each log line, and an N+1 hint.

When the user's app imported SQLAlchemy, the worker listens to every ``Engine``'s
``before_cursor_execute`` / ``after_cursor_execute`` (class-level listeners, so engines
made later, per request or per test, are counted too). Each request gets a
:class:`QueryStats` through a context variable set by the outermost WSGI layer; a
query run outside a request (at import, in a thread the app started) is not counted.

A request that runs the same SQL text at least :data:`N_PLUS_ONE` times with different
parameters gets a hint naming the line of the project that issued it: the classic N+1,
a lazy relationship loaded once per row of a list.
"""

from __future__ import annotations

import contextvars
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

#: Executions of one statement (with different parameters) that make an N+1 hint.
N_PLUS_ONE: Final = 5
#: Distinct parameter sets remembered per statement (enough to tell "different").
_PARAMS_KEPT: Final = 2
#: The longest SQL text shown in a hint.
SQL_SHOWN: Final = 90


@dataclass(slots=True)
class _Statement:
    count: int = 0
    params: set[str] = field(default_factory=set)
    #: "views.py:14", the project line that ran it, found once the count reaches N_PLUS_ONE
    source: str = ""


@dataclass(slots=True)
class QueryStats:
    """The queries of one request."""

    count: int = 0
    seconds: float = 0.0
    statements: dict[str, _Statement] = field(default_factory=dict)

    @property
    def ms(self) -> float:
        return self.seconds * 1000.0

    def hints(self) -> list[str]:
        """One line per repeated statement: ``N+1: 12 × SELECT … (views.py:14)``."""
        found = []
        for sql, statement in self.statements.items():
            if statement.count >= N_PLUS_ONE and len(statement.params) > 1:
                text = " ".join(sql.split())
                if len(text) > SQL_SHOWN:
                    text = text[: SQL_SHOWN - 1] + "…"
                where = f" ({statement.source})" if statement.source else ""
                found.append(f"N+1: {statement.count} × {text}{where}")
        return found


CURRENT: Final[contextvars.ContextVar[QueryStats | None]] = contextvars.ContextVar(
    "webkit_sql", default=None
)

_installed = False
_root: Path | None = None


def _source_line() -> str:
    """The innermost frame of the project on the current stack, as ``path:line``."""
    from webkit_cli._paths import display_path
    from webkit_cli.server.errorpage import in_project

    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if in_project(filename, _root):
            return f"{display_path(filename, _root)}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return ""


def _before(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
) -> None:
    if CURRENT.get() is not None:
        conn.info.setdefault("webkit_sql_start", []).append(time.perf_counter())


def _after(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
) -> None:
    stats = CURRENT.get()
    if stats is None:
        return
    starts = conn.info.get("webkit_sql_start")
    if not starts:
        return
    stats.seconds += time.perf_counter() - starts.pop()
    stats.count += 1
    entry = stats.statements.get(statement)
    if entry is None:
        entry = stats.statements[statement] = _Statement()
    entry.count += 1
    if len(entry.params) < _PARAMS_KEPT:
        entry.params.add(repr(parameters))
    if entry.count == N_PLUS_ONE and not entry.source:
        entry.source = _source_line()


def _failed(context: Any) -> None:
    """A statement that raised has no ``after_cursor_execute``: forget its start."""
    connection = getattr(context, "connection", None)
    starts = connection.info.get("webkit_sql_start") if connection is not None else None
    if starts:
        starts.pop()


def install(root: str | Path | None) -> bool:
    """Listen to every Engine's cursor executions, once per process, if the app imported
    SQLAlchemy (True when listening)."""
    global _installed, _root
    if "sqlalchemy" not in sys.modules:
        return False
    _root = Path(root).resolve() if root is not None else None
    if _installed:
        return True
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", _before)
    event.listen(Engine, "after_cursor_execute", _after)
    event.listen(Engine, "handle_error", _failed)
    _installed = True
    return True
