"""``webkit new``: a thin click shim over :func:`webkit_cli.scaffold.create_project`."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem
    from rich.console import Console

    from webkit_cli.scaffold.engine import ScaffoldResult
    from webkit_cli.scaffold.prompts import Prompter
    from webkit_cli.scaffold.template import Question, Template

#: Where the question options of this invocation are kept (ctx.meta).
_QUESTIONS_KEY = "webkit.new.questions"
#: The template loaded to find them, as (spec, Template): the command reuses it.
_TEMPLATE_KEY = "webkit.new.template"
#: Prefix of a question option's parameter name, so a question never shadows a built-in one.
_QUESTION_PREFIX = "question__"


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


#: How a refused package name says where to fix it in an interactive run.
_AT_THE_PROMPT = "the prompt below"


def _package_default(prompter: Prompter, name: str) -> str:
    """NAME normalised, or, when that is refused (``email``, ``class``), a valid variant."""
    from webkit_cli.errors import ScaffoldError
    from webkit_cli.scaffold.names import normalise_package, validate_package

    base = normalise_package(name)
    try:
        return validate_package(base, option=_AT_THE_PROMPT)
    except ScaffoldError as exc:
        refused = exc.message
    from rich.text import Text

    prompter.console.print(Text(refused, style="prompt.invalid"))
    for suffix in ("_app", "_project", "_site"):
        try:
            return validate_package(base + suffix)
        except ScaffoldError:
            continue
    return base + "_app"  # checked again when answered: refused there with the reason


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
    from webkit_cli.scaffold.names import resolve_names, validate_package, validate_project_name
    from webkit_cli.scaffold.template import list_templates, resolve_template

    prompter.intro("Creating a webkit project: press Enter to take the answer in brackets.")
    if name is None:
        name = prompter.checked("Project name", "mysite", validate_project_name)
    if template is None:
        options = [(t.root.name, t.description) for t in list_templates()]
        names = [n for n, _ in options]
        template = prompter.choose("Template", options, "site" if "site" in names else None)
    tpl = resolve_template(template)
    if package is None:

        def check_package(answer: str) -> object:
            return validate_package(answer, option=_AT_THE_PROMPT)

        default = _package_default(prompter, name)
        package = prompter.checked("Python package", default, check_package)
    resolve_names(name, package)  # names given as options: fail before asking anything else
    if description is None:
        description = prompter.optional("Description")
    if author is None:
        known = git_user_name()
        author = prompter.text("Author", default=known) if known else prompter.optional("Author")
    return name, tpl, package, description, author


def _resolve_builtins(
    console: Console,
    *,
    interactive: bool,
    name: str | None,
    template: str | None,
    package: str | None,
    description: str | None,
    author: str | None,
) -> tuple[str, Template, str | None, str | None, str | None, Prompter | None]:
    """The built-in answers and the template: asked in a terminal, else given or defaults."""
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
        return name, tpl, package, description, author, prompter
    if name is None:
        raise click.UsageError(
            "Missing argument 'NAME' (the project name, e.g. webkit new mysite)."
        )
    from webkit_cli.scaffold.template import resolve_template

    spec, loaded = click.get_current_context().meta.get(_TEMPLATE_KEY, (None, None))
    chosen: Template | None = loaded if spec == (template or "site") else None
    if chosen is None:  # not what parse_args loaded (called without it, say)
        chosen = resolve_template(template or "site")
    return name, chosen, package, description, author, None


# --- the template's questions as options ---------------------------------------------------


def option_name(question: str) -> str:
    """``db_name`` -> ``--db-name``."""
    return "--" + question.replace("_", "-")


if TYPE_CHECKING:
    _StrType = click.ParamType[str]
else:  # click < 8.2 has no generic ParamType at run time
    _StrType = click.ParamType


class QuestionType(_StrType):
    """A template question's answer, checked like ``-d`` answers when it is parsed."""

    def __init__(self, question: Question) -> None:
        self.question = question
        self.name = question.type

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from webkit_cli.errors import ScaffoldError
        from webkit_cli.scaffold.answers import coerce

        try:
            coerce(self.question, value)
        except ValueError as exc:
            # One Error line naming what the user typed: "--database: 'mysql' is not one of".
            raise ScaffoldError(f"{option_name(self.question.name)}: {exc}.") from None
        return str(value)  # collect_answers types it, as it does every -d answer


def question_options(tpl: Template, taken: set[str]) -> list[click.Option]:
    """One ``click.Option`` per question of ``tpl`` (``--database postgresql``; a yes/no
    question also bare, ``--docker``); a question whose option name is a built-in option's
    is answered with ``-d`` only."""
    options = []
    for q in tpl.questions:
        flag = option_name(q.name)
        if flag in taken:
            continue
        metavar = {"bool": "yes|no", "int": "INT", "choice": "|".join(q.choices)}.get(q.type)
        extra: dict[str, Any] = {}
        if q.type == "bool":
            extra = {"is_flag": False, "flag_value": "true"}  # a bare --docker means yes
        default = "" if q.default is None or "{" in str(q.default) else f"  [default: {q.default}]"
        options.append(
            click.Option(
                [flag, _QUESTION_PREFIX + q.name],
                type=QuestionType(q),
                metavar=metavar or "TEXT",
                help=f"Template {tpl.name!r}: {q.prompt_text}.{default}",
                **extra,
            )
        )
    return options


def _template_spec(args: Sequence[str]) -> str | None:
    """The ``-t/--template`` value on the command line, read before click parses it (the
    options it adds depend on it)."""
    for i, token in enumerate(args):
        if token == "--":
            break
        if token in ("-t", "--template"):
            return args[i + 1] if i + 1 < len(args) else None
        if token.startswith("--template="):
            return token.partition("=")[2]
        if token.startswith("-t") and not token.startswith("--"):
            return token[2:]
    return None


class NewCommand(click.Command):
    """``webkit new`` with the chosen template's questions added as options.

    ``-t`` (or ``WEBKIT_NEW_TEMPLATE``, else ``site``) is resolved before the rest of the
    command line is parsed; each question of that template then is a real click option,
    shown by ``webkit new -t api --help``.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        from webkit_cli.scaffold.template import resolve_template

        spec = _template_spec(args)
        if spec is None:
            param = next(p for p in self.params if p.name == "template")
            env = param.resolve_envvar_value(ctx)
            spec = str(env) if env else "site"
        taken = {o for p in self.params for o in getattr(p, "opts", [])}
        taken |= {"--help", "-h"}
        tpl: Template | None = None
        try:
            tpl = resolve_template(spec)
        except click.ClickException:
            if "--help" in args or "-h" in args:
                tpl = None  # help must work with a bad -t; the run reports it
            else:
                raise
        ctx.meta[_QUESTIONS_KEY] = question_options(tpl, taken) if tpl is not None else []
        ctx.meta[_TEMPLATE_KEY] = (spec, tpl)
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            # click's close matches cover the built-in options and the questions alike.
            possibilities = sorted(exc.possibilities or [])
            hint = ""
            if possibilities:
                hint = " Did you mean " + " or ".join(possibilities) + "?"
            if tpl is not None and tpl.questions:
                known = ", ".join(option_name(q.name) for q in tpl.questions)
                hint += f" Template {tpl.name!r} questions: {known}."
            raise click.UsageError(
                f"No such option: {exc.option_name}.{hint} See webkit new --help.", ctx
            ) from None

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        extra: list[click.Parameter] = list(ctx.meta.get(_QUESTIONS_KEY, []))
        # Before --help, which click appends last.
        return params[:-1] + extra + params[-1:] if extra else params


def _complete_template(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """``-t <TAB>``: the built-in names, then folders (a template of one's own)."""
    from click.shell_completion import CompletionItem

    from webkit_cli.scaffold.template import builtin_template_names

    items = [CompletionItem(n) for n in builtin_template_names() if n.startswith(incomplete)]
    # type="dir" asks the shell's own completion for folders (bash compgen -d, zsh _files).
    items.append(CompletionItem(incomplete, type="dir"))
    return items


@click.command("new", cls=NewCommand)
@click.argument("name", required=False)
@click.option(
    "-t",
    "--template",
    metavar="site|api|ajax|PATH",
    shell_complete=_complete_template,
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
    "--description", metavar="TEXT", help="One-line description of the project.  [default: none]"
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
def new_command(
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
    **questions: str | None,
) -> None:
    """Create the project NAME from a template.

    \b
      webkit new mysite                       HTML site (the default template)
      webkit new myapi -t api --no-input      JSON API, no questions asked
      webkit new myapi -t api --database postgresql
      webkit new demo -t ./my-template -d docker=yes
      webkit new mysite --force --dry-run     show what would be added/replaced

    A template's own questions are options too (webkit new -t api --help lists them),
    or -d QUESTION=VALUE; webkit new --list shows the templates.

    Files are rendered into a hidden folder beside the target and renamed into
    place, so a failure or Ctrl-C leaves nothing behind (after a kill -9, the next
    run into the same target undoes what was left). An existing non-empty folder
    is refused unless --force; --overwrite also replaces files that differ.
    """
    from webkit_cli._console import make_console, print_warning

    console = make_console()
    if list_:
        print_template_list(console)
        return
    if overwrite and not force:
        raise click.UsageError("--overwrite only applies with --force (add --force).")

    from webkit_cli.scaffold import create_project
    from webkit_cli.scaffold.answers import parse_data
    from webkit_cli.scaffold.names import validate_project_name
    from webkit_cli.scaffold.post import confirmation_summary, dry_run_report, summary_line
    from webkit_cli.scaffold.render import cache_root

    if name is not None:
        validate_project_name(name)  # before anything else: "" must not mean "here"
    interactive = _is_interactive(no_input)
    given = parse_data(data)
    given.update(
        {k.removeprefix(_QUESTION_PREFIX): v for k, v in questions.items() if v is not None}
    )
    name, tpl, package, description, author, prompter = _resolve_builtins(
        console,
        interactive=interactive,
        name=name,
        template=template,
        package=package,
        description=description,
        author=author,
    )
    common: dict[str, Any] = {
        "template": tpl,
        "target": parent / name,
        "name": name,
        "package": package,
        "description": description,
        "author": author,
        "force": force,
        "overwrite": overwrite,
        "cache_dir": cache_root(os.environ),
    }
    ask = prompter.question if prompter is not None else None
    if prompter is not None and not dry_run:
        # The questions, then a summary and a confirmation, then the writing: a dry run
        # asks and plans (nothing is written), the real run reuses its answers.
        preview = create_project(**common, data=given, dry_run=True, ask=ask)
        console.print(confirmation_summary(preview), soft_wrap=True)
        if not prompter.confirm("Write it?"):
            console.print("Nothing was written.")
            raise SystemExit(1)
        given = {
            q.name: _as_data(preview.answers[q.name])
            for q in tpl.questions
            if q.name in preview.answers
        }
        ask = None
    result = create_project(**common, data=given, dry_run=dry_run, ask=ask, notify=print_warning)
    if dry_run:
        for renderable in dry_run_report(result, overwrite=overwrite):
            console.print(renderable)
        return
    console.print(summary_line(result, overwrite=overwrite))
    _after(result, name=name, install=install, git=git, interactive=interactive, console=console)


def _as_data(answer: object) -> str:
    """An answer as ``-d`` would give it (``coerce`` reads it back to the same value)."""
    if isinstance(answer, bool):
        return "yes" if answer else "no"
    return str(answer)


def _after(
    result: ScaffoldResult,
    *,
    name: str,
    install: bool | None,
    git: bool | None,
    interactive: bool,
    console: Console,
) -> None:
    """git init, pip install and the next steps, once the files are in place."""
    from webkit_cli.scaffold.post import (
        decide_steps,
        init_git,
        install_project,
        next_steps_panel,
        shell_has_environment,
    )

    target, tpl = result.target, result.template
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
    api_package = str(result.answers["package"]) if tpl.name == "api" else None
    venv_active = shell_has_environment(os.environ)
    console.print(
        next_steps_panel(
            target, installed=install, api_package=api_package, venv_active=venv_active
        )
    )
