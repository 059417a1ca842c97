"""``webkit check``: lint a Flask project for CI (a thin shim over :func:`run_check`)."""

from __future__ import annotations

from pathlib import Path

import click

FORMATS = ("text", "json", "github", "sarif")


def _codes(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> list[str]:
    """Validate ``--select``/``--ignore`` (comma lists, repeatable) against the registry."""
    from webkit_cli.check.registry import expand_codes, split_codes

    codes = split_codes(value)
    try:
        expand_codes(codes)
    except ValueError as exc:
        raise click.BadParameter(f"{exc}. `webkit check --list-rules` lists them.") from exc
    return codes


@click.command("check", short_help="Lint the project for CI.")
@click.argument(
    "path",
    required=False,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--app", "app", envvar="WEBKIT_APP", help="The app: 'module:name' or 'module:factory'."
)
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
@click.option("--list-rules", is_flag=True, help="Print every rule and exit.")
@click.option("--no-import", is_flag=True, help="Run only the rules that need no app import.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the report to this file instead of standard output.",
)
@click.option("--no-dotenv", is_flag=True, help="Do not load .env before importing the app.")
def check_command(
    path: Path | None,
    app: str | None,
    output_format: str,
    select: list[str],
    ignore: list[str],
    fail_level: str | None,
    list_rules: bool,
    no_import: bool,
    output: Path | None,
    no_dotenv: bool,
) -> None:
    """Lint a Flask project: templates, url_for links, routes, security, hygiene.

    Exits 0 when nothing at or above --fail-level was found, 1 when something was,
    2 on usage errors. Silence a finding with `# webkit: ignore[CODE]` (Python),
    `{# webkit: ignore[CODE] #}` (templates) or [tool.webkit.check] ignore = [...].
    """
    from webkit_cli._console import make_console, print_warning
    from webkit_cli.check import reporters
    from webkit_cli.check.registry import Severity
    from webkit_cli.check.runner import run_check

    if list_rules:
        reporters.render_rules(make_console())
        return
    report = run_check(
        path,
        app=app,
        select=select or None,
        ignore=ignore or None,
        fail_level=Severity.parse(fail_level) if fail_level else None,
        no_import=no_import,
        dotenv=not no_dotenv,
    )
    fmt = output_format.lower()
    if fmt == "text":
        if output is not None:
            with output.open("w", encoding="utf-8") as stream:
                reporters.render_text(report, make_console(file=stream))
        else:
            reporters.render_text(report, make_console())
        for note in report.notes:
            print_warning(note)
    else:
        document = reporters.MACHINE_FORMATS[fmt](report)
        if output is not None:
            output.write_text(document, encoding="utf-8")
        else:
            click.echo(document, nl=False)
    raise SystemExit(report.exit_code)
