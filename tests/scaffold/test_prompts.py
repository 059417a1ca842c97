"""Interactive prompts, driven through an input stream instead of a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from webkit_cli.scaffold.prompts import Prompter
from webkit_cli.scaffold.template import Question


def prompter(replies: str) -> tuple[Prompter, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None)
    return Prompter(console, stream=io.StringIO(replies)), out


def test_empty_reply_takes_the_default_which_is_shown() -> None:
    p, out = prompter("\n")
    assert p.text("Project name", default="mysite") == "mysite"
    assert "Project name (mysite):" in out.getvalue()


def test_no_default_asks_again_on_an_empty_reply() -> None:
    p, out = prompter("\n  \nshop\n")
    assert p.text("Project name") == "shop"
    assert out.getvalue().count("An answer is required") == 2


def test_choice_shows_the_choices_and_refuses_others() -> None:
    q = Question("database", type="choice", help="Database", choices=("sqlite", "postgresql"))
    p, out = prompter("mysql\npostgresql\n")
    assert p.question(q, "sqlite") == "postgresql"
    assert "Database [sqlite/postgresql] (sqlite):" in out.getvalue()
    assert "Please select one of the available options" in out.getvalue()


def test_bool_and_int() -> None:
    p, _ = prompter("y\n")
    assert p.question(Question("docker", type="bool"), False) is True
    p, _ = prompter("\n")
    assert p.question(Question("docker", type="bool"), True) is True
    p, out = prompter("many\n8\n")
    assert p.question(Question("workers", type="int"), 4) == 8
    assert "Please enter a valid integer" in out.getvalue()
    p, _ = prompter("\n")
    assert p.question(Question("workers", type="int"), 4) == 4


def test_checked_asks_again_with_the_reason() -> None:
    from webkit_cli.scaffold.names import validate_package

    p, out = prompter("email\n\nshop_app\n")
    assert p.checked("Python package", "flask", validate_package) == "shop_app"
    text = out.getvalue()
    assert "'email' is a standard-library module" in text
    assert "'flask' is already importable" in text  # the default was tried and refused too


def test_validator_failures_are_explained_and_asked_again() -> None:
    q = Question("db_name", help="Database name", validator="identifier")
    p, out = prompter("my-db\nmy_db\n")
    assert p.question(q, "x_db") == "my_db"
    assert "'my-db' is not a Python identifier; try again." in out.getvalue()


def test_choose_lists_each_option_with_its_description() -> None:
    p, out = prompter("nope\napi\n")
    options = [("site", "HTML pages"), ("api", "JSON API with a database")]
    assert p.choose("Template", options, "site") == "api"
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["  site  HTML pages", "  api   JSON API with a database"]
    assert "Template [site/api] (site):" in out.getvalue()
    assert "Please select one of the available options" in out.getvalue()


def test_optional_takes_an_empty_reply_and_shows_no_default() -> None:
    p, out = prompter("\n  My shop \n")
    assert p.optional("Description") == ""
    assert p.optional("Description") == "My shop"
    assert out.getvalue().count("Description (optional): ") == 2
    assert "()" not in out.getvalue()


def test_confirm_defaults_to_yes() -> None:
    p, out = prompter("\nn\n")
    assert p.confirm("Write it?") is True
    assert p.confirm("Write it?") is False
    assert "Write it? [y/n] (y):" in out.getvalue()
