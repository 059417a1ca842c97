"""Project and package name validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from webkit_cli.errors import ScaffoldError
from webkit_cli.scaffold.names import (
    normalise_package,
    resolve_names,
    validate_package,
    validate_project_name,
)


@pytest.mark.parametrize(
    ("name", "package"),
    [("mysite", "mysite"), ("My-Site", "my_site"), ("blog.v2", "blog_v2"), ("a_b-c", "a_b_c")],
)
def test_package_defaults_to_the_normalised_name(name: str, package: str) -> None:
    assert normalise_package(name) == package
    assert resolve_names(name, None) == (name, package)


@pytest.mark.parametrize("name", ["a/b", "a\\b", "..", "../x", "x..y", "."])
def test_path_separators_and_dotdot_are_refused(name: str) -> None:
    with pytest.raises(ScaffoldError, match=r"path separator or '\.\.'.*--dir"):
        validate_project_name(name)


@pytest.mark.parametrize("name", ["my site", "-site", "site-", "café", "a$b", "x!"])
def test_invalid_project_names_are_refused_with_a_suggestion(name: str) -> None:
    with pytest.raises(ScaffoldError, match="is not valid: use letters, digits"):
        validate_project_name(name)


def test_empty_name_is_refused() -> None:
    with pytest.raises(ScaffoldError, match="empty"):
        validate_project_name("  ")


@pytest.mark.parametrize("name", ["class", "import", "match", "None", "True"])
def test_keywords_are_refused(name: str) -> None:
    with pytest.raises(ScaffoldError, match="is a Python keyword"):
        validate_package(name)


@pytest.mark.parametrize("name", ["2fast", "a-b", "with space", "naïve"])
def test_non_identifiers_are_refused(name: str) -> None:
    with pytest.raises(ScaffoldError, match="is not a Python identifier"):
        validate_package(name)


def test_a_name_that_normalises_to_a_non_identifier_is_refused() -> None:
    with pytest.raises(ScaffoldError, match="'2fast' is not a Python identifier"):
        resolve_names("2fast", None)


@pytest.mark.parametrize("name", ["email", "site", "json", "os", "sys", "asyncio"])
def test_stdlib_modules_are_refused(name: str) -> None:
    with pytest.raises(ScaffoldError, match="standard-library module"):
        validate_package(name)


@pytest.mark.parametrize("name", ["flask", "test", "click", "jinja2", "pytest"])
def test_importable_packages_are_refused(name: str) -> None:
    with pytest.raises(ScaffoldError, match="already importable"):
        validate_package(name)


def test_importable_check_does_not_import(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    # An installed third-party module: finding it must not execute (import) it.
    monkeypatch.delitem(sys.modules, "markdown_it", raising=False)
    with pytest.raises(ScaffoldError, match="already importable"):
        validate_package("markdown_it")
    assert "markdown_it" not in sys.modules


def test_a_folder_in_the_current_directory_is_not_an_installed_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `python -m webkit_cli` puts the cwd on sys.path; the empty project folder itself
    # must not count as "already importable".
    (tmp_path / "zzq_project").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert validate_package("zzq_project") == "zzq_project"


def test_the_error_says_how_to_choose_a_package() -> None:
    with pytest.raises(ScaffoldError, match=r"with --package \(it defaults to NAME normalised\)"):
        resolve_names("flask", None)
    assert resolve_names("flask", "flask_site") == ("flask", "flask_site")
