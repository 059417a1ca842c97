"""The options ``run``, ``routes`` and ``check`` share, declared once (Flask's ``_app_option``).

Parsing them imports nothing heavy: the project and the app are resolved by
:mod:`webkit_cli.project` when the command runs, which is also where ``WEBKIT_APP`` and
``FLASK_APP`` are read (not by click, so the banner can say where the app came from).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

APP_HELP = (
    "The app: 'module', 'module:app', 'module:create_app()', 'module:create_app(\"dev\")', "
    "'path/to/app.py' or 'path/to/app.py:app'. Default: WEBKIT_APP, then FLASK_APP (the "
    "environment, .env, .flaskenv), then [tool.webkit].app, then wsgi.py / app.py."
)
PROJECT_HELP = (
    "Project directory (default: found by walking up from the working directory). "
    "Also WEBKIT_PROJECT."
)

# allow_from_autoenv=False: click must not fill --app from WEBKIT_APP (or WEBKIT_RUN_APP);
# only resolve_app_target reads the variables, so it knows where the value came from.
app_option = click.option(
    "-a", "--app", "app", metavar="IMPORT", allow_from_autoenv=False, help=APP_HELP
)
project_option = click.option(
    "--project",
    "project_dir",
    metavar="DIR",
    type=click.Path(exists=True, file_okay=False, resolve_path=True),
    envvar="WEBKIT_PROJECT",
    help=PROJECT_HELP,
)


def project_options(f: F) -> F:
    """``-a/--app IMPORT`` and ``--project DIR``, the same for every command that has them."""
    return app_option(project_option(f))


#: Seconds an app import may take before webkit gives up on it (issue: an import that hangs).
DEFAULT_IMPORT_TIMEOUT = 20.0

import_timeout_option = click.option(
    "--import-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_IMPORT_TIMEOUT,
    show_default=True,
    metavar="SECONDS",
    envvar="WEBKIT_IMPORT_TIMEOUT",
    help="Seconds the app import may take; a slower or hung import stops, showing where.",
)
