"""Interactive questions with rich prompts (only ever used when stdin is a terminal)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from webkit_cli.errors import ScaffoldError
from webkit_cli.scaffold.answers import coerce
from webkit_cli.scaffold.template import Answer, Question

if TYPE_CHECKING:
    from rich.console import Console


class Prompter:
    """Asks questions on ``console``; ``stream`` replaces stdin (tests pass a StringIO)."""

    def __init__(self, console: Console, stream: TextIO | None = None) -> None:
        self.console = console
        self.stream = stream

    def text(self, label: str, default: str | None = None, choices: list[str] | None = None) -> str:
        """A free-text (or choice) answer; an empty reply takes the default."""
        from rich.markup import escape
        from rich.prompt import Prompt

        label = escape(label)  # plain text: a "[y/n]" or a question's "[...]" stays visible

        while True:
            if default is None:
                reply = Prompt.ask(label, console=self.console, choices=choices, stream=self.stream)
            else:
                reply = Prompt.ask(
                    label,
                    console=self.console,
                    choices=choices,
                    default=default,
                    stream=self.stream,
                )
            # A reply read from a stream keeps its newline, which rich does not treat as
            # "take the default"; an empty answer means the default either way.
            if reply.strip():
                return reply.strip()
            if default is not None:
                return default
            self.console.print("[prompt.invalid]An answer is required.")

    def intro(self, text: str) -> None:
        """The one line printed before the first question."""
        from rich.text import Text

        self.console.print(Text(text, style="bold"))

    def choose(self, label: str, options: list[tuple[str, str]], default: str | None) -> str:
        """One of ``options`` (name, one-line description), listed before the prompt."""
        from rich.text import Text

        from webkit_cli._console import hanging

        width = max((len(name) for name, _ in options), default=0)
        for name, description in options:
            head = Text.assemble("  ", (name.ljust(width), "bold"), "  ")
            self.console.print(hanging(self.console, head, Text(description)), soft_wrap=True)
        return self.text(label, default=default, choices=[name for name, _ in options])

    def optional(self, label: str) -> str:
        """A free-text answer that may stay empty (Enter)."""
        from rich.prompt import Prompt

        reply = Prompt.ask(
            f"{label} [dim](optional)[/]",
            console=self.console,
            default="",
            show_default=False,
            stream=self.stream,
        )
        return reply.strip()

    def confirm(self, label: str, default: bool = True) -> bool:
        """Yes or no; Enter takes ``default`` (also from a stream, whose lines keep "\\n")."""
        while True:
            reply = self.text(f"{label} [y/n]", default="y" if default else "n").lower()
            if reply in {"y", "yes"}:
                return True
            if reply in {"n", "no"}:
                return False
            self.console.print("[prompt.invalid]Please answer y or n.")

    def checked(self, label: str, default: str | None, check: Callable[[str], object]) -> str:
        """A text answer that ``check`` accepts; its ScaffoldError is shown and asked again."""
        from rich.markup import escape

        while True:
            reply = self.text(label, default=default)
            try:
                check(reply)
            except ScaffoldError as exc:
                self.console.print(f"[prompt.invalid]{escape(exc.message)}")
                continue
            return reply

    def question(self, question: Question, default: Answer | None) -> Answer:
        """Ask one template question until the answer passes its type and validator."""
        from rich.markup import escape
        from rich.prompt import Confirm, IntPrompt

        label = question.prompt_text
        while True:
            raw: Answer
            if question.type == "bool":
                raw = Confirm.ask(
                    label, console=self.console, default=bool(default), stream=self.stream
                )
            elif question.type == "int" and isinstance(default, int):
                raw = IntPrompt.ask(
                    label, console=self.console, default=default, stream=self.stream
                )
            elif question.type == "int":
                raw = IntPrompt.ask(label, console=self.console, stream=self.stream)
            else:
                raw = self.text(
                    label,
                    default=None if default is None else str(default),
                    choices=list(question.choices) if question.type == "choice" else None,
                )
            try:
                return coerce(question, raw)
            except ValueError as exc:
                self.console.print(f"[prompt.invalid]{escape(str(exc))}; try again.")
