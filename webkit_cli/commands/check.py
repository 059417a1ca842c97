"""``webkit check``: lint a Flask project for CI (a thin shim over :func:`run_check`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from webkit_cli.commands._options import import_timeout_option, project_options

if TYPE_CHECKING:
    from webkit_cli.check import runmemo
    from webkit_cli.check.runner import CheckReport

FORMATS = ("text", "json", "github", "sarif")


def _codes(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[str]:
    """Validate ``--select``/``--ignore`` (comma lists, repeatable) against the registry."""
    if not value:
        return []  # nothing to validate: the catalogue is not even imported
    from webkit_cli.check.rules import expand_codes, split_codes

    codes = split_codes(value)
    try:
        expand_codes(codes)
    except ValueError as exc:
        raise click.BadParameter(f"{exc}. `webkit check --list-rules` lists them.") from exc
    return codes


def _render_to_string(report: CheckReport, fmt: str) -> str:
    import io

    from webkit_cli._console import make_console
    from webkit_cli.check import reporters

    if fmt != "text":
        return reporters.MACHINE_FORMATS[fmt](report)
    buffer = io.StringIO()
    reporters.render_text(report, make_console(file=buffer))
    return buffer.getvalue()


def _plain_stdout() -> bool:
    """True when rich would print to stdout without colour: not a terminal, and no
    ``FORCE_COLOR``/``TTY_COMPATIBLE`` saying otherwise (as ``rich.Console.is_terminal``)."""
    import os
    import sys

    if "FORCE_COLOR" in os.environ or "TTY_COMPATIBLE" in os.environ:
        return False
    try:
        return not sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _snapshot(start: Path | str | None) -> runmemo.Snapshot | None:
    """What a --no-import run may read, before it reads it (``None``: not a project
    webkit can find; the run reports that as usual)."""
    from webkit_cli.check import runmemo
    from webkit_cli.project import find_project

    try:
        begin = Path(start).resolve() if start is not None else Path.cwd()
        return runmemo.Snapshot(begin, find_project(begin).root)
    except Exception:  # noqa: BLE001 - the run itself reports a broken project
        return None


def _utf8_stdout() -> bool:
    import sys

    encoding = getattr(sys.stdout, "encoding", None) or ""
    return encoding.lower().replace("-", "").replace("_", "") == "utf8"


def _write_report(path: Path, text: str) -> None:
    """Write atomically: a CI step never uploads half a SARIF file."""
    import os
    import tempfile

    from webkit_cli.errors import WebkitError

    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        tmp.chmod(0o644)  # mkstemp makes it private; a report is an ordinary file
        tmp.replace(path)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise WebkitError(
            f"Cannot write the report to {path}: {exc.strerror or exc}. "
            "Check that its folder exists and is writable."
        ) from exc


@click.command("check")
@click.argument(
    "path",
    required=False,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@project_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS, case_sensitive=False),
    default="text",
    show_default=True,
    help="text for people, github for workflow annotations, json or sarif for tools.",
)
@click.option("--select", multiple=True, callback=_codes, help="Only these codes or prefixes.")
@click.option("--ignore", multiple=True, callback=_codes, help="Skip these codes or prefixes.")
@click.option(
    "--fail-level",
    type=click.Choice(["error", "warning"], case_sensitive=False),
    default=None,
    help="Exit 1 when a finding at or above this severity exists.  [default: error]",
)
@click.option(
    "--list-rules", is_flag=True, help="Print every rule and exit (as JSON with --format json)."
)
@click.option("--no-import", is_flag=True, help="Run only the rules that need no app import.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the report to this file instead of standard output.",
)
@click.option("--no-dotenv", is_flag=True, help="Do not load .env before importing the app.")
@import_timeout_option
@click.option(
    "--watch",
    is_flag=True,
    help="Check again on every save and print the new and fixed findings (Ctrl-C stops).",
)
def check_command(
    path: Path | None,
    app: str | None,
    project_dir: str | None,
    output_format: str,
    select: list[str],
    ignore: list[str],
    fail_level: str | None,
    list_rules: bool,
    no_import: bool,
    output: Path | None,
    no_dotenv: bool,
    import_timeout: float,
    watch: bool,
) -> None:
    """Lint a Flask project: templates, url_for links, routes, security, hygiene.

    Exits 0 when nothing at or above --fail-level was found, 1 when something was,
    2 on usage errors. Silence a finding with `# webkit: ignore[CODE]` (Python),
    `{# webkit: ignore[CODE] #}` (templates) or [tool.webkit.check] ignore = [...].
    """
    if list_rules:
        from webkit_cli._console import make_console
        from webkit_cli.check import reporters

        if output_format.lower() == "text":
            reporters.render_rules(make_console())
        else:  # json, github and sarif readers all get the machine-readable table
            click.echo(reporters.rules_json(), nl=False)
        return
    if path is not None and project_dir is not None and path.resolve() != Path(project_dir):
        raise click.UsageError("Give the project as PATH or as --project DIR, not both.")
    if watch and (output is not None or output_format.lower() != "text"):
        raise click.UsageError("--watch prints text to the terminal: drop --format/--output.")
    if watch:
        import contextlib

        from webkit_cli.check.watch import watch_check

        # Ctrl-C during a run: run_check has already closed its child and its pool
        with contextlib.suppress(KeyboardInterrupt):
            watch_check(
                path if path is not None else project_dir,
                echo=click.echo,
                app=app,
                select=select or None,
                ignore=ignore or None,
                no_import=no_import,
                dotenv=not no_dotenv,
                import_timeout=import_timeout,
            )
        return
    fmt = output_format.lower()
    # A plain-text --no-import run replays the last one's output when nothing it depends
    # on has changed (check.runmemo): no rule, index or template is loaded.
    memo = None
    if no_import and output is None and fmt == "text" and _plain_stdout() and _utf8_stdout():
        from webkit_cli.check import runmemo

        memo_options = (
            None if path is None else str(path.resolve()), project_dir, app, tuple(select),
            tuple(ignore), fail_level, no_dotenv, import_timeout,
        )  # fmt: skip
        replayed = runmemo.replay(memo_options)
        if replayed is not None:
            click.echo(replayed[0], nl=False)
            raise SystemExit(replayed[1])
        memo = (memo_options, _snapshot(path if path is not None else project_dir))
    from webkit_cli._console import make_console, print_warning
    from webkit_cli.check import reporters
    from webkit_cli.check.rules import Severity
    from webkit_cli.check.runner import run_check

    # The app's child starts now, loading Python and Flask while this process loads the
    # rules and finds the project (it is told what to import once that is known).
    child = None
    if not no_import:
        from webkit_cli.check.appimport import AppImport

        child = AppImport.prestart()
    report = run_check(
        path if path is not None else project_dir,
        child=child,
        app=app,
        select=select or None,
        ignore=ignore or None,
        fail_level=Severity.parse(fail_level) if fail_level else None,
        no_import=no_import,
        dotenv=not no_dotenv,
        import_timeout=import_timeout,
    )
    if memo is not None and memo[1] is not None and not report.notes:
        from webkit_cli.check import runmemo

        # rendered as a plain stdout shows it (a console on a pipe: no colour, no wrap)
        text = _render_to_string(report, fmt) if report.findings else reporters.ALL_PASSED + "\n"
        click.echo(text, nl=False)
        if memo[1].root == report.root:
            runmemo.record(memo[0], memo[1], text, report.exit_code)
        raise SystemExit(report.exit_code)
    if output is not None:
        _write_report(output, _render_to_string(report, fmt))
    elif fmt == "text" and not report.findings and _plain_stdout():
        click.echo(reporters.ALL_PASSED)  # what rich prints here, without importing it
    elif fmt == "text":
        reporters.render_text(report, make_console())
    else:
        click.echo(reporters.MACHINE_FORMATS[fmt](report), nl=False)
    if fmt == "text":
        for note in report.notes:
            print_warning(note)
    raise SystemExit(report.exit_code)
