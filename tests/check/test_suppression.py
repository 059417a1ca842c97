"""Silencing findings: project ignore, per-file-ignores, line comments in Python and Jinja."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.check.helpers import PYPROJECT, check, locations, make_project

SECRET = 'SECRET_KEY = "change-me"\n'
SAFE = "{% extends 'base.html' %}\n{% block body %}\n<p>{{ bio|safe }}</p>\n{% endblock %}\n"


def test_python_line_comment_silences_only_that_code(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        {
            "src/demo/config.py": 'SECRET_KEY = "a"  # webkit: ignore[S001]\n'
            'OTHER_SECRET_KEY = 1\nSECRET_KEY = "b"  # webkit: ignore[S003]\n',
        },
    )
    assert locations(check(root)) == [("S001", "src/demo/config.py", 3)]


def test_python_comment_alone_on_the_line_above(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        {"src/demo/config.py": "# why: a fixed key for the demo kiosk\n"
         "# webkit: ignore[S001, S002]\nSECRET_KEY = 'a'\nSECRET_KEY = 'b'\n"},
    )  # fmt: skip
    assert locations(check(root)) == [("S001", "src/demo/config.py", 4)]


def test_bare_ignore_silences_every_code_on_the_line(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p", {"src/demo/config.py": "SECRET_KEY = 'a'  # webkit: ignore\n"}
    )
    assert check(root).findings == []


def test_directive_inside_a_string_is_not_a_comment(tmp_path: Path) -> None:
    source = 'SECRET_KEY = "a"; NOTE = "# webkit: ignore[S001]"\n'
    root = make_project(tmp_path / "p", {"src/demo/config.py": source})
    assert locations(check(root)) == [("S001", "src/demo/config.py", 1)]


def test_template_comment_silences(tmp_path: Path) -> None:
    same_line = SAFE.replace("</p>", "</p>{# webkit: ignore[S004] #}")
    root = make_project(tmp_path / "p", {"src/demo/templates/item.html": same_line})
    assert check(root).findings == []
    line_above = SAFE.replace("<p>", "{# webkit: ignore[S004] #}\n<p>")
    root = make_project(tmp_path / "q", {"src/demo/templates/item.html": line_above})
    assert check(root).findings == []
    other_code = SAFE.replace("</p>", "</p>{# webkit: ignore[S006] #}")
    root = make_project(tmp_path / "r", {"src/demo/templates/item.html": other_code})
    assert locations(check(root)) == [("S004", "src/demo/templates/item.html", 3)]


def test_project_ignore_and_per_file_ignores(tmp_path: Path) -> None:
    files = {"src/demo/config.py": SECRET, "src/demo/templates/item.html": SAFE}
    pyproject = PYPROJECT + '\n[tool.webkit.check]\nignore = ["S004"]\n'
    root = make_project(tmp_path / "p", {**files, "pyproject.toml": pyproject})
    assert locations(check(root)) == [("S001", "src/demo/config.py", 1)]

    pyproject = PYPROJECT + '\n[tool.webkit.check.per-file-ignores]\n"src/demo/config.py" = ["S"]\n'
    root = make_project(tmp_path / "q", {**files, "pyproject.toml": pyproject})
    assert locations(check(root)) == [("S004", "src/demo/templates/item.html", 3)]

    pyproject = PYPROJECT + '\n[tool.webkit.check.per-file-ignores]\n"src/demo/" = ["S001"]\n'
    root = make_project(tmp_path / "r", {**files, "pyproject.toml": pyproject})
    assert locations(check(root)) == [("S004", "src/demo/templates/item.html", 3)]


def test_select_and_ignore_by_prefix_name_and_config(tmp_path: Path) -> None:
    files = {"src/demo/config.py": SECRET, "src/demo/templates/item.html": SAFE}
    root = make_project(tmp_path / "p", files)
    assert [f.code for f in check(root, select=["S004"]).findings] == ["S004"]
    assert [f.code for f in check(root, ignore=["hardcoded-secret-key"]).findings] == ["S004"]
    assert check(root, select=["H", "T"]).findings == []
    pyproject = PYPROJECT + '\n[tool.webkit.check]\nselect = ["S001"]\n'
    root = make_project(tmp_path / "q", {**files, "pyproject.toml": pyproject})
    assert [f.code for f in check(root).findings] == ["S001"]


def test_exclude_skips_paths(tmp_path: Path) -> None:
    pyproject = PYPROJECT + '\n[tool.webkit.check]\nexclude = ["legacy/*"]\n'
    root = make_project(
        tmp_path / "p", {"pyproject.toml": pyproject, "legacy/old.py": SECRET, "legacy/x.rej": ""}
    )
    assert check(root).findings == []


def test_secret_literal_in_tests_is_allowed(tmp_path: Path) -> None:
    conftest = (
        "import pytest\n\n\n@pytest.fixture\ndef app():\n"
        '    return create_app({"TESTING": True, "SECRET_KEY": "test"})\n'
    )
    root = make_project(tmp_path / "p", {"tests/conftest.py": conftest, "tests/test_x.py": SECRET})
    assert check(root).findings == []


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git executable")
def test_gitignored_files_are_not_linted(tmp_path: Path) -> None:
    """Flask's docs put the real SECRET_KEY in a git-ignored instance/config.py."""
    root = make_project(
        tmp_path / "p",
        {
            ".gitignore": "local_settings.py\n*.orig\n",
            "local_settings.py": SECRET,
            "notes.py.orig": "x\n",
            "src/demo/settings.py": SECRET,  # not ignored, not yet committed: still linted
        },
    )
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    assert locations(check(root)) == [("S001", "src/demo/settings.py", 1)]


def test_instance_folder_is_never_linted(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"instance/config.py": SECRET})
    assert check(root).findings == []


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git executable")
def test_committed_env_file(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        {".env": "SECRET_KEY=abc\n", ".env.example": "SECRET_KEY=\n", ".flaskenv": "X=1\n"},
    )
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    assert check(root).findings == []  # present but not committed: where it belongs
    subprocess.run(["git", "-C", str(root), "add", ".env", ".env.example"], check=True)
    assert locations(check(root)) == [("S010", ".env", None)]


def test_every_bad_check_setting_is_a_p002_and_the_run_goes_on(tmp_path: Path) -> None:
    pyproject = PYPROJECT + (
        "\n[tool.webkit.check]\n"
        'select = "S001"\n'
        "fail-level = 3\n"
        'exclude = ["ok/*"]\n'
        'per-file-ignores = "tests/*"\n'
        'colour = "always"\n'
    )
    root = make_project(tmp_path / "p", {"pyproject.toml": pyproject, "src/demo/config.py": SECRET})
    report = check(root)
    messages = [f.message for f in report.findings if f.code == "P002"]
    assert messages == [
        "[tool.webkit.check] has an unknown key 'colour' (known: csrf-token, exclude, "
        "fail-level, ignore, jinja-extensions, per-file-ignores, select)",
        "[tool.webkit.check] select must be a list of strings",
        "[tool.webkit.check] fail-level: must be 'error' or 'warning'",
        "[tool.webkit.check] per-file-ignores must be a table of pattern = [codes]",
    ]
    header = pyproject.splitlines().index("[tool.webkit.check]") + 1
    assert {f.line for f in report.findings if f.code == "P002"} == {header}
    # the defaults still apply: the secret is found
    assert ("S001", "src/demo/config.py", 1) in locations(report)


def test_per_file_ignore_entry_must_be_a_list(tmp_path: Path) -> None:
    pyproject = PYPROJECT + '\n[tool.webkit.check.per-file-ignores]\n"tests/*" = "S001"\n'
    root = make_project(tmp_path / "p", {"pyproject.toml": pyproject})
    assert [f.message for f in check(root).findings] == [
        "[tool.webkit.check.per-file-ignores] 'tests/*' must be a list"
    ]
