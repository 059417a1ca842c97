"""``webkit update``: a thin click shim over :func:`webkit_cli.update.update_project`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("update")
@click.argument(
    "path", required=False, default=".", type=click.Path(file_okay=False, path_type=Path)
)
@click.option(
    "--to",
    "to_version",
    metavar="VERSION",
    help="Template version to update to (default: the newest).",
)
@click.option(
    "-d",
    "--data",
    "data",
    multiple=True,
    metavar="KEY=VALUE",
    help="Change a recorded answer (repeatable), e.g. -d database=postgresql.",
)
@click.option("--dry-run", is_flag=True, help="Show what would change per file; write nothing.")
@click.option(
    "--diff", is_flag=True, help="With --dry-run: print the unified diff of every change."
)
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="Exit 1 when a newer template version exists (for CI).",
)
@click.option("--json", "as_json", is_flag=True, help="With --check: print the result as JSON.")
@click.option(
    "--conflict",
    type=click.Choice(["inline", "rej"]),
    default="inline",
    show_default=True,
    help="inline: git's markers in the file; rej: keep the project's lines, write FILE.rej.",
)
@click.option(
    "--no-verify",
    is_flag=True,
    help="Do not run the project's tests and webkit check on the merged tree first.",
)
@click.option("--force", is_flag=True, help="Apply the update even when its verification fails.")
@click.option("--allow-dirty", is_flag=True, help="Update a git project with uncommitted changes.")
@click.option(
    "--template",
    "template",
    metavar="PATH_OR_URL",
    help="Where the template lives, when not built in or moved (a folder or a git URL).",
)
def update_command(
    path: Path,
    to_version: str | None,
    data: tuple[str, ...],
    dry_run: bool,
    diff: bool,
    check_only: bool,
    as_json: bool,
    conflict: str,
    no_verify: bool,
    force: bool,
    allow_dirty: bool,
    template: str | None,
) -> None:
    """Bring a project made by 'webkit new' up to a newer version of its template.

    A three-way merge: files you did not touch take the new version, files the
    template did not change keep yours, and files both changed are merged line by
    line. Conflicts get git's markers, are listed at the end and (in a git
    repository) marked unmerged, and the command exits 1. Before anything is
    written, the merged project's tests and 'webkit check' run on a copy.

    \b
      webkit update --check         is the project behind its template? (exit 1 if so)
      webkit update --dry-run --diff
      webkit update --to 1.1.0 -d database=postgresql
    """
    from webkit_cli._console import make_console
    from webkit_cli.scaffold.answers import parse_data
    from webkit_cli.update import update_check, update_project

    console = make_console()
    if check_only:
        info = update_check(project_dir=path, template=template)
        if as_json:
            click.echo(json.dumps(info, indent=2))
        elif info["behind"]:
            security = (
                f" Security fixes in {', '.join(info['security'])}: update soon."
                if info["security"]
                else ""
            )
            click.echo(
                f"{info['template']} {info['version']} -> {info['latest']} is available: "
                f"run 'webkit update'.{security}"
            )
        else:
            click.echo(f"Up to date: template {info['template']} {info['version']}.")
        sys.exit(1 if info["behind"] else 0)
    try:
        answers = parse_data(data)
    except click.ClickException as exc:
        raise click.UsageError(exc.message.replace("--data", "-d")) from None
    import os

    from webkit_cli.scaffold.render import cache_root

    result = update_project(
        project_dir=path,
        cache_dir=cache_root(os.environ),
        to_version=to_version,
        data=answers,
        dry_run=dry_run,
        conflict_style=conflict,
        verify=not no_verify,
        force=force,
        allow_dirty=allow_dirty,
        template=template,
    )
    from webkit_cli.update.report import render_plan, unified_diffs

    for line in result.recovered:
        console.print(f"[yellow]Recovered:[/] {line}", soft_wrap=True)
    plan = result.plan
    console.print(render_plan(plan))
    if dry_run:
        if diff:
            click.echo(unified_diffs(plan.changes), nl=False)
        return
    verification = result.verification
    if verification is not None and not verification.ok:
        click.echo(verification.output[-4000:], err=True)
        if not result.applied:
            raise click.ClickException(
                f"The merged project fails its {verification.step}: nothing was changed. "
                "Fix the template or your code, or apply anyway with --force."
            )
        console.print(f"[yellow]Applied despite failing {verification.step} (--force).[/]")
    elif verification is not None:
        console.print("Verified on a copy: the project's tests pass and webkit check is clean.")
    if plan.up_to_date:
        return
    if plan.conflicts:
        names = "\n".join(f"  {c.path}" for c in plan.conflicts)
        where = (
            " and marked unmerged in git (git status lists them)" if result.marked_in_git else ""
        )
        click.echo(
            f"Conflicts remain in {len(plan.conflicts)} file(s){where}; resolve them, "
            f"then commit:\n{names}",
            err=True,
        )
        sys.exit(1)
    console.print(f"[green]Updated[/] to template {plan.provenance.name} {plan.to_version}.")
