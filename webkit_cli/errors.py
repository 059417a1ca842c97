"""The errors webkit raises on purpose; only the CLI layer prints them."""

from __future__ import annotations

from typing import IO, Any

import click


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
        self.original = original

    def show(self, file: IO[Any] | None = None) -> None:
        from webkit_cli._console import print_user_traceback

        print_user_traceback(self.original, file=file)
        super().show(file)


class TemplateError(WebkitError):
    """A project template is malformed (bad template.toml, Jinja syntax error, unsafe path)."""


class ScaffoldError(WebkitError):
    """``webkit new`` refused to write (existing files, bad name, escaping path)."""
