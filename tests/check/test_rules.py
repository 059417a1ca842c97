"""One broken project per rule (exact code, file and line), then the same project fixed.

Every case starts from the clean project of ``helpers.py``, changes the few files the
defect needs and asserts the *whole* report, so a false positive anywhere fails too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.check.helpers import INIT_PY, VIEWS_PY, check, line_of, locations, make_project


@dataclass
class Case:
    id: str
    broken: dict[str, str | None]
    #: (code, file, needle): the finding's line is the line of ``needle`` in ``file``'s text
    expected: list[tuple[str, str | None, str | None]]
    fixed: dict[str, str | None] = field(default_factory=dict)


def _views(extra: str) -> str:
    return VIEWS_PY + "\n\n" + extra


V = "src/demo/views.py"
T = "src/demo/templates"

CASES = [
    # --- project -------------------------------------------------------------------------
    Case(
        "P001-invalid-toml",
        {"pyproject.toml": '[project]\nname = "demo"\nversion = 0.1.0\n'},
        [("P001", "pyproject.toml", "version = 0.1.0")],
    ),
    Case(
        "P002-bad-check-config",
        {"pyproject.toml": '[tool.webkit]\napp = "demo:create_app"\n\n'
         '[tool.webkit.check]\nignore = ["Z999"]\n'},
        [("P002", "pyproject.toml", "[tool.webkit.check]")],
        {"pyproject.toml": '[tool.webkit]\napp = "demo:create_app"\n\n'
         '[tool.webkit.check]\nignore = ["S004"]\n'},
    ),
    Case(
        "P002-app-not-a-string",
        {"pyproject.toml": "[tool.webkit]\napp = 5\n"},
        [("P002", "pyproject.toml", "app = 5")],
    ),
    Case(
        "P003-app-not-found",
        {"pyproject.toml": '[tool.webkit]\napp = "demo:make_it"\n'},
        [("P003", "pyproject.toml", 'app = "demo:make_it"')],
    ),
    Case(
        "P004-import-raises",
        {V: VIEWS_PY.replace("bp = Blueprint", 'raise RuntimeError("boom")\nbp = Blueprint')},
        [("P004", V, 'raise RuntimeError("boom")')],
    ),
    Case(
        "P004-factory-raises-in-testing-config",
        {"src/demo/__init__.py": INIT_PY.replace(
            "    csrf.init_app(app)",
            '    if app.config["TESTING"]:\n        raise KeyError("DATABASE")\n'
            "    csrf.init_app(app)",
        )},
        [("P004", "src/demo/__init__.py", 'raise KeyError("DATABASE")')],
    ),
    Case(
        "P005-syntax-error",
        {"src/demo/util.py": "def helper(:\n    return 1\n"},
        [("P005", "src/demo/util.py", "def helper(:")],
        {"src/demo/util.py": "def helper():\n    return 1\n"},
    ),
    # --- routes --------------------------------------------------------------------------
    Case(
        "R001-duplicate-route",
        {V: _views('@bp.route("/items/<int:item_id>")\ndef item_again(item_id):\n    return ""\n')},
        [("R001", V, "def item_again(item_id):")],
        {V: _views('@bp.route("/items/<int:item_id>/again")\ndef item_again(item_id):\n'
                   '    return ""\n')},
    ),
    Case(
        "R002-view-signature",
        {V: _views('@bp.route("/tags/<tag>")\ndef tag():\n    return ""\n')},
        [("R002", V, "def tag():")],
        {V: _views('@bp.route("/tags/<tag>")\ndef tag(tag):\n    return tag\n')},
    ),
    Case(
        "R003-view-requires-argument-rule-lacks",
        {V: _views('@bp.route("/about")\ndef about(section):\n    return section\n')},
        [("R003", V, "def about(section):")],
        {V: _views('@bp.route("/about")\ndef about(section="intro"):\n    return section\n')},
    ),
    Case(
        "R004-slash-conflict",
        {V: _views('@bp.route("/help")\ndef help_a():\n    return ""\n\n\n'
                   '@bp.route("/help/")\ndef help_b():\n    return ""\n')},
        [("R004", V, "def help_b():")],
    ),
    Case(
        "R005-missing-view",
        {"src/demo/__init__.py": INIT_PY.replace(
            "    return app\n",
            '    app.add_url_rule("/orphan", endpoint="orphan")\n    return app\n',
        )},
        [("R005", None, None)],
    ),
    # --- links ---------------------------------------------------------------------------
    Case(
        "L001-unknown-endpoint-python",
        {V: VIEWS_PY.replace('url_for(".item", item_id=1)', 'url_for("main.itme", item_id=1)')},
        [("L001", V, 'url_for("main.itme"')],
    ),
    Case(
        "L001-relative-endpoint-python",
        {V: VIEWS_PY.replace('url_for(".item", item_id=1)', 'url_for(".itme", item_id=1)')},
        [("L001", V, 'url_for(".itme"')],
    ),
    Case(
        "L001-unknown-endpoint-template",
        {f"{T}/item.html": "{% extends 'base.html' %}\n"
         "{% block body %}\n<a href=\"{{ url_for('main.indx') }}\">back</a>\n{% endblock %}\n"},
        [("L001", f"{T}/item.html", "main.indx")],
        {f"{T}/item.html": "{% extends 'base.html' %}\n"
         "{% block body %}\n<a href=\"{{ url_for('main.index') }}\">back</a>\n{% endblock %}\n"},
    ),
    Case(
        "L002-missing-url-argument",
        {f"{T}/item.html": "{% extends 'base.html' %}\n"
         "{% block body %}\n<a href=\"{{ url_for('main.item') }}\">x</a>\n{% endblock %}\n"},
        [("L002", f"{T}/item.html", "url_for('main.item')")],
        {f"{T}/item.html": "{% extends 'base.html' %}\n"
         "{% block body %}\n<a href=\"{{ url_for('main.item', item_id=3) }}\">x</a>"
         "\n{% endblock %}\n"},
    ),
    Case(
        "L003-missing-static-file",
        {"src/demo/static/style.css": None},
        [("L003", f"{T}/base.html", "filename='style.css'")],
    ),
    # --- templates -----------------------------------------------------------------------
    Case(
        "T001-template-syntax-error",
        {f"{T}/item.html": "{% extends 'base.html' %}\n{% block body %}\n"
         "{% if item_id %}<p>{{ item_id }}</p>\n{% endblock %}\n"},
        [("T001", f"{T}/item.html", "{% endblock %}")],
    ),
    Case(
        "T002-include-missing",
        {f"{T}/item.html": "{% extends 'base.html' %}\n{% block body %}\n"
         "{% include 'partials/card.html' %}\n{% endblock %}\n"},
        [("T002", f"{T}/item.html", "partials/card.html")],
        {f"{T}/item.html": "{% extends 'base.html' %}\n{% block body %}\n"
         "{% include 'partials/card.html' %}\n{% endblock %}\n",
         f"{T}/partials/card.html": "<div>{{ item_id }}</div>\n"},
    ),
    Case(
        "T002-extends-missing",
        {f"{T}/item.html": "{% extends 'layout.html' %}\n"},
        [("T002", f"{T}/item.html", "layout.html")],
    ),
    Case(
        "T002-import-missing",
        {f"{T}/item.html": "{% extends 'base.html' %}\n{% from 'macros.html' import card %}\n"},
        [("T002", f"{T}/item.html", "macros.html")],
        {f"{T}/item.html": "{% extends 'base.html' %}\n{% from 'macros.html' import card %}\n",
         f"{T}/macros.html": "{% macro card(x) %}<div>{{ x }}</div>{% endmacro %}\n"},
    ),
    Case(
        "T003-render-template-missing",
        {V: VIEWS_PY.replace('render_template("item.html"', 'render_template("items.html"')},
        [("T003", V, 'render_template("items.html"')],
    ),
    # --- security ------------------------------------------------------------------------
    Case(
        "S001-secret-literal",
        {"src/demo/config.py": 'DEBUG = False\nSECRET_KEY = "change-me"\n'},
        [("S001", "src/demo/config.py", "SECRET_KEY =")],
        {"src/demo/config.py": 'import os\n\nDEBUG = False\n'
         'SECRET_KEY = os.environ["SECRET_KEY"]\n'},
    ),
    Case(
        "S001-secret-literal-fallback",
        {"src/demo/config.py": 'import os\n\nSECRET_KEY = os.environ.get("SECRET_KEY", "dev")\n'},
        [("S001", "src/demo/config.py", "SECRET_KEY =")],
        {"src/demo/config.py": 'import os\n\nSECRET_KEY = os.environ.get("SECRET_KEY")\n'},
    ),
    Case(
        "S001-secret-in-config-mapping",
        {"src/demo/__init__.py": INIT_PY.replace(
            'app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY")',
            'app.config.from_mapping(SECRET_KEY="dev")')},
        [("S001", "src/demo/__init__.py", 'SECRET_KEY="dev"')],
    ),
    Case(
        "S002-run-debug-true",
        {"wsgi.py": "from demo import create_app\n\napp = create_app()\n\n"
         'if __name__ == "__main__":\n    app.run(debug=True)\n'},
        [("S002", "wsgi.py", "app.run(debug=True)")],
        {"wsgi.py": "from demo import create_app\n\napp = create_app()\n\n"
         'if __name__ == "__main__":\n    app.run()\n'},
    ),
    Case(
        "S002-debug-in-production-config",
        {"src/demo/config.py": "class Config:\n    TESTING = False\n\n\n"
         "class ProductionConfig(Config):\n    DEBUG = True\n\n\n"
         "class DevelopmentConfig(Config):\n    DEBUG = True\n"},
        [("S002", "src/demo/config.py", "DEBUG = True", )],
        {"src/demo/config.py": "class Config:\n    TESTING = False\n\n\n"
         "class ProductionConfig(Config):\n    DEBUG = False\n\n\n"
         "class DevelopmentConfig(Config):\n    DEBUG = True\n"},
    ),
    Case(
        "S003-sql-fstring",
        {"src/demo/db.py": "import sqlite3\n\n\ndef find(name):\n"
         '    con = sqlite3.connect(":memory:")\n'
         "    return con.execute(f\"SELECT * FROM users WHERE name = '{name}'\").fetchall()\n"},
        [("S003", "src/demo/db.py", "con.execute(")],
        {"src/demo/db.py": "import sqlite3\n\n\ndef find(name):\n"
         '    con = sqlite3.connect(":memory:")\n'
         '    return con.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchall()\n'},
    ),
    Case(
        "S003-sql-via-variable-percent",
        {"src/demo/db.py": "def find(cur, name):\n"
         "    query = \"SELECT * FROM users WHERE name = '%s'\" % name\n"
         "    cur.execute(query)\n"},
        [("S003", "src/demo/db.py", "cur.execute(query)")],
        {"src/demo/db.py": "def find(cur, name):\n"
         '    query = "SELECT * FROM users WHERE name = %s"\n'
         "    cur.execute(query, (name,))\n"},
    ),
    Case(
        "S003-sqlalchemy-text-concat",
        {"src/demo/db.py": "from sqlalchemy import text\n\n\ndef find(session, name):\n"
         "    return session.execute(text(\"SELECT * FROM t WHERE n = '\" + name + \"'\"))\n"},
        [("S003", "src/demo/db.py", "text(")],
        {"src/demo/db.py": "from sqlalchemy import text\n\n\ndef find(session, name):\n"
         '    return session.execute(text("SELECT * FROM t WHERE n = :n"), {"n": name})\n'},
    ),
    Case(
        "S003-format-executescript",
        {"src/demo/db.py": "def drop(con, table):\n"
         '    con.executescript("DROP TABLE {}".format(table))\n'},
        [("S003", "src/demo/db.py", "executescript")],
    ),
    Case(
        "S004-safe-filter",
        {f"{T}/item.html": "{% extends 'base.html' %}\n{% block body %}\n"
         "<p>{{ bio|safe }}</p>\n{% endblock %}\n"},
        [("S004", f"{T}/item.html", "bio|safe")],
        {f"{T}/item.html": "{% extends 'base.html' %}\n{% block body %}\n"
         "<p>{{ bio }}</p>{{ '<br>'|safe }}\n{% endblock %}\n"},
    ),
    Case(
        "S005-markup-non-literal",
        {"src/demo/html.py": "from markupsafe import Markup\n\n\ndef bold(text):\n"
         '    return Markup("<b>" + text + "</b>")\n'},
        [("S005", "src/demo/html.py", "Markup(")],
        {"src/demo/html.py": "from markupsafe import Markup\n\n\ndef bold(text):\n"
         '    return Markup("<b>{}</b>").format(text)\n'},
    ),
    Case(
        "S006-autoescape-false",
        {f"{T}/item.html": "{% extends 'base.html' %}\n{% block body %}\n"
         "{% autoescape false %}{{ item_id }}{% endautoescape %}\n{% endblock %}\n"},
        [("S006", f"{T}/item.html", "autoescape false")],
        {f"{T}/item.html": "{% extends 'base.html' %}\n{% block body %}\n"
         "{% autoescape true %}{{ item_id }}{% endautoescape %}\n{% endblock %}\n"},
    ),
    Case(
        "S007-form-without-csrf",
        {f"{T}/item.html": "{% extends 'base.html' %}\n{% block body %}\n"
         '<form method="POST">\n  <input name="q">\n</form>\n{% endblock %}\n'},
        [("S007", f"{T}/item.html", "<form")],
        {f"{T}/item.html": "{% extends 'base.html' %}\n{% block body %}\n"
         '<form method="POST">\n  {{ form.hidden_tag() }}\n  <input name="q">\n</form>\n'
         "{% endblock %}\n"},
    ),
    Case(
        "S007-csrf-in-included-partial-is-enough",
        {f"{T}/item.html": "{% extends 'base.html' %}\n{% block body %}\n"
         '<form method="post">\n  {% include "_nothing.html" %}\n</form>\n{% endblock %}\n',
         f"{T}/_nothing.html": "<input name=q>\n"},
        [("S007", f"{T}/item.html", "<form")],
        {f"{T}/item.html": "{% extends 'base.html' %}\n{% block body %}\n"
         '<form method="post">\n  {% include "_csrf.html" %}\n</form>\n{% endblock %}\n',
         f"{T}/_csrf.html": '<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">\n'},
    ),
    Case(
        "S008-no-csrf-protection-at-all",
        {"src/demo/__init__.py": INIT_PY.replace(
            "from flask_wtf.csrf import CSRFProtect\n", "").replace(
            "csrf = CSRFProtect()\n", "").replace("    csrf.init_app(app)\n", ""),
         f"{T}/index.html": "{% extends 'base.html' %}\n{% block body %}\n"
         '<form method="post" action="/go">\n  <button>go</button>\n</form>\n{% endblock %}\n'},
        [("S008", f"{T}/index.html", "<form")],
        {"src/demo/__init__.py": INIT_PY.replace(
            "from flask_wtf.csrf import CSRFProtect\n", "").replace(
            "csrf = CSRFProtect()\n", "").replace("    csrf.init_app(app)\n", ""),
         f"{T}/index.html": "{% extends 'base.html' %}\n{% block body %}\n"
         '<form method="get" action="/go">\n  <button>go</button>\n</form>\n{% endblock %}\n'},
    ),
    Case(
        "S009-bind-all-interfaces",
        {"wsgi.py": "from demo import create_app\n\napp = create_app()\n\n"
         'if __name__ == "__main__":\n    app.run(host="0.0.0.0", port=8000)\n'},
        [("S009", "wsgi.py", "app.run(")],
        {"wsgi.py": "from demo import create_app\n\napp = create_app()\n\n"
         'if __name__ == "__main__":\n    app.run(port=8000)\n'},
    ),
    # --- hygiene -------------------------------------------------------------------------
    Case(
        "H001-conflict-marker",
        {"README.md": "# demo\n<<<<<<< HEAD\nA small Flask app.\n=======\nA tiny app.\n"
         ">>>>>>> feature\n"},
        [("H001", "README.md", "<<<<<<< HEAD")],
    ),
    Case(
        "H001-conflict-in-python-is-not-also-a-syntax-error",
        {"src/demo/util.py": "<<<<<<< HEAD\nX = 1\n=======\nX = 2\n>>>>>>> other\n"},
        [("H001", "src/demo/util.py", "<<<<<<< HEAD")],
        {"src/demo/util.py": "X = 2\n"},
    ),
    Case(
        "H002-leftover-files",
        {"src/demo/views.py.orig": VIEWS_PY, "src/demo/views.py.rej": "@@ -1 +1 @@\n"},
        [("H002", "src/demo/views.py.orig", None), ("H002", "src/demo/views.py.rej", None)],
        {"src/demo/views.py.orig": None, "src/demo/views.py.rej": None},
    ),
]  # fmt: skip


def _expected(root: Path, case: Case) -> list[tuple[str, str | None, int | None]]:
    result = []
    for code, file, needle in case.expected:
        line = None
        if file is not None and needle is not None:
            line = line_of((root / file).read_text(encoding="utf-8"), needle)
        result.append((code, file, line))
    return result


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_project_reports_the_defect(tmp_path: Path, case: Case) -> None:
    root = make_project(tmp_path / "demo", case.broken)
    report = check(root)
    assert locations(report) == _expected(root, case)
    assert report.exit_code == (
        1 if any(f.severity.label == "error" for f in report.findings) else 0
    )


#: The fixed projects that differ: a case without ``fixed`` is fixed back into the base
#: project itself, checked once (as "base-project") instead of once per such case.
FIXED = [c for c in CASES if c.fixed] + [Case("base-project", {}, [])]


@pytest.mark.parametrize("case", FIXED, ids=[c.id for c in FIXED])
def test_fixed_project_is_silent(tmp_path: Path, case: Case) -> None:
    root = make_project(tmp_path / "demo", case.fixed)
    report = check(root)
    assert report.findings == []
    assert report.notes == []
    assert report.exit_code == 0


def test_base_project_really_imports_and_checks_links(tmp_path: Path) -> None:
    """Guard for the silent cases: the clean project is checked with its app loaded."""
    root = make_project(tmp_path / "demo")
    report = check(root, select=["L"])
    assert report.findings == [] and report.notes == []
    broken = make_project(tmp_path / "broken", {V: VIEWS_PY.replace('".item"', '".nope"')})
    assert [f.code for f in check(broken, select=["L"]).findings] == ["L001"]
