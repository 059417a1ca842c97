"""``webkit routes``: a thin click shim over :mod:`webkit_cli.routes`."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from webkit_cli.commands._options import import_timeout_option, project_options

if TYPE_CHECKING:
    from webkit_cli.routes import PathDisplay, RouteInfo, RouteProblem

# Kept here (not imported from webkit_cli.routes) so parsing options imports nothing heavy;
# tests check the two stay equal.
SORT_CHOICES = ("rule", "endpoint", "methods", "view", "source")
_METHOD_RE = re.compile(r"^[A-Za-z]+$")
_exit_freeze_registered = False


def _methods_option(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    """``-m get -m post,put`` -> ("GET", "POST", "PUT")."""
    methods: list[str] = []
    for item in value:
        for part in item.split(","):
            method = part.strip()
            if not _METHOD_RE.match(method):
                raise click.BadParameter(
                    f"{part!r} is not an HTTP method. Use e.g. -m GET -m POST.", ctx, param
                )
            methods.append(method.upper())
    return tuple(methods)


def _stdout_is_plain() -> bool:
    """Plain text straight to stdout (no rich at all) when it is not a terminal."""
    if os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE") == "1":
        return False
    return not sys.stdout.isatty()


@click.command("routes")
@project_options
@import_timeout_option
@click.option(
    "-s",
    "--sort",
    type=click.Choice(SORT_CHOICES),
    default="rule",
    show_default=True,
    help="Order of the rows.",
)
@click.option(
    "-m",
    "--method",
    "methods",
    multiple=True,
    metavar="METHOD",
    callback=_methods_option,
    help="Only routes answering this method (repeat or comma-separate for several).",
)
@click.option(
    "-g",
    "--grep",
    metavar="PATTERN",
    help="Only routes whose rule, endpoint or view matches (regex or substring, any case).",
)
@click.option(
    "-b",
    "--blueprint",
    "blueprints",
    multiple=True,
    metavar="NAME",
    help="Only routes of this blueprint and its nested blueprints (repeatable).",
)
@click.option("--all-methods", is_flag=True, help="Also show HEAD and OPTIONS.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (routes and problems).")
@click.option("--strict", is_flag=True, help="Exit 1 when a problem is found (for CI).")
def routes_command(
    app: str | None,
    project_dir: str | None,
    import_timeout: float,
    sort: str,
    methods: tuple[str, ...],
    grep: str | None,
    blueprints: tuple[str, ...],
    all_methods: bool,
    as_json: bool,
    strict: bool,
) -> None:
    """Show the routes of the app: methods, rule, endpoint, view and source line.

    Problems are printed after the table: a rule and method bound to two endpoints,
    a view that cannot take the rule's variables or needs one the rule lacks, /x and
    /x/ on different endpoints, an endpoint without a view.

    \b
      webkit routes                       the whole table
      webkit routes -g user -m POST       POST routes mentioning "user"
      webkit routes -b api --sort source  the api blueprint, in file order
      webkit routes --json | jq '.routes[].rule'
      webkit routes --strict              exit 1 on any problem (CI)
    """
    from webkit_cli.project import ProjectContext
    from webkit_cli.routes import (
        PathDisplay,
        UnknownBlueprintError,
        collect_routes,
        find_problems,
        problems_for,
        select_routes,
        to_json,
    )

    context = ProjectContext.from_options(project_dir=project_dir, app=app)
    # Whatever the app prints while it is imported goes to stderr under --json, so that
    # stdout stays one parseable document for jq.
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        app = context.load_app(timeout=import_timeout)
    with _gc_frozen():
        every_route = collect_routes(app)
        problems = find_problems(app, every_route)
        try:
            shown = select_routes(
                every_route, sort=sort, grep=grep, methods=methods, blueprints=blueprints
            )
        except UnknownBlueprintError as exc:
            raise click.BadParameter(str(exc), param_hint="'-b' / '--blueprint'") from None
        shown_problems = problems_for(problems, shown)
        paths = PathDisplay(context.project.root)
        if as_json:
            click.echo(to_json(shown, shown_problems, all_methods=all_methods, paths=paths))
        else:
            _print_table(shown, len(every_route), all_methods=all_methods, paths=paths)
            _print_problems(shown_problems, paths)

    if strict and shown_problems:
        from webkit_cli.errors import WebkitError

        count = len(shown_problems)
        raise WebkitError(
            f"{count} route problem{'' if count == 1 else 's'} found (--strict). "
            "Fix them, or run without --strict to only warn."
        )


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
    """Keep the garbage collector off the app's object graph while we analyse it.

    The analysis allocates enough to trigger a full collection, which walks every object
    of the freshly imported app: 130 ms of the 5000-route benchmark. Nothing of the app
    is garbage yet, so freezing skips that; unfreezing keeps in-process callers (tests)
    from leaking.

    The interpreter's final collection at exit walks the whole app again (150-300 ms on
    the same benchmark, which ``flask routes`` pays) although the process is ending: an
    ``atexit`` hook freezes everything first so the exit skips it. Objects are still
    freed by reference counting; only finalizers of cyclic garbage are not run, which
    Python never promises at exit anyway.
    """
    import atexit
    import gc

    global _exit_freeze_registered
    if not _exit_freeze_registered:
        atexit.register(gc.freeze)
        _exit_freeze_registered = True
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _print_table(
    shown: list[RouteInfo], total: int, *, all_methods: bool, paths: PathDisplay
) -> None:
    from webkit_cli.routes import build_table

    if not shown:
        if total:
            noun = "route" if total == 1 else "routes"
            click.echo(f"No routes match the filters ({total} {noun} in total).")
        else:
            click.echo("No routes were registered.")
        return
    if _stdout_is_plain():
        # A pipe: full-width aligned text, one route per line, and no rich import.
        table = build_table(shown, all_methods=all_methods, total=total, fit=False, paths=paths)
        click.echo(table.plain(), nl=False)
        return
    from webkit_cli._console import make_console

    table = build_table(shown, all_methods=all_methods, total=total, fit=True, paths=paths)
    make_console().print(table, soft_wrap=True)


def _print_problems(problems: list[RouteProblem], paths: PathDisplay) -> None:
    if not problems:
        return
    from rich.text import Text

    from webkit_cli._console import hanging, make_console

    console = make_console(stderr=True)
    head = Text.assemble(("Warning:", "bold yellow"), " ")
    for problem in problems:
        where = ""
        if problem.source_file:
            where = f"{paths.relative(problem.source_file)}:{problem.source_line}: "
        body = Text.assemble(where, problem.message, " ", (f"[{problem.code}]", "dim"))
        # Wrapped lines start under the message, not under "Warning:" nor at column 0.
        console.print(hanging(console, head, body), soft_wrap=True)
