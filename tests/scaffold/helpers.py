"""A tiny template for the scaffold tests (independent of the built-in templates' content)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tests.conftest import build_file_tree

TINY_TOML = """\
[template]
name = "tiny"
description = "A tiny test template"
version = "0.3.0"
skip_if_exists = [".env"]

[[questions]]
name = "database"
type = "choice"
help = "Database engine"
choices = ["sqlite", "postgresql"]
default = "sqlite"

[[questions]]
name = "docker"
type = "bool"
help = "Add a Dockerfile"
default = false

[[questions]]
name = "db_name"
help = "Database name"
default = "{{ package }}_db"
validator = "identifier"
"""

#: A 1x1 PNG: binary content that must be copied byte for byte.
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)

TINY_FILES: dict[str, str | bytes] = {
    "pyproject.toml.jinja": (
        '[project]\nname = "{{ name }}"\nversion = "0.1.0"\n'
        "description = {{ description | toml }}\n\n"
        '[tool.webkit]\napp = "{{ package }}:create_app"\n'
    ),
    "README.md.jinja": "# {{ name }}\n\nBy {{ author }}, {{ year }}. Database: {{ database }}.\n",
    ".env.jinja": "SECRET_KEY={{ secret_key }}\nDB_NAME={{ db_name }}\n",
    "src/{{ package }}/__init__.py.jinja": '"""{{ name }}."""\n\nNAME = "{{ package }}"\n',
    "src/{{ package }}/templates/base.html": (
        "<title>{{ title }}</title>{% block body %}{% endblock %}\n"
    ),
    "src/{{ package }}/static/logo.png": PNG,
    "{% if docker %}Dockerfile{% endif %}.jinja": "FROM python:3.12-slim\n",
    "{% if database == 'postgresql' %}db{% endif %}/schema.sql": "create table t (id int);\n",
}


def make_template(
    root: Path,
    files: Mapping[str, str | bytes] | None = None,
    toml: str = TINY_TOML,
) -> Path:
    """Write a template folder at ``root`` (template.toml + files/) and return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "template.toml").write_text(toml, encoding="utf-8")
    build_file_tree(root / "files", TINY_FILES if files is None else files)
    (root / "files").mkdir(exist_ok=True)
    return root


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative POSIX path -> bytes), to compare snapshots."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
