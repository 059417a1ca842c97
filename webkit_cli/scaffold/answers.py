"""Answers to a template's questions: parsing ``--data``, types, validators, defaults."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from webkit_cli.errors import ScaffoldError, TemplateError
from webkit_cli.scaffold.template import Answer, Question, Template

if TYPE_CHECKING:
    from webkit_cli.scaffold.render import Renderer

_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

#: ``ask(question, default) -> answer``: an interactive prompt; None means never prompt.
Asker = Callable[[Question, Answer | None], Answer]


def parse_data(items: Sequence[str]) -> dict[str, str]:
    """``["db=sqlite", "x=1"]`` -> ``{"db": "sqlite", "x": "1"}``; bad items raise ScaffoldError."""
    data: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScaffoldError(
                f"--data {item!r} is not KEY=VALUE: write e.g. --data database=sqlite."
            )
        data[key] = value
    return data


def coerce(question: Question, raw: Answer) -> Answer:
    """Convert ``raw`` to the question's type and check it; raise ValueError with the reason."""
    value: Answer
    if question.type == "bool":
        if isinstance(raw, bool):
            value = raw
        elif str(raw).strip().lower() in _TRUE:
            value = True
        elif str(raw).strip().lower() in _FALSE:
            value = False
        else:
            raise ValueError(f"{raw!r} is not yes/no (use true or false)")
    elif question.type == "int":
        if isinstance(raw, bool):
            raise ValueError(f"{raw!r} is not an integer")
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise ValueError(f"{raw!r} is not an integer") from None
    else:
        value = str(raw)
        if question.type == "choice" and value not in question.choices:
            raise ValueError(f"{value!r} is not one of {', '.join(question.choices)}")
    _validate(question, value)
    return value


def _validate(question: Question, value: Answer) -> None:
    rule = question.validator
    if rule is None:
        return
    text = str(value)
    if rule == "identifier":
        ok, why = text.isidentifier(), "is not a Python identifier"
    elif rule == "project_name":
        from webkit_cli.scaffold.names import validate_project_name

        try:
            validate_project_name(text)
        except ScaffoldError as exc:
            raise ValueError(exc.message) from None
        ok, why = True, ""
    elif rule == "email":
        ok, why = bool(_EMAIL.match(text)), "is not an e-mail address"
    elif rule == "nonempty":
        ok, why = bool(text.strip()), "is empty"
    else:
        ok, why = _fullmatch(question, rule, text), f"does not match {rule}"
    if not ok:
        raise ValueError(f"{text!r} {why}")


#: How long a template's validator regex may take on one answer. A sane pattern takes
#: microseconds; ``^(a+)+$`` on 40 a's and a b takes longer than the universe has left.
REGEX_TIMEOUT = 1.0


class _RegexTimeout(Exception):
    pass


def _fullmatch(question: Question, rule: str, text: str) -> bool:
    """``re.fullmatch(rule, text)``, bounded in time: the template's author wrote ``rule``."""
    import signal
    import threading

    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # nobody else's alarm
    )
    try:
        if usable:
            return _fullmatch_alarm(rule, text)
        return _fullmatch_subprocess(rule, text)
    except _RegexTimeout:
        raise TemplateError(
            f"The validator {rule} of question {question.name!r} takes more than "
            f"{REGEX_TIMEOUT:g} s on this answer (the pattern backtracks catastrophically): "
            "fix the template's regex, e.g. ^a+$ instead of ^(a+)+$."
        ) from None


def _fullmatch_alarm(rule: str, text: str) -> bool:
    """In-process: the regex engine checks for signals while it backtracks, so SIGALRM
    interrupts it."""
    import signal

    def expire(signum: int, frame: object) -> None:
        raise _RegexTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    try:
        signal.setitimer(signal.ITIMER_REAL, REGEX_TIMEOUT)
        try:
            return re.fullmatch(rule, text) is not None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)


def _fullmatch_subprocess(rule: str, text: str) -> bool:
    """Off the main thread (no SIGALRM there): match in a child that is killed on timeout."""
    import subprocess
    import sys

    code = "import re,sys; sys.exit(0 if re.fullmatch(sys.argv[1], sys.stdin.read()) else 1)"
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-c", code, rule],
            input=text,
            text=True,
            timeout=REGEX_TIMEOUT,
            capture_output=True,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _RegexTimeout from None
    return proc.returncode == 0


def resolve_default(
    question: Question, answers: Mapping[str, Any], renderer: Renderer
) -> Answer | None:
    """The question's default; a string default is a Jinja expression over earlier answers."""
    default = question.default
    if isinstance(default, str) and ("{{" in default or "{%" in default):
        from webkit_cli.scaffold.render import RenderError

        try:
            default = renderer.render_text(default, answers)
        except RenderError as exc:
            raise TemplateError(
                f"The default of question {question.name!r} does not render: {exc}."
            ) from None
    if default is None:
        return None
    try:
        return coerce(question, default)
    except ValueError as exc:
        raise TemplateError(
            f"The default of question {question.name!r} is invalid: {exc}."
        ) from None


def collect_answers(
    template: Template,
    given: Mapping[str, str],
    context: Mapping[str, Any],
    renderer: Renderer,
    ask: Asker | None,
) -> dict[str, Answer]:
    """Answer every question in order: ``--data``, else a prompt (if allowed), else the default."""
    known = {q.name for q in template.questions}
    unknown = sorted(set(given) - known)
    if unknown:
        names = ", ".join(sorted(known)) or "none"
        raise ScaffoldError(
            f"Template {template.name!r} has no question {unknown[0]!r} (--data); "
            f"its questions: {names}."
        )
    answers: dict[str, Answer] = {}
    for question in template.questions:
        scope = {**context, **answers}
        if question.name in given:
            try:
                answers[question.name] = coerce(question, given[question.name])
            except ValueError as exc:
                raise ScaffoldError(f"--data {question.name}: {exc}.") from None
            continue
        default = resolve_default(question, scope, renderer)
        if ask is not None:
            answers[question.name] = ask(question, default)
        elif default is not None:
            answers[question.name] = default
        else:
            raise ScaffoldError(
                f"Template question {question.name!r} has no default and no answer: "
                f"pass --data {question.name}=VALUE (or run in a terminal without --no-input)."
            )
    return answers
