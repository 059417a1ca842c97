"""The ``webkit`` click group.

Commands live in ``webkit_cli.commands.<name>`` and are imported only when they
run (or when their own ``--help`` is asked for), so ``webkit --help`` costs a
Python start-up plus click and nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

from webkit_cli import __version__

#: name -> (module:attribute of the click command, its one-line help): the one place the
#: short help is written; ``webkit --help`` reads it without importing the commands.
COMMANDS: dict[str, tuple[str, str]] = {
    "new": ("webkit_cli.commands.new:new_command", "Create a project from a template."),
    "run": ("webkit_cli.commands.run:run_command", "Serve the project with a reloading server."),
    "routes": ("webkit_cli.commands.routes:routes_command", "Show the routes of the app."),
    "check": ("webkit_cli.commands.check:check_command", "Lint the project for CI."),
    "shell": (
        "webkit_cli.commands.shell:shell_command",
        "Start a Python shell with the app and its models.",
    ),
    "update": (
        "webkit_cli.commands.update:update_command",
        "Update the project to a newer template version.",
    ),
    "generate": (
        "webkit_cli.commands.generate:generate_command",
        "Add a resource (model, migration, views, tests) to the project.",
    ),
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def __init__(self, *args: Any, lazy_commands: dict[str, tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands:
            return self._load(cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if (
            not ctx.resilient_parsing
            and not name.startswith("-")
            and self.get_command(ctx, name) is None
        ):
            # "Did you mean" from the static table, so a typo imports no command module.
            import difflib

            matches = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.5)
            hint = ""
            if matches:
                hint = " Did you mean " + " or ".join(repr(m) for m in matches) + "?"
            ctx.fail(f"No such command {name!r}.{hint} Run 'webkit --help' for the commands.")
        return super().resolve_command(ctx, args)

    def _load(self, cmd_name: str) -> click.Command:
        import_path, _ = self.lazy_commands[cmd_name]
        module_name, attr = import_path.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):  # pragma: no cover - programming error
            raise TypeError(f"{import_path} is not a click command")
        command.short_help = self.lazy_commands[cmd_name][1]
        return command

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        # Complete command names from the static table: no command module is imported.
        from click.shell_completion import CompletionItem

        items = [
            CompletionItem(name, help=summary)
            for name, (_, summary) in sorted(self.lazy_commands.items())
            if name.startswith(incomplete)
        ]
        items.extend(click.Command.shell_complete(self, ctx, incomplete))
        return items

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The static one-line help avoids importing every command module for --help.
        rows = [(name, self.lazy_commands[name][1]) for name in sorted(self.lazy_commands)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "WEBKIT"}


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings=CONTEXT_SETTINGS,
    epilog=(
        "Run 'webkit COMMAND --help' for a command's options. Shell completion: "
        'eval "$(_WEBKIT_COMPLETE=bash_source webkit)" (zsh_source, fish_source for other shells).'
    ),
)
@click.version_option(__version__, "-V", "--version", prog_name="webkit")
def cli() -> None:
    """webkit: scaffold, serve, inspect and lint Flask projects.

    \b
      webkit new mysite          create a project (templates: site, api, ajax)
      webkit run --reload        serve it, reloading on every save
      webkit routes              print its route table
      webkit check               lint it for CI
      webkit shell               a Python shell with the app and its models
    """


def main(args: list[str] | None = None, prog_name: str | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=args, prog_name=prog_name or "webkit")
    except Exception as exc:
        # click has shown its own errors, WebkitError included, and turned Ctrl-C into
        # "Aborted!"; an exception still here escaped webkit's code: webkit's bug.
        import sys

        from webkit_cli.errors import BUG_EXIT_CODE, report_bug

        report_bug(exc)
        sys.exit(BUG_EXIT_CODE)
