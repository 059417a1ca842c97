"""``webkit shell``: a thin click shim over :mod:`webkit_cli.shell`."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from webkit_cli.commands._options import import_timeout_option, project_options

# Kept here (not imported from webkit_cli.shell) so parsing options imports nothing else;
# a test checks the two stay equal.
INTERFACES = ("auto", "ipython", "ptpython", "python")


@click.command("shell")
@project_options
@import_timeout_option
@click.option(
    "-c",
    "--command",
    "code",
    metavar="CODE",
    help="Run CODE in the shell's namespace and exit (1 if it raises), as python -c.",
)
@click.option(
    "-i",
    "--interface",
    type=click.Choice(INTERFACES),
    default="auto",
    show_default=True,
    envvar="WEBKIT_SHELL",
    help="The prompt: auto picks IPython, then ptpython, then Python's own.",
)
@click.option(
    "--warm/--no-warm",
    default=True,
    show_default=True,
    envvar="WEBKIT_SHELL_WARM",
    help="Fork the shell from a running webkit run's warm process (ready at once); "
    "--no-warm, or no run: import everything here.",
)
def shell_command(
    app: str | None,
    project_dir: str | None,
    import_timeout: float,
    code: str | None,
    interface: str,
    warm: bool,
) -> None:
    """Start a Python shell with the app context pushed and the project's models imported.

    The shell holds app, g, db and session (Flask-SQLAlchemy), the names of the app's
    shell context processors and every model class of the project, found by parsing
    its modules. A line lists what was imported, and what was not (a name taken twice).
    With webkit run running for the project, the shell is forked from its warm process,
    which has the libraries (and the unchanged modules) imported already.

    \b
      webkit shell                              IPython / ptpython when installed
      webkit shell -c 'print(User.query.count())'
      webkit shell -i python                    the standard library's prompt
    """
    chosen = "python"
    if code is None:
        from webkit_cli.shell import pick_interface

        # Before the app import: a missing IPython must not cost the wait for the app.
        chosen = pick_interface(interface)
    options: dict[str, Any] = {
        "project_dir": project_dir,
        "app": app,
        "import_timeout": import_timeout,
        "code": code,
        "interface": chosen,
    }
    if warm:
        served = _serve_in_run(options)
        if served is not None:
            sys.exit(served)
    from webkit_cli import shell

    sys.exit(shell.start(**options))


def _serve_in_run(options: dict[str, Any]) -> int | None:
    """The exit code of the shell a running ``webkit run`` served, or ``None``."""
    # Only this, before it is known whether the app must be imported here: the time a
    # shell forked from the run takes is mostly this process's start-up.
    from webkit_cli.server import _shellclient

    served = _shellclient.serve_in_run(options)
    if isinstance(served, _shellclient.Refusal):
        line = f"webkit run is not serving this shell ({served.reason}): importing it here."
        if sys.stderr.isatty() and "NO_COLOR" not in os.environ:
            line = f"\x1b[2m{line}\x1b[0m"
        click.echo(line, err=True)
        return None
    return served
