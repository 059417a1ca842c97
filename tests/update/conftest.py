"""A small template kept in git with two tagged versions, and projects made from it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import build_file_tree
from webkit_cli.scaffold.engine import create_project
from webkit_cli.scaffold.template import load_template

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    import os

    out = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **GIT_ENV, "HOME": str(cwd)},
    )
    return out.stdout


README = "# {{ name }}\n\nA small project.\n\nRun it with webkit run.\n"
CSS = "body {\n  margin: 0;\n}\n\nh1 {\n  color: black;\n}\n"
HELPERS = (
    "def helper() -> int:\n    return 1\n\n\ndef test_helper() -> None:\n    assert helper() == 1\n"
)
TEST_TWO = "\n\ndef test_two() -> None:\n    assert helper() + 1 == 2\n"

V1 = {
    "template.toml": """\
[template]
name = "mini"
version = "1.0.0"
skip_if_exists = [".env"]

[[questions]]
name = "database"
type = "choice"
choices = ["sqlite", "postgresql"]
default = "sqlite"

[[questions]]
name = "docs"
type = "bool"
default = true
""",
    "files/.env.jinja": "SECRET_KEY={{ secret_key }}\n",
    "files/pyproject.toml.jinja": """\
[project]
name = "{{ name }}"
version = "0.1.0"
dependencies = ["flask"]

[tool.webkit]
app = "{{ package }}:create_app"

[tool.pytest.ini_options]
testpaths = ["tests"]
""",
    "files/README.md.jinja": README,
    "files/src/{{ package }}/__init__.py": (
        "from flask import Flask\n\n\n"
        "def create_app() -> Flask:\n"
        "    app = Flask(__name__)\n\n"
        '    @app.get("/")\n'
        "    def index() -> str:\n"
        '        return "hello"\n\n'
        "    return app\n"
    ),
    "files/src/{{ package }}/static/style.css": CSS,
    "files/src/{{ package }}/static/logo.bin": b"\x89PNG\0version-one",
    "files/tests/test_app.py": (
        "from importlib import import_module\n\n\n"
        "def test_index() -> None:\n"
        "    import tomllib\n"
        "    from pathlib import Path\n\n"
        '    data = tomllib.loads(Path("pyproject.toml").read_text())\n'
        '    module = import_module(data["tool"]["webkit"]["app"].split(":")[0])\n'
        '    assert module.create_app().test_client().get("/").status_code == 200\n'
    ),
    "files/tests/test_helpers.py": HELPERS,
    "files/{% if docs %}docs{% endif %}/index.md": "# Docs\n\nWrite them here.\n",
    "files/{% if database == 'postgresql' %}postgres.txt{% endif %}.jinja": (
        "DATABASE={{ database }}\n"
    ),
    "files/legacy.txt": "kept for old readers\n",
}

#: Version 2.0.0: every kind of change a template release makes.
V2_CHANGES: dict[str, str | bytes | None] = {
    "template.toml": V1["template.toml"].replace('version = "1.0.0"', 'version = "2.0.0"')  # type: ignore[union-attr]
    + """
[[changelog]]
version = "2.0.0"
changes = ["Headings are blue.", "A security fix in the app factory."]
security = true
""",
    # The template edits a line the user also edits (conflict) and one they don't.
    "files/README.md.jinja": README.replace("webkit run.", "webkit run --reload."),
    "files/src/{{ package }}/static/style.css": CSS.replace("black", "blue"),
    "files/src/{{ package }}/static/logo.bin": b"\x89PNG\0version-two",
    "files/src/{{ package }}/health.py": "def ok() -> bool:\n    return True\n",
    "files/legacy.txt": None,  # removed by the template
    # renamed by the template (same content plus a line)
    "files/tests/test_helpers.py": None,
    "files/tests/test_utils.py": HELPERS + TEST_TWO,
}


def apply_tree(root: Path, changes: dict[str, str | bytes | None]) -> None:
    for rel, content in changes.items():
        path = root / rel
        if content is None:
            path.unlink()
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """A git repository holding the template folder ``mini/`` at tags v1.0.0 and v2.0.0."""
    repo = tmp_path / "templates"
    build_file_tree(repo / "mini", V1)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "1.0.0")
    git(repo, "tag", "v1.0.0")
    return repo


def release_v2(repo: Path, extra: dict[str, str | bytes | None] | None = None) -> None:
    apply_tree(repo / "mini", {**V2_CHANGES, **(extra or {})})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "2.0.0")
    git(repo, "tag", "v2.0.0")


@pytest.fixture
def make_project(tmp_path: Path, template_repo: Path) -> Callable[..., Path]:
    """A project from the template's v1.0.0, committed to its own git repository."""

    def make(name: str = "proj", **data: str) -> Path:
        target = tmp_path / name
        create_project(
            template=load_template(template_repo / "mini"),
            target=target,
            author="t",
            data=data,
        )
        git(target, "init", "-q", "-b", "main")
        git(target, "add", "-A")
        git(target, "commit", "-qm", "new")
        return target

    return make


def commit_all(root: Path, message: str = "edit") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the project except git's own, by path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts and "__pycache__" not in p.parts
    }
