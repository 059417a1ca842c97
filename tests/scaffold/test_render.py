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


# --- the Jinja-free fast path must be indistinguishable from Jinja -------------------------

SIMPLE_CONTEXT: dict[str, Any] = {
    "name": "my-site",
    "n": 3,
    "flag": True,
    "nothing": None,
    "text": 'say "hi" <b>&\'</b> \\ é',
    "empty": "",
}


@pytest.mark.parametrize(
    "source",
    [
        "",
        "no tags at all }} {\n",
        "{{ name }}",
        "a {{name}} b {{  n  }} c {{ flag }} {{ nothing }}\n",
        "{{ text }}|{{ text | toml }}|{{ text|tojson }}|{{ n | toml }}|{{ flag | tojson }}",
        "line1\r\nline2\n\n",
        "trailing newline kept\n",
        "{% if flag %}x{% endif %}",
        "a\n{%- if flag %}\nyes {{ n }}\n{%- endif %}\nb\n",
        "a\n  {%- if not flag -%}  \n no\n{%- else -%}\n  yes  \n{% endif -%}\n\nb",
        "{% if nothing %}1{% else %}2{% endif %}"
        "{% if n %}{% if not flag %}x{% else %}y{% endif %}{% endif %}",
        "{%if flag%}tight{%endif%} {{-  name  -}} \n end",
    ],
)
def test_simple_substitution_matches_jinja(source: str) -> None:
    from webkit_cli.scaffold.render import make_environment, render_simple

    fast = render_simple(source, SIMPLE_CONTEXT)
    assert fast is not None
    # Files are read with universal newlines, so Jinja and the fast path see the same text.
    text = source.replace("\r\n", "\n")
    assert render_simple(text, SIMPLE_CONTEXT) == make_environment().from_string(text).render(
        SIMPLE_CONTEXT
    )


@pytest.mark.parametrize(
    "source",
    [
        "{# comment #}",
        "{% for x in y %}{% endfor %}",
        "{% if flag %}unclosed",
        "{% else %}",
        "{% endif %}",
        "{% if flag %}a{% else %}b{% else %}c{% endif %}",
        "{% if n == 3 %}x{% endif %}",
        "{% if true %}x{% endif %}",
        "{% if empty %}{{ missing }}{% endif %}",  # Jinja would not evaluate it: it decides
        "{{ name.upper() }}",
        "{{ name | upper }}",
        "{{ missing }}",
        "{{ name }} and {{ broken",
    ],
)
def test_anything_else_goes_through_jinja(source: str) -> None:
    from webkit_cli.scaffold.render import render_simple

    assert render_simple(source, SIMPLE_CONTEXT) is None


def _builtin_jinja_files() -> list[Path]:
    from webkit_cli.scaffold.template import builtin_templates_dir

    base = builtin_templates_dir()
    return sorted(base.rglob("*.jinja")) if base else []


@pytest.mark.parametrize("path", _builtin_jinja_files(), ids=lambda p: "/".join(p.parts[-4:]))
@pytest.mark.parametrize("author", ["", 'Ada "Countess" Lovelace'])
def test_fast_path_matches_jinja_on_every_builtin_file(path: Path, author: str) -> None:
    from webkit_cli.scaffold.render import make_environment, render_simple
    from webkit_cli.scaffold.template import load_template

    root = next(p for p in path.parents if (p / "template.toml").is_file())
    template = load_template(root)
    context: dict[str, Any] = {**CONTEXT, "author": author, "template_name": "t"}
    context.update({"webkit_version": "0", "template_version": "1"})
    for q in template.questions:
        context[q.name] = q.default
    text = path.read_text(encoding="utf-8")
    fast = render_simple(text, context)
    if fast is not None:
        assert fast == make_environment().from_string(text).render(context)


def test_jinja_is_not_imported_for_simple_templates(tmp_path: Path) -> None:
    import subprocess
    import sys

    files = {
        "{{ package }}/a.txt.jinja": "{{ name }}\n{%- if author %} by {{ author }}{% endif %}\n"
    }
    root = make_template(tmp_path / "t", files=files)
    code = (
        "import sys, pathlib\n"
        "from webkit_cli.scaffold import create_project\n"
        f"create_project(template={str(root)!r}, target=pathlib.Path({str(tmp_path / 'p')!r}),"
        " author='a')\n"
        "print('jinja2' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert (tmp_path / "p" / "p" / "a.txt").read_text() == "p by a\n"
