"""The render pipeline: paths, .jinja files, byte copies, and unsafe templates."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from tests.scaffold.helpers import PNG, make_template
from webkit_cli.errors import TemplateError
from webkit_cli.scaffold.render import Entry, iter_render
from webkit_cli.scaffold.template import load_template

CONTEXT: dict[str, Any] = {
    "name": "my-site",
    "package": "my_site",
    "description": "d",
    "author": "Ada",
    "year": 2026,
    "secret_key": "k" * 64,
    "database": "sqlite",
    "docker": False,
    "db_name": "my_site_db",
}


def render(root: Path, **overrides: Any) -> dict[str, Entry]:
    tpl = load_template(root)
    return {e.path.as_posix(): e for e in iter_render(tpl, {**CONTEXT, **overrides})}


def test_jinja_files_are_rendered_and_others_copied(tmp_path: Path) -> None:
    out = render(make_template(tmp_path / "t"))
    files = {k: e.data for k, e in out.items() if not e.is_dir}
    assert set(files) == {
        "pyproject.toml",
        "README.md",
        ".env",
        "src/my_site/__init__.py",
        "src/my_site/templates/base.html",
        "src/my_site/static/logo.png",
    }
    assert files["README.md"] == b"# my-site\n\nBy Ada, 2026. Database: sqlite.\n"
    assert files[".env"] == b"SECRET_KEY=" + b"k" * 64 + b"\nDB_NAME=my_site_db\n"
    # Not .jinja: the app's own Jinja template is copied untouched, the PNG byte for byte.
    assert files["src/my_site/templates/base.html"] == (
        b"<title>{{ title }}</title>{% block body %}{% endblock %}\n"
    )
    assert files["src/my_site/static/logo.png"] == PNG
    assert {k for k, e in out.items() if e.is_dir} == {
        "src",
        "src/my_site",
        "src/my_site/static",
        "src/my_site/templates",
    }


def test_parents_come_before_children(tmp_path: Path) -> None:
    tpl = load_template(make_template(tmp_path / "t"))
    seen: set[PurePosixPath] = {PurePosixPath()}
    for entry in iter_render(tpl, CONTEXT):
        assert entry.path.parent in seen
        seen.add(entry.path)


def test_empty_segments_drop_files_and_folders(tmp_path: Path) -> None:
    root = make_template(tmp_path / "t")
    assert "Dockerfile" not in render(root)
    assert "db/schema.sql" not in render(root)
    out = render(root, docker=True, database="postgresql")
    assert out["Dockerfile"].data == b"FROM python:3.12-slim\n"
    assert out["db/schema.sql"].data == b"create table t (id int);\n"


def test_caches_and_vcs_folders_are_not_copied(tmp_path: Path) -> None:
    files = {
        "a.py": "x = 1\n",
        "__pycache__/a.cpython-311.pyc": b"\x00",
        "pkg/__pycache__/b.pyc": b"\x00",
        "stale.pyc": b"\x00",
        ".DS_Store": b"\x00",
        ".git/HEAD": "ref: refs/heads/main\n",
        ".github/workflows/ci.yml": "on: push\n",
        ".gitignore": "*.pyc\n",
    }
    out = render(make_template(tmp_path / "t", files=files))
    assert set(out) == {
        "a.py",
        "pkg",
        ".github",
        ".github/workflows",
        ".github/workflows/ci.yml",
        ".gitignore",
    }


def test_executable_bit_is_kept(tmp_path: Path) -> None:
    root = make_template(tmp_path / "t", files={"run.sh": "#!/bin/sh\n"})
    (root / "files" / "run.sh").chmod(0o755)
    assert render(root)["run.sh"].mode & 0o111


def test_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    root = make_template(
        tmp_path / "t", files={"app/main.py.jinja": "ok\nok\n{% if x %}\nno end\n"}
    )
    with pytest.raises(TemplateError) as info:
        render(root)
    source = root / "files" / "app" / "main.py.jinja"
    assert info.value.message.startswith(f"{source}:")
    assert "Jinja syntax error" in info.value.message
    assert "endif" in info.value.message


def test_syntax_error_line_number(tmp_path: Path) -> None:
    root = make_template(tmp_path / "t", files={"a.txt.jinja": "line1\nline2\n{{ name }\nline4\n"})
    with pytest.raises(TemplateError, match=r"a\.txt\.jinja:3: Jinja syntax error"):
        render(root)


def test_undefined_variable_names_the_file_and_line(tmp_path: Path) -> None:
    root = make_template(tmp_path / "t", files={"a.txt.jinja": "{{ name }}\n\n{{ nope }}\n"})
    with pytest.raises(TemplateError, match=r"a\.txt\.jinja:3: 'nope' is undefined"):
        render(root)


def test_non_utf8_jinja_file(tmp_path: Path) -> None:
    root = make_template(tmp_path / "t", files={"img.png.jinja": PNG})
    with pytest.raises(TemplateError, match="not UTF-8 text: drop its .jinja suffix"):
        render(root)


@pytest.mark.parametrize(
    ("segment", "overrides"),
    [
        ("{{ '..' }}", {}),
        ("{{ package }}", {"package": "../escape"}),
        ("{{ package }}", {"package": "/etc"}),
        ("{{ package }}", {"package": "a\\b"}),
        ("{{ package }}", {"package": "."}),
    ],
)
def test_segments_that_escape_are_refused(
    tmp_path: Path, segment: str, overrides: dict[str, str]
) -> None:
    root = make_template(tmp_path / "t", files={f"{segment}/x.txt": "x"})
    with pytest.raises(TemplateError, match="would write outside the target folder"):
        render(root, **overrides)


def test_bad_path_segment_expression(tmp_path: Path) -> None:
    root = make_template(tmp_path / "t", files={"{{ nope }}.txt": "x"})
    with pytest.raises(TemplateError, match=r"path segment '\{\{ nope \}\}.txt' does not render"):
        render(root)


def test_two_sources_rendering_to_one_path(tmp_path: Path) -> None:
    root = make_template(tmp_path / "t", files={"a.txt": "1", "a.txt.jinja": "2"})
    with pytest.raises(TemplateError, match="both render to a.txt"):
        render(root)


def test_symlink_escaping_the_template_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not copy")
    root = make_template(tmp_path / "t", files={"a.txt": "a"})
    (root / "files" / "leak.txt").symlink_to(secret)
    with pytest.raises(TemplateError, match="is a symlink to .* outside the template"):
        render(root)


def test_symlink_inside_the_template_is_copied_as_a_file(tmp_path: Path) -> None:
    root = make_template(tmp_path / "t", files={"a.txt": "a"})
    (root / "files" / "b.txt").symlink_to("a.txt")
    out = render(root)
    assert out["b.txt"].data == b"a"


def test_symlinked_folder_is_refused(tmp_path: Path) -> None:
    root = make_template(tmp_path / "t", files={"real/a.txt": "a"})
    (root / "files" / "alias").symlink_to("real", target_is_directory=True)
    with pytest.raises(TemplateError, match="symlink to a folder"):
        render(root)


def test_several_files_dirs_the_first_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook for a base template: its files/ laid under the template's own."""
    from tests.conftest import build_file_tree
    from webkit_cli.scaffold import render as render_module

    own = make_template(tmp_path / "own", files={"README.md.jinja": "own {{ name }}\n"})
    base = build_file_tree(
        tmp_path / "base" / "files",
        {
            "README.md": "base readme\n",
            "src/app.py.jinja": '{% include "partials/head.txt" %}APP = "{{ package }}"\n',
            "partials/head.txt": "# from the base\n",
        },
    )
    monkeypatch.setattr(render_module, "template_files_dirs", lambda tpl: [tpl.files_dir, base])
    monkeypatch.setattr(render_module, "template_include_dirs", lambda tpl: [tpl.files_dir, base])
    out = render(own)
    assert out["README.md"].data == b"own my-site\n"  # the template's own file wins
    assert out["src/app.py"].data == b'# from the base\nAPP = "my_site"\n'
    assert out["src"].is_dir
