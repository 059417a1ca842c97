"""The errors webkit raises on purpose; only the CLI layer prints them."""

from __future__ import annotations

from typing import IO, Any

import click

#: The exit status of a process stopped by a bug in webkit itself (sysexits' EX_SOFTWARE):
#: the supervisor tells it apart from a crash of the user's code.
BUG_EXIT_CODE = 70


class WebkitError(click.ClickException):
    """An expected failure: one ``Error: ...`` line that says what to do, exit code 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        from webkit_cli._console import print_error

        print_error(self.format_message(), file=file)


class ProjectError(WebkitError):
    """The project or its ``[tool.webkit]`` configuration is unusable."""


class NoAppError(WebkitError):
    """The Flask app could not be located (wrong import string, missing module or name)."""


class AppImportError(WebkitError):
    """The user's own code raised while webkit imported the app or called its factory.

    ``original`` is the user's exception; the CLI prints its full traceback (their
    code, not webkit's) followed by the one-line message.
    """

    def __init__(self, message: str, original: BaseException) -> None:
        super().__init__(message)
        trim_traceback(original)
        self.original = original

    def show(self, file: IO[Any] | None = None) -> None:
        from webkit_cli._console import print_user_traceback

        print_user_traceback(self.original, file=file)
        super().show(file)


class TemplateError(WebkitError):
    """A project template is malformed (bad template.toml, Jinja syntax error, unsafe path)."""


class ScaffoldError(WebkitError):
    """``webkit new`` refused to write (existing files, bad name, escaping path)."""


class UpdateError(WebkitError):
    """``webkit update`` cannot go on (no provenance, unknown version, dirty tree)."""


def _is_machinery(filename: str, package: str) -> bool:
    """Frames of the import system and of webkit: never the user's business."""
    import os

    return (
        filename.startswith("<frozen ")
        or f"{os.sep}importlib{os.sep}" in filename
        or filename.startswith(package + os.sep)
    )


def trim_traceback(exc: BaseException) -> None:
    """Drop the import machinery's and webkit's frames from ``exc``'s traceback, in place.

    A syntax error in ``views.py`` then shows ``views.py`` alone, not ten frames of
    ``importlib`` around it; the terminal, ``webkit run``'s error page and ``webkit
    check``'s finding all get the user's frames only. Chained exceptions are trimmed too.
    """
    from pathlib import Path

    package = str(Path(__file__).parent)
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kept = []
        tb = current.__traceback__
        while tb is not None:
            if not _is_machinery(tb.tb_frame.f_code.co_filename, package):
                kept.append(tb)
            tb = tb.tb_next
        # Relink only where frames were dropped: CPython's tb_next setter walks the whole
        # chain after the new next frame (a cycle check), so relinking every frame of an
        # import that recursed 100,000 deep took the better part of a minute.
        for a, b in zip(kept, kept[1:], strict=False):
            if a.tb_next is not b:
                a.tb_next = b
        if kept:
            kept[-1].tb_next = None
        current.__traceback__ = kept[0] if kept else None
        current = current.__cause__ or current.__context__


def report_bug(exc: BaseException, *, file: IO[Any] | None = None) -> None:
    """An exception that escaped webkit's own code: its full traceback, then what to do.

    Errors of the user's code are wrapped (:class:`AppImportError`) before they get here;
    what is left is webkit's bug, so every frame is kept, webkit's included.
    """
    import sys
    import traceback

    from webkit_cli import __version__
    from webkit_cli._console import print_error

    stream = file if file is not None else sys.stderr
    traceback.print_exception(exc, file=stream)
    print_error(
        f"{type(exc).__name__} inside webkit {__version__}: this is a bug in webkit, please "
        "report it with the traceback above.",
        file=file,
    )
