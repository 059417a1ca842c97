"""The request log of ``webkit run``: one line per request, in rich, plain or JSON form.

Every request served by a worker becomes an :class:`AccessEntry` that is sent to the
``webkit.access`` logger; :class:`AccessLogHandler` turns it into one line and writes it
with a single ``write`` call (so lines from concurrent requests never interleave).

The hot path is built for throughput (the target is >= 0.9x the requests/s of
``flask run`` with its own log on): styles are rendered to ANSI escape codes once
when the handler is built, the clock string is cached per second, and no rich
``Console`` work happens per request except for the rare 5xx traceback.

JSON lines (``--log-format json``) have these keys::

    time         ISO 8601 UTC with milliseconds, e.g. "2026-11-22T00:53:11.123Z"
    method       "GET"
    path         the request path, percent-decoded, never shortened
    query        the query string ("" when none)
    status       int
    duration_ms  float, 3 decimals: from the request line being read to the last byte sent
    size         int bytes of response body, or null when unknown
    static       bool: a static file (dimmed in the rich format)
    remote_addr  the client address
    exception    only on a 5xx caused by an exception:
                 {"type": "builtins.ValueError", "message": "...", "traceback": "..."}
    queries      only when the app uses SQLAlchemy: int, the request's SQL statements
    query_ms     float, the time they took
    hints        only with an N+1: ["N+1: 8 × SELECT … (views.py:29)"]

The rich and plain lines end with ``  3 q 1.2 ms`` then, with an N+1, one ``  ↳`` line each.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Final

from webkit_cli.server.tracebacks import format_exception, rich_traceback

if TYPE_CHECKING:
    from rich.console import Console

LOGGER_NAME: Final = "webkit.access"

#: Longest path and query shown in the rich and plain formats (JSON is never shortened).
MAX_PATH: Final = 60
MAX_QUERY: Final = 30

#: Unicode categories shown escaped, so a crafted URL cannot forge log lines, recolour the
#: terminal or disguise itself: control characters (Cc, with the ESC that starts ANSI
#: sequences), format characters (Cf: U+202E right-to-left override, U+200B zero-width
#: space, U+FEFF), line and paragraph separators (Zl, Zp: U+2028, U+2029), and lone
#: surrogates (Cs), which the terminal's encoder would refuse.
_ESCAPED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


@dataclass(slots=True)
class AccessEntry:
    """One served request, as handed to the ``webkit.access`` logger."""

    time: float  # seconds since the epoch, when the response finished
    method: str
    path: str
    query: str
    status: int
    duration_ms: float
    size: int | None
    static: bool = False
    remote_addr: str = ""
    exc: BaseException | None = None
    #: SQL queries run by the request (None when the app does not use SQLAlchemy)
    queries: int | None = None
    query_ms: float = 0.0
    #: "N+1: 12 × SELECT … (views.py:14)" lines (sqlstats.py)
    hints: tuple[str, ...] = ()

    def __str__(self) -> str:
        """The plain line; what a generic logging handler prints via ``getMessage()``."""
        return PlainFormatter().line(self)


def clean(text: str) -> str:
    """Escape the characters above; the common printable case costs one C call."""
    if text.isprintable():
        return text
    return "".join(
        _escape(c) if unicodedata.category(c) in _ESCAPED_CATEGORIES else c for c in text
    )


def _escape(char: str) -> str:
    """``\\x1b``, ``\\u202e``, ``\\U000e0001``: the shortest Python escape of the character."""
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def human_size(size: int | None) -> str:
    """``512 B``, ``1.2 kB``, ``3.4 MB``; ``-`` when unknown (decimal units, like browsers)."""
    if size is None:
        return "-"
    if size < 1000:
        return f"{size} B"
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    if size < 1_000_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{size / 1_000_000_000:.1f} GB"


def human_duration(ms: float) -> str:
    """Milliseconds with a precision that suits the magnitude."""
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 10_000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s"


class _Clock:
    """``HH:MM:SS`` local time, formatted once per second (strftime costs ~2 µs)."""

    __slots__ = ("_second", "_text")

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def __call__(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            # Two threads may both reformat the same second; the result is identical.
            self._text = time.strftime("%H:%M:%S", time.localtime(second))
            self._second = second
        return self._text


def _status_class(status: int) -> int:
    return status // 100 if 100 <= status < 600 else 5


class PlainFormatter:
    """``00:53:11 GET    /about?x=1    200  3.2 ms  1.2 kB`` with no colour, ever."""

    def __init__(self) -> None:
        self._clock = _Clock()

    def fields(self, entry: AccessEntry) -> tuple[str, str, str, str, str, str]:
        """The columns of a line: clock, method, target, status, duration, size."""
        path = clean(entry.path)
        target = shorten(path, MAX_PATH)
        if entry.query:
            target = f"{target}?{shorten(clean(entry.query), MAX_QUERY)}"
        return (
            self._clock(entry.time),
            f"{clean(entry.method):<6}",
            f"{target:<32}",
            str(entry.status),
            f"{human_duration(entry.duration_ms):>8}",
            f"{human_size(entry.size):>8}",
        )

    def line(self, entry: AccessEntry) -> str:
        return " ".join(self.fields(entry)) + sql_part(entry)

    def traceback(self, exc: BaseException) -> str:
        return format_exception(exc).rstrip("\n")


class RichFormatter(PlainFormatter):
    """The plain columns with styles: status coloured by class, static files dimmed.

    Styles are rich ``Style`` objects rendered once to ANSI codes for the console's
    colour system; with no colour (``NO_COLOR``, a pipe) the line equals the plain one.
    The 5xx traceback is rendered by rich through the given console settings.
    """

    STATUS_STYLES: Final = {
        1: "dim",
        2: "green",
        3: "cyan",
        4: "yellow",
        5: "bold red",
    }

    def __init__(self, console: Console) -> None:
        super().__init__()
        self._console = console
        self._color = console.color_system is not None
        self._status = {cls: self._codes(style) for cls, style in self.STATUS_STYLES.items()}
        self._time = self._codes("dim")
        self._method = self._codes("bold")
        self._dim = self._codes("dim")
        self._slow = self._codes("yellow")
        self._very_slow = self._codes("bold red")
        self._tb_lock = threading.Lock()

    def _codes(self, style_text: str) -> tuple[str, str]:
        """(start, end) escape sequences for a style, or empty strings without colour."""
        if not self._color:
            return ("", "")
        from rich.color import ColorSystem
        from rich.style import Style

        systems = {
            "standard": ColorSystem.STANDARD,
            "256": ColorSystem.EIGHT_BIT,
            "truecolor": ColorSystem.TRUECOLOR,
            "windows": ColorSystem.WINDOWS,
        }
        system = systems.get(self._console.color_system or "", ColorSystem.STANDARD)
        rendered = Style.parse(style_text).render("\0", color_system=system)
        start, _, end = rendered.partition("\0")
        return (start, end)

    def line(self, entry: AccessEntry) -> str:
        clock, method, target, status, duration, size = self.fields(entry)
        sql = sql_part(entry)
        if not self._color:
            return f"{clock} {method} {target} {status} {duration} {size}{sql}"
        if entry.static:
            d0, d1 = self._dim
            return f"{d0}{clock} {method} {target} {status} {duration} {size}{sql}{d1}"
        t0, t1 = self._time
        m0, m1 = self._method
        s0, s1 = self._status[_status_class(entry.status)]
        if entry.duration_ms >= 2000:
            u0, u1 = self._very_slow
        elif entry.duration_ms >= 500:
            u0, u1 = self._slow
        else:
            u0, u1 = self._dim
        head = f"{t0}{clock}{t1} {m0}{method}{m1} {target}"
        if sql:
            d0, d1 = self._dim if not entry.hints else self._slow
            sql = f"{d0}{sql}{d1}"
        return f"{head} {s0}{status}{s1} {u0}{duration}{u1} {size}{sql}"

    def traceback(self, exc: BaseException) -> str:
        from rich.console import Console

        buffer = io.StringIO()
        # A 5xx is rare: building a rendering console here keeps the hot path free of it.
        console = Console(
            file=buffer,
            width=self._console.width,
            color_system=self._console.color_system,  # type: ignore[arg-type]
            force_terminal=self._color,
            highlight=False,
        )
        with self._tb_lock:
            # Not a terminal (a pipe, a log file): the fold note stays one line, for grep.
            console.print(
                rich_traceback(exc, suppress=_framework_modules()),
                soft_wrap=not self._console.is_terminal,
            )
        return buffer.getvalue().rstrip("\n")


def sql_part(entry: AccessEntry) -> str:
    """``  3 q 1.2 ms`` after the size, for an app that uses SQLAlchemy."""
    if entry.queries is None:
        return ""
    return f"  {entry.queries} q {human_duration(entry.query_ms)}"


def _framework_modules() -> list[Any]:
    """Flask and werkzeug: their frames are listed without source, the user's code stands out."""
    import importlib

    modules = []
    for name in ("flask", "werkzeug"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    return modules


class JsonFormatter:
    """One JSON object per line (keys documented in the module docstring).

    The common line is assembled from pieces, strings escaped by the json module's C
    encoder: ``json.dumps`` of a dict costs about twice as much, on every request.
    Every line is 7-bit ASCII whatever the terminal's encoding.
    """

    def __init__(self) -> None:
        self._second = -1
        self._stamp = ""

    def _time(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._stamp}.{int(now * 1000) % 1000:03d}Z"

    def line(self, entry: AccessEntry) -> str:
        quote = _quote
        size = "null" if entry.size is None else str(int(entry.size))
        text = (
            f'{{"time": "{self._time(entry.time)}", "method": {quote(entry.method)}, '
            f'"path": {quote(entry.path)}, "query": {quote(entry.query)}, '
            f'"status": {int(entry.status)}, "duration_ms": {round(entry.duration_ms, 3)!r}, '
            f'"size": {size}, "static": {"true" if entry.static else "false"}, '
            f'"remote_addr": {quote(entry.remote_addr)}'
        )
        if entry.queries is not None:
            text += f', "queries": {int(entry.queries)}, "query_ms": {round(entry.query_ms, 3)!r}'
            if entry.hints:
                text += f', "hints": {json.dumps(list(entry.hints))}'
        if entry.exc is None or entry.status < 500:
            return text + "}"
        exc_type = type(entry.exc)
        exception = {
            "type": f"{exc_type.__module__}.{exc_type.__qualname__}",
            "message": str(entry.exc),
            "traceback": format_exception(entry.exc),
        }
        return f'{text}, "exception": {json.dumps(exception)}}}'


#: A JSON string literal, ASCII only: the json module's C escaper.
_quote: Callable[[str], str] = json.encoder.encode_basestring_ascii


Formatter = PlainFormatter | JsonFormatter


class AccessLogHandler(logging.Handler):
    """Writes :class:`AccessEntry` records as lines, one ``write`` per line."""

    def __init__(self, formatter: Formatter, stream: IO[str], *, lines: bool = True) -> None:
        super().__init__(logging.INFO)
        self.access_formatter = formatter
        self.stream = stream
        #: False with --no-access-log: only the traceback of a failed request is written.
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        entry = record.msg
        try:
            if not isinstance(entry, AccessEntry):
                text = self.format(record) + "\n"
            else:
                text = self.render(entry)
            if text:
                self.stream.write(text)
                self.stream.flush()
        except Exception:  # a logging handler must never break the request
            self.handleError(record)

    def render(self, entry: AccessEntry) -> str:
        """The text written for ``entry``: the line and, for a 5xx exception, its traceback."""
        fmt = self.access_formatter
        text = fmt.line(entry) + "\n" if self.lines else ""
        if entry.hints and self.lines and isinstance(fmt, PlainFormatter):
            text += "".join(f"  ↳ {clean(hint)}\n" for hint in entry.hints)
        failed = entry.exc is not None and entry.status >= 500
        if failed and isinstance(fmt, PlainFormatter):
            assert entry.exc is not None
            text += fmt.traceback(entry.exc) + "\n"
        elif failed and not self.lines:
            # JSON carries the traceback inside the line; without lines, show it plainly.
            assert entry.exc is not None
            text += PlainFormatter().traceback(entry.exc) + "\n"
        return text


def make_formatter(log_format: str, console: Console | None) -> Formatter:
    """The formatter for ``--log-format``; ``rich`` needs the console that will show it."""
    if log_format == "json":
        return JsonFormatter()
    if log_format == "plain":
        return PlainFormatter()
    if log_format == "rich":
        if console is None:
            from webkit_cli._console import make_console

            console = make_console()
        return RichFormatter(console)
    raise ValueError(f"Unknown log format {log_format!r}: use rich, plain or json.")


def configure_access_logger(
    log_format: str,
    *,
    console: Console | None = None,
    stream: IO[str] | None = None,
    lines: bool = True,
) -> logging.Logger:
    """Set up ``webkit.access`` with one :class:`AccessLogHandler` and return it.

    The logger does not propagate: the lines are already written, and a root handler
    configured by the user's app would print each one a second time.
    """
    import sys

    formatter = make_formatter(log_format, console)
    if stream is None:
        stream = console.file if console is not None else sys.stdout
    logger = logging.getLogger(LOGGER_NAME)
    for old in [h for h in logger.handlers if isinstance(h, AccessLogHandler)]:
        logger.removeHandler(old)
    logger.addHandler(AccessLogHandler(formatter, stream, lines=lines))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def log_entry(logger: logging.Logger, entry: AccessEntry) -> None:
    """Send ``entry`` to ``logger`` without ``Logger.info``'s caller lookup (a stack walk)."""
    if logger.isEnabledFor(logging.INFO):
        record = logger.makeRecord(LOGGER_NAME, logging.INFO, "", 0, entry, (), None)
        logger.handle(record)
