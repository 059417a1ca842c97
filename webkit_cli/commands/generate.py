"""``webkit generate GENERATOR NAME [FIELD:TYPE[:OPTIONS] ...]``: a click shim over
:mod:`webkit_cli.generate`.

The generators are the project's template's (``generators/`` in the template folder), so
the sub-commands are found when the command runs: ``webkit generate --help`` inside a
project lists the ones its template provides.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from webkit_cli.generate.core import GeneratePlan
    from webkit_cli.generate.generator import Generator

FIELDS_HELP = (
    "FIELD:TYPE[:OPTIONS]: types str, text, int, float, bool, date, datetime, decimal, "
    "email, url, ref:MODEL; options required, unique, index, max=N (str, email, url), "
    "default=VALUE. Example: title:str:max=80:required."
)


def _project_start(ctx: click.Context) -> Path:
    folder = ctx.params.get("project_dir") or os.environ.get("WEBKIT_PROJECT") or "."
    return Path(folder)


def _generators(start: Path) -> dict[str, Generator]:
    from webkit_cli.generate.generator import find_generators, template_root_for
    from webkit_cli.generate.project import read_project

    info = read_project(start)
    return find_generators(template_root_for(info.template, info.template_source))


class GeneratorGroup(click.Group):
    """Sub-commands made from the generators of the project's template."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from webkit_cli.errors import WebkitError

        try:
            return sorted(_generators(_project_start(ctx)))
        except WebkitError:
            return []  # outside a generated project there is nothing to list

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from webkit_cli.errors import WebkitError

        try:
            generators = _generators(_project_start(ctx))
        except WebkitError:
            if ctx.resilient_parsing:
                return None
            raise
        generator = generators.get(cmd_name)
        if generator is None:
            if ctx.resilient_parsing:
                return None
            import difflib

            known = ", ".join(sorted(generators)) or "none"
            close = difflib.get_close_matches(cmd_name, list(generators), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            from webkit_cli.generate.fields import GenerateError

            raise GenerateError(
                f"The project's template has no generator {cmd_name!r}.{hint} "
                f"Its generators: {known}."
            )
        return _command_for(generator)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_commands(ctx, formatter)
        if not self.list_commands(ctx):
            with formatter.section("Generators"):
                formatter.write_text(
                    "Run inside a project made by 'webkit new' (or give --project DIR) to "
                    "see the generators its template provides."
                )


def _command_for(generator: Generator) -> click.Command:
    @click.command(generator.name, help=f"{generator.description}\n\n{FIELDS_HELP}")
    @click.argument("name")
    @click.argument("fields", nargs=-1, metavar="[FIELD:TYPE[:OPTIONS]]...")
    @click.option("--dry-run", is_flag=True, help="Show every file and edit; write nothing.")
    @click.option("--force", is_flag=True, help="Replace generated files that already exist.")
    @click.option("--no-migration", is_flag=True, help="Do not write a migration (write your own).")
    @click.option("--api", "style", flag_value="api", help="JSON endpoints.")
    @click.option("--html", "style", flag_value="html", help="HTML pages with forms.")
    @click.pass_context
    def command(
        ctx: click.Context,
        name: str,
        fields: tuple[str, ...],
        dry_run: bool,
        force: bool,
        no_migration: bool,
        style: str | None,
    ) -> None:
        run_generator(
            ctx,
            generator,
            name,
            list(fields),
            dry_run=dry_run,
            force=force,
            migration=not no_migration,
            style=style,
        )

    # A generator's one-line help is its description (cli.py's table holds only webkit's
    # own commands'): whole, where click would cut it at 45 characters.
    command.short_help = generator.description
    return command


def _pick(generator: Generator, style: str | None, start: Path) -> Generator:
    if style is None or style == generator.style:
        return generator
    from webkit_cli.generate.fields import GenerateError

    variant = _generators(start).get(f"{generator.name}-{style}")
    if variant is None:
        raise GenerateError(
            f"The project's template has no --{style} variant of {generator.name!r} "
            f"(its {generator.name} makes {generator.style.upper()} {_style_noun(generator)})."
        )
    return variant


def _style_noun(generator: Generator) -> str:
    return "pages" if generator.style == "html" else "endpoints"


def run_generator(
    ctx: click.Context,
    generator: Generator,
    name: str,
    fields: list[str],
    *,
    dry_run: bool,
    force: bool,
    migration: bool,
    style: str | None,
) -> None:
    from webkit_cli._console import make_console
    from webkit_cli.generate.core import apply_plan, plan_generate
    from webkit_cli.generate.project import read_project

    start = _project_start(ctx.parent or ctx)
    info = read_project(start)
    generator = _pick(generator, style, start)
    plan = plan_generate(info, generator, name, fields, migration=migration)
    console = make_console()
    _print_plan(console, plan, dry_run=dry_run, force=force)
    if dry_run:
        console.print("[dim]Nothing was written (--dry-run).[/]")
        return
    apply_plan(plan, force=force)
    count = len(plan.add) + (len(plan.conflicts) if force else 0)
    console.print(
        f"[green]Wrote[/] {count} file{'s' * (count != 1)} and edited {len(plan.edited)} of yours."
    )
    _print_next(console, plan)


def _print_plan(console: Any, plan: GeneratePlan, *, dry_run: bool, force: bool) -> None:
    from rich.markup import escape

    info = plan.info
    console.print(
        f"{'Would generate' if dry_run else 'Generating'} {plan.generator.name} "
        f"[bold]{plan.names.singular}[/] ({plan.names.model}, {plan.names.url}) in "
        f"{escape(info.root.name)} "
        f"(template {escape(info.template)} {escape(info.template_version)}):"
    )
    for entry in plan.add:
        console.print(f"  [green]create[/]     {escape(entry.path.as_posix())}")
    for entry in plan.conflicts:
        verb = "[yellow]replace[/]   " if force else "[red]conflict[/]  "
        console.print(f"  {verb} {escape(entry.path.as_posix())}")
    for path in plan.unchanged:
        console.print(f"  [dim]identical  {escape(path.as_posix())}[/]")
    by_file: dict[str, list[Any]] = {}
    for applied in plan.applied:
        by_file.setdefault(applied.edit.file, []).append(applied)
    for file, edits in by_file.items():
        console.print(f"  [cyan]edit[/]       {escape(file)}")
        for applied in edits:
            console.print(f"             [dim]{escape(applied.edit.why)}:[/]")
            for line in applied.added:
                console.print(f"               [green]+[/] {escape(line)}", highlight=False)
    for edit in plan.already:
        console.print(f"  [dim]has        {escape(edit.file)} ({escape(edit.why)})[/]")


def _print_next(console: Any, plan: GeneratePlan) -> None:
    package = plan.info.package
    steps = []
    if plan.migration:
        steps.append(f"flask --app {package} db upgrade   # create the {plan.names.table} table")
    steps += ["python -m pytest", f"webkit routes   # the new routes under {plan.names.url}"]
    console.print("Next:")
    for step in steps:
        console.print(f"  {step}", highlight=False, markup=False)


@click.group(
    "generate",
    cls=GeneratorGroup,
    invoke_without_command=False,
    help=(
        "Add code to the project from its template's generators: a resource (model, "
        "migration, views, templates, tests) with `webkit generate resource NAME FIELD:TYPE "
        "...`.\n\nEvery file and edit is planned first and written all at once; nothing is "
        "written when a file exists (unless --force) or an edit cannot be made."
    ),
)
@click.option(
    "--project",
    "project_dir",
    metavar="DIR",
    type=click.Path(exists=True, file_okay=False, resolve_path=True),
    envvar="WEBKIT_PROJECT",
    is_eager=True,
    help="The project (default: found by walking up from the working directory).",
)
def generate_command(project_dir: str | None) -> None:
    """The group's callback: the sub-command does the work."""
