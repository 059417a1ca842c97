"""The one place that builds rich consoles and prints errors.

rich is imported inside the functions: importing it costs ~40 ms, and
``webkit --help`` must not pay for it.
"""

from __future__ import annotations

import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


def make_console(*, stderr: bool = False, file: IO[str] | None = None) -> Console:
    """A rich Console honouring NO_COLOR / FORCE_COLOR and plain output when not a TTY."""
    from rich.console import Console

    return Console(
        file=file,
        stderr=stderr and file is None,
        highlight=False,
        soft_wrap=False,
    )


def hanging(console: Console, head: Text, body: Text, indent: int | None = None) -> Text:
    """``head`` then ``body`` wrapped to the terminal, later lines indented under the body.

    The terminal's own wrapping would split words and lose the indentation. Not a terminal
    (a pipe, a CI log): one full line, for grep and for log viewers that wrap themselves.
    """
    if indent is None:
        indent = head.cell_len
    out = head.copy()
    if not console.is_terminal or console.width - indent < 20:
        out.append_text(body)
        return out
    for i, line in enumerate(body.wrap(console, console.width - indent)):
        if i:
            out.append("\n" + " " * indent)
        line.rstrip()
        out.append_text(line)
    return out


def print_error(message: str, *, file: IO[Any] | None = None) -> None:
    """Print ``Error: message`` on stderr, red when the terminal has colour."""
    from rich.markup import escape

    console = make_console(stderr=True, file=file)
    console.print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True)


def print_warning(message: str, *, file: IO[Any] | None = None) -> None:
    """``Warning: message`` on stderr, wrapped with a hanging indent on a terminal."""
    from rich.text import Text

    console = make_console(stderr=True, file=file)
    head = Text.assemble(("Warning:", "bold yellow"), " ")
    console.print(hanging(console, head, Text(message)), soft_wrap=True)


def print_user_traceback(exc: BaseException, *, file: IO[Any] | None = None) -> None:
    """Print the user's exception with a rich traceback.

    :class:`~webkit_cli.errors.AppImportError` has already dropped the frames of webkit and
    of the import machinery (:func:`~webkit_cli.errors.trim_traceback`).
    """

    import click
    from rich.traceback import Traceback

    import webkit_cli

    console = make_console(stderr=True, file=file)
    width = console.width if (file is None and sys.stderr.isatty()) else 100
    tb = Traceback.from_exception(
        type(exc),
        exc,
        exc.__traceback__,
        width=width,
        show_locals=False,
        suppress=[click, webkit_cli],
        max_frames=20,
    )
    console.print(tb)
