"""Template questions: --data parsing, types, validators and defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scaffold.helpers import make_template
from webkit_cli.errors import ScaffoldError, TemplateError
from webkit_cli.scaffold import answers
from webkit_cli.scaffold.answers import coerce, collect_answers, parse_data
from webkit_cli.scaffold.render import Renderer
from webkit_cli.scaffold.template import Answer, Question, load_template


def test_parse_data() -> None:
    assert parse_data(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(ScaffoldError, match="is not KEY=VALUE"):
        parse_data(["novalue"])
    with pytest.raises(ScaffoldError, match="is not KEY=VALUE"):
        parse_data(["=x"])


@pytest.mark.parametrize(
    ("question", "raw", "value"),
    [
        (Question("b", type="bool"), "yes", True),
        (Question("b", type="bool"), "False", False),
        (Question("b", type="bool"), True, True),
        (Question("i", type="int"), " 42 ", 42),
        (Question("c", type="choice", choices=("a", "b")), "b", "b"),
        (Question("s", validator="email"), "a@b.io", "a@b.io"),
        (Question("s", validator="^[a-z]+$"), "abc", "abc"),
        (Question("s", validator="project_name"), "my-site", "my-site"),
    ],
)
def test_coerce_accepts(question: Question, raw: Answer, value: Answer) -> None:
    assert coerce(question, raw) == value


@pytest.mark.parametrize(
    ("question", "raw", "message"),
    [
        (Question("b", type="bool"), "maybe", "not yes/no"),
        (Question("i", type="int"), "4.5", "not an integer"),
        (Question("c", type="choice", choices=("a", "b")), "z", "not one of a, b"),
        (Question("s", validator="identifier"), "a-b", "not a Python identifier"),
        (Question("s", validator="email"), "nope", "not an e-mail"),
        (Question("s", validator="nonempty"), "  ", "is empty"),
        (Question("s", validator="^[a-z]+$"), "ABC", r"does not match"),
        (Question("s", validator="project_name"), "a/b", "path separator"),
    ],
)
def test_coerce_refuses(question: Question, raw: Answer, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        coerce(question, raw)


def _context() -> dict[str, object]:
    return {"name": "my-site", "package": "my_site"}


def test_defaults_may_be_jinja_over_earlier_answers(tmp_path: Path) -> None:
    tpl = load_template(make_template(tmp_path / "t"))
    answers = collect_answers(tpl, {}, _context(), Renderer(), ask=None)
    assert answers == {"database": "sqlite", "docker": False, "db_name": "my_site_db"}


def test_data_overrides_and_is_typed(tmp_path: Path) -> None:
    tpl = load_template(make_template(tmp_path / "t"))
    given = {"database": "postgresql", "docker": "yes", "db_name": "prod"}
    answers = collect_answers(tpl, given, _context(), Renderer(), ask=None)
    assert answers == {"database": "postgresql", "docker": True, "db_name": "prod"}


def test_bad_data_names_the_question(tmp_path: Path) -> None:
    tpl = load_template(make_template(tmp_path / "t"))
    env = Renderer()
    with pytest.raises(ScaffoldError, match=r"--data database: 'mysql' is not one of sqlite"):
        collect_answers(tpl, {"database": "mysql"}, _context(), env, ask=None)
    with pytest.raises(ScaffoldError, match=r"no question 'colour'.*database, db_name, docker"):
        collect_answers(tpl, {"colour": "red"}, _context(), env, ask=None)


def test_missing_required_answer_names_the_option(tmp_path: Path) -> None:
    toml = '[template]\nname = "x"\nversion = "1"\n[[questions]]\nname = "domain"\n'
    tpl = load_template(make_template(tmp_path / "t", files={}, toml=toml))
    with pytest.raises(ScaffoldError, match=r"pass --data domain=VALUE"):
        collect_answers(tpl, {}, _context(), Renderer(), ask=None)


def test_ask_gets_the_rendered_default(tmp_path: Path) -> None:
    tpl = load_template(make_template(tmp_path / "t"))
    asked: list[tuple[str, Answer | None]] = []

    def ask(question: Question, default: Answer | None) -> Answer:
        asked.append((question.name, default))
        return default if default is not None else ""

    answers = collect_answers(tpl, {"docker": "true"}, _context(), Renderer(), ask=ask)
    assert asked == [("database", "sqlite"), ("db_name", "my_site_db")]
    assert answers["docker"] is True


def test_invalid_default_is_a_template_error(tmp_path: Path) -> None:
    toml = (
        '[template]\nname = "x"\nversion = "1"\n[[questions]]\nname = "slug"\n'
        'default = "{{ name }}"\nvalidator = "identifier"\n'
    )
    tpl = load_template(make_template(tmp_path / "t", files={}, toml=toml))
    with pytest.raises(TemplateError, match="default of question 'slug' is invalid"):
        collect_answers(tpl, {}, _context(), Renderer(), ask=None)


CATASTROPHIC = (
    '[template]\nname = "x"\nversion = "1"\n[[questions]]\nname = "slug"\n'
    'default = "ok"\nvalidator = "^(a+)+$"\n'
)


def test_a_backtracking_validator_is_stopped_with_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In this process (SIGALRM) nothing but the match counts against the bound: a short
    # one stops the same runaway match with 0.8 s less of CPU burnt.
    monkeypatch.setattr(answers, "REGEX_TIMEOUT", 0.2)
    tpl = load_template(make_template(tmp_path / "t", files={}, toml=CATASTROPHIC))
    question = tpl.questions[0]
    assert coerce(question, "aaaa") == "aaaa"  # a sane answer is checked as before
    with pytest.raises(ValueError, match=r"does not match \^\(a\+\)\+\$"):
        coerce(question, "aab")
    # Without the bound this never returns (2**40 ways to split the a's).
    with pytest.raises(TemplateError, match=r"validator \^\(a\+\)\+\$ of question 'slug' takes"):
        coerce(question, "a" * 40 + "b")


def test_a_backtracking_validator_is_stopped_off_the_main_thread(tmp_path: Path) -> None:
    import threading

    tpl = load_template(make_template(tmp_path / "t", files={}, toml=CATASTROPHIC))
    question = tpl.questions[0]
    results: list[object] = []

    def run() -> None:
        for answer in ("aaaa", "aab", "a" * 40 + "b"):
            try:
                results.append(coerce(question, answer))
            except (ValueError, TemplateError) as exc:
                results.append(type(exc))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert results == ["aaaa", ValueError, TemplateError]
