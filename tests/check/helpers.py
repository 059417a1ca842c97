"""A small clean Flask project that each rule test breaks in exactly one place."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from tests.conftest import build_file_tree
from webkit_cli.check import CheckReport, run_check

PYPROJECT = """\
[project]
name = "demo"
version = "0.1.0"

[tool.webkit]
app = "demo:create_app"
"""

INIT_PY = """\
from __future__ import annotations

import os

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from demo import views

csrf = CSRFProtect()


def create_app(config=None):
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY")
    if config:
        app.config.update(config)
    csrf.init_app(app)
    app.register_blueprint(views.bp)
    return app
"""

VIEWS_PY = """\
from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    return render_template("index.html")


@bp.route("/items/<int:item_id>")
def item(item_id):
    return render_template("item.html", item_id=item_id)


@bp.route("/go")
def go():
    return redirect(url_for(".item", item_id=1))
"""

BASE_HTML = """\
<!doctype html>
<html lang="en">
<head>
  <title>{% block title %}demo{% endblock %}</title>
  <link rel="stylesheet" href="{{ url_for('static', filename='style.css') }}">
</head>
<body>
  <a href="{{ url_for('main.index') }}">home</a>
  {% block body %}{% endblock %}
</body>
</html>
"""

INDEX_HTML = """\
{% extends "base.html" %}
{% block body %}
<a href="{{ url_for('main.item', item_id=2) }}">item 2</a>
<form method="post" action="{{ url_for('main.go') }}">
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <button>go</button>
</form>
{% endblock %}
"""

ITEM_HTML = """\
{% extends "base.html" %}
{% block body %}<p>Item {{ item_id }}</p>{% endblock %}
"""

BASE_FILES: dict[str, str] = {
    "pyproject.toml": PYPROJECT,
    "README.md": "# demo\n\nA small Flask app.\n",
    "src/demo/__init__.py": INIT_PY,
    "src/demo/views.py": VIEWS_PY,
    "src/demo/templates/base.html": BASE_HTML,
    "src/demo/templates/index.html": INDEX_HTML,
    "src/demo/templates/item.html": ITEM_HTML,
    "src/demo/static/style.css": "body { margin: 0; }\n",
}


def make_project(root: Path, overrides: Mapping[str, str | None] | None = None) -> Path:
    """The base project with ``overrides`` applied (``None`` deletes a file)."""
    files: dict[str, str] = dict(BASE_FILES)
    for rel, content in (overrides or {}).items():
        if content is None:
            files.pop(rel, None)
        else:
            files[rel] = content
    root.mkdir(parents=True, exist_ok=True)
    return build_file_tree(root, files)


def locations(report: CheckReport) -> list[tuple[str, str | None, int | None]]:
    """``(code, file, line)`` of every finding, in report order."""
    return [(f.code, f.file, f.line) for f in report.findings]


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the ``nth`` line containing ``needle`` (expected values, by hand)."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == nth:
                return number
    raise AssertionError(f"{needle!r} not in text")


#: The app import's timeout in tests: generous, because a loaded CI machine may take
#: seconds to start the child; the tests of the timeout itself pass their own.
TEST_IMPORT_TIMEOUT = 120.0


def check(root: Path, **options: object) -> CheckReport:
    options.setdefault("import_timeout", TEST_IMPORT_TIMEOUT)
    return run_check(root, **options)  # type: ignore[arg-type]
