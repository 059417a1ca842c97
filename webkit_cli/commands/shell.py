"""``webkit shell``: a thin click shim over :mod:`webkit_cli.shell`."""

from __future__ import annotations

import sys

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
def shell_command(
    app: str | None,
    project_dir: str | None,
    import_timeout: float,
    code: str | None,
    interface: str,
) -> None:
    """Start a Python shell with the app context pushed and the project's models imported.

    The shell holds app, g, db and session (Flask-SQLAlchemy), the names of the app's
    shell context processors and every model class of the project, found by parsing
    its modules. A line lists what was imported, and what was not (a name taken twice).

    \b
      webkit shell                              IPython / ptpython when installed
      webkit shell -c 'print(User.query.count())'
      webkit shell -i python                    the standard library's prompt
    """
    from webkit_cli import shell
    from webkit_cli.project import ProjectContext

    # Before the app import: a missing IPython must not cost the wait for the app.
    chosen = shell.pick_interface(interface) if code is None else "python"
    context = ProjectContext.from_options(project_dir=project_dir, app=app)
    flask_app = context.load_app(timeout=import_timeout)
    with flask_app.app_context():
        models = shell.find_models(context.project.source_dirs)
        namespace = shell.build_namespace(flask_app, models)
        try:
            if code is not None:
                if namespace.collisions or namespace.failures:
                    click.echo(namespace.summary(), err=True)
                status = shell.run_command(code, namespace.names)
            else:
                banner = (
                    f"Python {sys.version.split()[0]} on {sys.platform}; "
                    f"app {flask_app.import_name!r}, app context pushed.\n{namespace.summary()}"
                )
                shell.interact(namespace.names, banner, chosen)
                status = 0
        finally:
            namespace.close()
    sys.exit(status)
