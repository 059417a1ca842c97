"""``webkit new``: a thin click shim over :func:`webkit_cli.scaffold.create_project`."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from rich.console import Console

    from webkit_cli.scaffold.prompts import Prompter
    from webkit_cli.scaffold.template import Template


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """Turn SIGTERM into SystemExit while writing, so the clean-up code runs as on Ctrl-C.

    Python's default SIGTERM handling exits without unwinding, which would leave the
    hidden staging folder (or a half-applied --force) behind.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _is_interactive(no_input: bool) -> bool:
    return not no_input and sys.stdin.isatty()


def print_template_list(console: Console) -> None:
    """``webkit new --list``: the built-in templates as a rich table."""
    from rich.table import Table

    from webkit_cli.scaffold.template import list_templates

    table = Table(title="webkit templates", title_justify="left")
    table.add_column("template", style="bold")
    table.add_column("version")
    table.add_column("description")
    for tpl in list_templates():
        table.add_row(tpl.root.name, tpl.version, tpl.description)
    console.print(table)
    console.print("Use one with 'webkit new NAME -t TEMPLATE', or pass a path to your own folder.")


def _ask_builtins(
    prompter: Prompter,
    *,
    name: str | None,
    template: str | None,
    package: str | None,
    description: str | None,
    author: str | None,
) -> tuple[str, Template, str, str, str]:
    """Prompt for whatever built-in answer is missing (interactive runs only)."""
    from webkit_cli.scaffold.engine import git_user_name
    from webkit_cli.scaffold.names import (
        normalise_package,
        resolve_names,
        validate_package,
        validate_project_name,
    )
    from webkit_cli.scaffold.template import builtin_template_names, resolve_template

    if name is None:
        name = prompter.checked("Project name", "mysite", validate_project_name)
    if template is None:
        names = builtin_template_names()
        template = prompter.text(
            "Template", default="site" if "site" in names else None, choices=names
        )
    tpl = resolve_template(template)
    if package is None:
        package = prompter.checked("Python package", normalise_package(name), validate_package)
    resolve_names(name, package)  # names given as options: fail before asking anything else
    if description is None:
        description = prompter.text("Description", default=tpl.description)
    if author is None:
        author = prompter.text("Author", default=git_user_name())
    return name, tpl, package, description, author


def _question_options(args: list[str], tpl: Template) -> dict[str, str]:
    """Template questions given as options: ``--database postgresql`` or ``--docker=yes``.

    click cannot declare them (they depend on the template chosen at run time), so the
    command accepts unknown options and this turns them into answers. Anything that is not
    one of the template's questions is still a usage error, with the valid choices.
    """
    names = {q.name: q for q in tpl.questions}
    answers: dict[str, str] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not token.startswith("--") or token == "--":
            raise click.UsageError(f"Got unexpected extra argument ({token}).")
        option, eq, value = token[2:].partition("=")
        key = option.replace("-", "_")
        question = names.get(key)
        if question is None:
            known = ", ".join(f"--{n.replace('_', '-')}" for n in names) or "none"
            raise click.UsageError(
                f"No such option: --{option}. Template {tpl.name!r} questions: {known} "
                "(see webkit new --help for the others)."
            )
        if not eq:
            following = args[i + 1] if i + 1 < len(args) else None
            if following is not None and not following.startswith("--"):
                value = following
                i += 1
            elif question.type == "bool":
                value = "true"
            else:
                raise click.UsageError(f"Option --{option} requires a value.")
        answers[key] = value
        i += 1
    return answers


@click.command(
    "new",
    short_help="Create a project from a template.",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("name", required=False)
@click.option(
    "-t",
    "--template",
    metavar="site|api|ajax|PATH",
    help="Built-in template name or a template folder.  [default: site]",
)
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=True, dir_okay=True, path_type=Path),
    metavar="PARENT",
    default=Path(),
    show_default=True,
    help="Folder to create the project in.",
)
@click.option("--package", metavar="IDENT", help="Python package name.  [default: NAME normalised]")
@click.option(
    "--description", metavar="TEXT", help="One-line description.  [default: the template's]"
)
@click.option("--author", metavar="TEXT", help="Author.  [default: git's user.name]")
@click.option(
    "-d",
    "--data",
    metavar="KEY=VALUE",
    multiple=True,
    help="Answer a template question (repeatable).",
)
@click.option(
    "--no-input", is_flag=True, help="Never prompt: use defaults, fail if one is missing."
)
@click.option(
    "--dry-run", is_flag=True, help="Print the tree that would be written; write nothing."
)
@click.option("--force", is_flag=True, help="Use an existing folder: add the missing files.")
@click.option(
    "--overwrite", is_flag=True, help="With --force: replace files whose content differs."
)
@click.option(
    "--install/--no-install",
    default=None,
    help="pip install -e '.[dev]' into this environment.  [default: on when interactive]",
)
@click.option(
    "--git/--no-git",
    default=None,
    help="git init and make an initial commit.  [default: on when git is installed]",
)
@click.option("--list", "list_", is_flag=True, help="List the built-in templates and exit.")
@click.pass_context
def new_command(
    ctx: click.Context,
    name: str | None,
    template: str | None,
    parent: Path,
    package: str | None,
    description: str | None,
    author: str | None,
    data: tuple[str, ...],
    no_input: bool,
    dry_run: bool,
    force: bool,
    overwrite: bool,
    install: bool | None,
    git: bool | None,
    list_: bool,
) -> None:
    """Create the project NAME from a template.

    \b
      webkit new mysite                       HTML site (the default template)
      webkit new myapi -t api --no-input      JSON API, no questions asked
      webkit new myapi -t api --database postgresql
      webkit new demo -t ./my-template -d docker=yes
      webkit new mysite --force --dry-run     show what would be added/replaced

    A template's own questions are answered with --QUESTION VALUE or -d QUESTION=VALUE
    (webkit new --list shows the templates; each README lists its questions).

    Files are rendered into a hidden folder beside the target and renamed into
    place, so a failure or Ctrl-C leaves nothing behind. An existing non-empty
    folder is refused unless --force; --overwrite also replaces files that differ.
    """
    from webkit_cli._console import make_console

    console = make_console()
    if list_:
        print_template_list(console)
        return
    if overwrite and not force:
        raise click.UsageError("--overwrite only applies with --force (add --force).")

    from webkit_cli._console import print_warning
    from webkit_cli.scaffold import create_project
    from webkit_cli.scaffold.answers import parse_data
    from webkit_cli.scaffold.names import validate_project_name
    from webkit_cli.scaffold.post import (
        decide_steps,
        init_git,
        install_project,
        next_steps_panel,
    )
    from webkit_cli.scaffold.render import cache_root
    from webkit_cli.scaffold.template import resolve_template

    if name is not None:
        validate_project_name(name)  # before anything else: "" must not mean "here"
    interactive = _is_interactive(no_input)
    given = parse_data(data)
    ask = None
    if interactive:
        from webkit_cli.scaffold.prompts import Prompter

        prompter = Prompter(console)
        name, tpl, package, description, author = _ask_builtins(
            prompter,
            name=name,
            template=template,
            package=package,
            description=description,
            author=author,
        )
        ask = prompter.question
    else:
        if name is None:
            raise click.UsageError(
                "Missing argument 'NAME' (the project name, e.g. webkit new mysite)."
            )
        tpl = resolve_template(template or "site")
    given.update(_question_options(list(ctx.args), tpl))
    if True:
        result = create_project(
            template=tpl,
            target=parent / name,
            name=name,
            package=package,
            description=description,
            author=author,
            data=given,
            force=force,
            overwrite=overwrite,
            dry_run=dry_run,
            ask=ask,
            cache_dir=cache_root(os.environ),
            notify=print_warning,
        )
    if dry_run:
        from webkit_cli.scaffold.post import plan_tree

        console.print(plan_tree(result))
        files = sum(not e.is_dir for e in result.entries)
        console.print(
            f"Dry run: {files} files from template {tpl.name} {tpl.version}; nothing written."
        )
        if result.plan is not None and result.plan.replace and not overwrite:
            console.print(
                f"{len(result.plan.replace)} existing files differ: without --overwrite the "
                "real run stops before writing anything."
            )
        return
    target = result.target
    if result.updated and result.plan is not None:
        plan = result.plan
        console.print(
            f"Updated {target} from template {tpl.name} {tpl.version}: "
            f"{sum(not e.is_dir for e in plan.add)} added, "
            f"{len(plan.replace) if overwrite else 0} replaced, {len(plan.unchanged)} unchanged, "
            f"{len(plan.kept)} kept."
        )
    else:
        console.print(
            f"Created {target} from template {tpl.name} {tpl.version} "
            f"({result.files_written} files)."
        )
    install, git = decide_steps(
        install=install, git=git, interactive=interactive, updated=result.updated
    )
    if git:
        reason = init_git(
            target,
            author=str(result.answers.get("author", "")),
            message=f"Initial commit: webkit new {name} -t {tpl.name} ({tpl.version})",
        )
        if reason is None:
            console.print("Initialised a git repository with an initial commit.")
        else:
            from webkit_cli._console import print_warning

            print_warning(f"No git commit: {reason}.")
    if install:
        install_project(target, console)
        console.print(f"Installed {name} with its dev extras into {sys.prefix}.")
    console.print(next_steps_panel(target, installed=install))
