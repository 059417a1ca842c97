"""Realistic, correct code must produce no finding: false positives are bugs.

Each idiom below is something real Flask projects do safely; next to the clean tests,
the unsafe variants prove the same rules are awake.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.check.helpers import (
    INIT_PY,
    PYPROJECT,
    VIEWS_PY,
    check,
    line_of,
    locations,
    make_project,
)

SAFE_PYTHON = '''\
"""Idioms that must not be flagged."""

import os
import sqlite3

import sqlalchemy as sa
from markupsafe import Markup, escape
from sqlalchemy import text

USERS = "users"
COLUMNS = "id, name"
BASE_QUERY = "SELECT id, name FROM users"


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")
    DEBUG = os.environ.get("FLASK_DEBUG") == "1"


class DevelopmentConfig(Config):
    DEBUG = True


class TestingConfig(Config):
    TESTING = True
    DEBUG = True


def configure(app):
    if os.environ.get("APP_ENV") == "development":
        app.config["DEBUG"] = True
    app.secret_key = os.environ["SECRET_KEY"]
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY") or None


def queries(con: sqlite3.Connection, ids: list[int], name: str, limit: int, sql: str):
    con.execute("SELECT * FROM users WHERE name = ?", (name,))
    con.execute("SELECT * FROM users WHERE name = %s" , (name,))
    con.execute(f"SELECT {COLUMNS} FROM {USERS}")
    con.execute(BASE_QUERY + " WHERE id = ?", (ids[0],))
    placeholders = ", ".join("?" * len(ids))
    con.execute(f"SELECT * FROM users WHERE id IN ({placeholders})", ids)
    marks = ",".join(["?"] * len(ids))
    con.execute("SELECT * FROM users WHERE id IN (%s)" % marks, ids)
    con.execute(f"SELECT * FROM users LIMIT {int(limit)}")
    query = "SELECT * FROM users"
    query += " WHERE name = ?"
    con.execute(query, (name,))
    con.execute(sql)
    con.executescript("CREATE TABLE IF NOT EXISTS t (id INTEGER)")
    text("SELECT 1")
    sa.text("SELECT * FROM users WHERE id = :id")
    return "{} users".format(len(ids))  # formatting that never reaches SQL


def markup(name: str):
    a = Markup("<b>static</b>")
    b = Markup("<b>{}</b>").format(name)
    c = Markup(escape(name))
    return a + b + c


class Logger:
    def __init__(self):
        self.debug = True
        self.secret_key = "not a flask secret"


def serve(app):
    import asyncio

    asyncio.run(main(), debug=True)
    app.run()
    app.run(host="127.0.0.1", debug=os.environ.get("FLASK_DEBUG") == "1")
'''

MACROS = """\
{% macro field(f) %}<label>{{ f.label }} {{ f() }}</label>{% endmacro %}
{% macro csrf() %}<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">{% endmacro %}
"""

PAGE = """\
{% extends "base.html" %}
{% from "macros.html" import field, csrf %}
{% import "macros.html" as m %}
{% import "macros.html" as wtf %}{# a library macro it cannot see #}
{% block body %}
{% include "missing-is-fine.html" ignore missing %}
{% include ["nope.html", "item.html"] %}
{% set layout = "base.html" %}
<a href="{{ url_for('main.item', item_id=1, _external=True) }}">one</a>
<a href="{{ url_for('main.item', **params) }}">dynamic</a>
<a href="{{ url_for(endpoint_name) }}">dynamic endpoint</a>
<p>{{ '<br>'|safe }}</p>
<script type="application/json" id="data">{{ payload|tojson|safe }}</script>
<p>{{ user_text|e|safe }}</p>
<form method="get" action="/search"><input name="q"></form>
<form method="post">{{ form.csrf_token }}{{ field(form.name) }}</form>
<form method="post">{{ csrf() }}</form>
<form method="post">{{ m.csrf() }}</form>
<form method="post">
  {{ wtf.quick_form(form) }}
</form>
<form method="post" action="https://payments.example.com/checkout"><input name="amount"></form>
<form method="{{ method }}"></form>
{% autoescape true %}{{ item_id }}{% endautoescape %}
{% endblock %}
"""

RST = "Title\n=======\n\nText with >>>>>>> arrows\n<<<<<<< but no conflict\n"


def test_realistic_clean_project_has_no_findings(tmp_path: Path) -> None:
    conftest = (
        "import pytest\n\nfrom demo import create_app\n\n\n@pytest.fixture\ndef app():\n"
        '    return create_app({"TESTING": True, "SECRET_KEY": "test-key"})\n'
    )
    root = make_project(
        tmp_path / "demo",
        {
            "src/demo/safe.py": SAFE_PYTHON,
            "src/demo/templates/macros.html": MACROS,
            "src/demo/templates/page.html": PAGE,
            "docs/index.rst": RST,
            "tests/conftest.py": conftest,
            ".venv/lib/leftover.py.orig": "x",
            ".venv/pyvenv.cfg": "home = /usr\n",
            "node_modules/pkg/index.html": "{% broken",
        },
    )
    report = check(root)
    assert report.findings == []
    assert report.notes == []


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ('def f(con, name):\n    con.execute(f"SELECT * FROM t WHERE n = {name}")\n', "S003"),
        ('def f(con, ids):\n    con.execute("SELECT * FROM t WHERE id IN (%s)" % ids)\n', "S003"),
        ('def f(con, n):\n    q = "SELECT * FROM t"\n    q += " WHERE n = " + n\n'
         "    con.execute(q)\n", "S003"),
        ('def f(con, n):\n    con.execute(BASE_QUERY + " AND n = " + n)\n', "S003"),
        ('from markupsafe import Markup\n\n\ndef f(x):\n    return Markup(x)\n', "S005"),
        ('import os\nSECRET_KEY = os.getenv("SECRET_KEY", "fallback")\n', "S001"),
        ('import os\nSECRET_KEY = os.environ.get("SECRET_KEY") or "dev"\n', "S001"),
        ("class Config:\n    DEBUG = True\n", "S002"),
        ("def f(app):\n    app.debug = True\n", "S002"),
        ("from jinja2 import Environment\nenv = Environment(autoescape=False)\n", "S006"),
        ('def f(app):\n    app.run(host="::")\n', "S009"),
        ('def f(app):\n    app.run("0.0.0.0", 80)\n', "S009"),
        ('def f(app):\n    app.run("localhost", 80, True)\n', "S002"),
    ],
)  # fmt: skip
def test_unsafe_variants_are_flagged(tmp_path: Path, source: str, code: str) -> None:
    root = make_project(tmp_path / "demo", {"src/demo/unsafe.py": source})
    assert [c for c, *_ in locations(check(root))] == [code]


def test_view_module_without_its_own_blueprint_skips_relative_endpoints(tmp_path: Path) -> None:
    """``.name`` in a module that does not define the blueprint is not guessed."""
    helper = "from flask import url_for\n\n\ndef link():\n    return url_for('.anything')\n"
    root = make_project(tmp_path / "demo", {"src/demo/helpers.py": helper})
    assert check(root).findings == []


def test_url_defaults_make_arguments_unknowable(tmp_path: Path) -> None:
    views = VIEWS_PY + (
        "\n\n@bp.url_defaults\ndef add_item(endpoint, values):\n"
        "    values.setdefault('item_id', 1)\n"
    )
    page = "{% extends 'base.html' %}{% block body %}{{ url_for('main.item') }}{% endblock %}\n"
    root = make_project(
        tmp_path / "demo",
        {"src/demo/views.py": views, "src/demo/templates/item.html": page},
    )
    assert check(root).findings == []


def test_factory_taking_a_config_name(tmp_path: Path) -> None:
    init = INIT_PY.replace("def create_app(config=None):", 'def create_app(config_name="default"):')
    init = init.replace("    if config:\n        app.config.update(config)\n", (
        '    if config_name != "testing":\n        raise RuntimeError(config_name)\n'
        '    app.config["SECRET_KEY"] = "x" * 0 or os.urandom(16)\n'
    ))  # fmt: skip
    root = make_project(tmp_path / "demo", {"src/demo/__init__.py": init})
    assert check(root).findings == []


def test_blueprint_template_folder_resolves_relative_endpoints(tmp_path: Path) -> None:
    admin = (
        "from flask import Blueprint, render_template\n\n"
        'bp = Blueprint("admin", __name__, template_folder="templates", url_prefix="/admin")\n\n\n'
        '@bp.route("/")\ndef dashboard():\n    return render_template("admin/dash.html")\n'
    )
    init = INIT_PY.replace(
        "    app.register_blueprint(views.bp)\n",
        "    app.register_blueprint(views.bp)\n    from demo.admin import bp as admin_bp\n\n"
        "    app.register_blueprint(admin_bp)\n",
    )
    good = "{{ url_for('.dashboard') }}\n"
    files = {
        "src/demo/__init__.py": init,
        "src/demo/admin/__init__.py": admin,
        "src/demo/admin/templates/admin/dash.html": good,
    }
    assert check(make_project(tmp_path / "ok", files)).findings == []
    files["src/demo/admin/templates/admin/dash.html"] = "{{ url_for('.dashbord') }}\n"
    assert locations(check(make_project(tmp_path / "bad", files))) == [
        ("L001", "src/demo/admin/templates/admin/dash.html", 1)
    ]


def test_pyproject_without_webkit_table_is_a_plain_project(tmp_path: Path) -> None:
    pyproject = PYPROJECT.replace('[tool.webkit]\napp = "demo:create_app"\n', "")
    wsgi = "from demo import create_app\n\napp = create_app({'SECRET_KEY': None})\n"
    root = make_project(tmp_path / "demo", {"pyproject.toml": pyproject, "wsgi.py": wsgi})
    report = check(root)
    assert report.findings == [] and report.notes == []


def test_extension_templates_are_not_guessed_without_the_app(tmp_path: Path) -> None:
    """``bootstrap/base.html`` may come from an installed extension: only the app can say."""
    page = "{% extends 'bootstrap/base.html' %}\n"
    root = make_project(tmp_path / "demo", {"src/demo/templates/item.html": page})
    assert check(root, no_import=True).findings == []
    # With the app imported its loader is the truth, and no extension provides it here.
    assert locations(check(root)) == [("T002", "src/demo/templates/item.html", 1)]
    # A name in a folder the project has is checked even without the app.
    page = "{% extends 'partials/nope.html' %}\n"
    root = make_project(
        tmp_path / "p2",
        {"src/demo/templates/item.html": page, "src/demo/templates/partials/a.html": ""},
    )
    assert locations(check(root, no_import=True)) == [("T002", "src/demo/templates/item.html", 1)]


def test_overrides_of_an_extensions_templates_without_the_app(tmp_path: Path) -> None:
    """templates/admin/index.html overrides Flask-Admin's and extends its admin/master.html:
    the admin/ folder beside ``flask_admin`` is the extension's, so its other names may be."""
    page = "{% extends 'admin/master.html' %}\n"
    files = {
        "src/demo/admin.py": "import flask_security\nfrom flask_admin import Admin\n",
        "src/demo/templates/admin/index.html": page,
        "src/demo/templates/dash.html": page + "{% import 'admin/lib.html' as lib %}\n",
        "src/demo/templates/security/login_user.html": "{% extends 'security/base.html' %}\n",
    }
    root = make_project(tmp_path / "demo", files)
    assert check(root, no_import=True, select=["T002"]).findings == []
    # A folder named for no imported extension is still the project's own: a typo is found.
    admin = files.pop("src/demo/admin.py")
    root = make_project(tmp_path / "p2", files)
    assert locations(check(root, no_import=True, select=["T002"])) == [
        ("T002", "src/demo/templates/admin/index.html", 1),
        ("T002", "src/demo/templates/dash.html", 1),
        ("T002", "src/demo/templates/dash.html", 2),
        ("T002", "src/demo/templates/security/login_user.html", 1),
    ]
    files["src/demo/admin.py"] = admin
    files["src/demo/templates/partials/a.html"] = "{% include 'partials/nope.html' %}\n"
    root = make_project(tmp_path / "p3", files)
    report = check(root, no_import=True, select=["T002"])
    assert locations(report) == [("T002", "src/demo/templates/partials/a.html", 1)]


def test_blueprint_template_folder_found_without_the_app(tmp_path: Path) -> None:
    admin = (
        "from flask import Blueprint, render_template\n\n"
        'bp = Blueprint("admin", __name__, template_folder="tpl")\n\n\n'
        "def dash():\n    return render_template('dash.html')\n"
    )
    files = {"src/demo/admin.py": admin, "src/demo/tpl/dash.html": "{% include 'x.html' %}\n"}
    root = make_project(tmp_path / "demo", files)
    assert locations(check(root, no_import=True)) == [("T002", "src/demo/tpl/dash.html", 1)]


CSRF_MACROS = """\
{% macro hidden_fields() %}
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
{% endmacro %}
{% macro field(f) %}<label>{{ f() }}</label>{% endmacro %}
"""


@pytest.mark.parametrize(
    ("page", "expected_form_line"),
    [
        # an imported macro whose name says nothing, but which renders the token
        ('{% from "m.html" import hidden_fields %}\n<form method="post">{{ hidden_fields() }}'
         "</form>\n", None),
        ('{% import "m.html" as m %}\n<form method="post">\n{{ m.hidden_fields() }}\n</form>\n',
         None),
        # a macro of the same template
        ("{% macro tok() %}{{ csrf_token() }}{% endmacro %}\n<form method=post>{{ tok() }}"
         "</form>\n", None),
        # macros that render no token do not count
        ('{% from "m.html" import field %}\n<form method="post">{{ field(form.x) }}</form>\n', 2),
        ('{% import "m.html" as m %}\n\n<form method="post">{{ m.field(form.x) }}</form>\n', 3),
        # line numbers survive multi-line tags and expressions before the form
        ("{% set opts = {\n  'a': 1,\n  'b': 2,\n} %}\n{{ opts\n  | length }}\n"
         "{% if opts %}<p>x</p>{% endif %}\n<form method='post'>\n</form>\n", 8),
    ],
)  # fmt: skip
def test_csrf_token_through_macros(
    tmp_path: Path, page: str, expected_form_line: int | None
) -> None:
    files = {"src/demo/templates/m.html": CSRF_MACROS, "src/demo/templates/page.html": page}
    report = check(make_project(tmp_path / "demo", files), select=["S007"])
    expected = [] if expected_form_line is None else [
        ("S007", "src/demo/templates/page.html", expected_form_line)
    ]  # fmt: skip
    assert locations(report) == expected


def test_factory_with_a_config_class_default_is_called_bare(tmp_path: Path) -> None:
    init = INIT_PY.replace(
        "def create_app(config=None):\n    app = Flask(__name__)\n",
        "class Config:\n    TESTING = True\n\n\n"
        "def create_app(config_class=Config):\n    app = Flask(__name__)\n"
        "    app.config.from_object(config_class)\n    config = None\n",
    )
    root = make_project(tmp_path / "demo", {"src/demo/__init__.py": init})
    report = check(root)
    assert report.findings == [] and report.notes == []


def test_common_jinja_extensions_parse_without_the_app(tmp_path: Path) -> None:
    page = (
        "{% for x in items %}{% if x %}{% break %}{% endif %}{% endfor %}\n"
        "{% do items.append(1) %}{% trans %}Hello{% endtrans %}\n"
    )
    root = make_project(tmp_path / "demo", {"src/demo/templates/page.html": page})
    assert check(root, no_import=True).findings == []
    # The app's own environment decides when it is imported: it has none of these.
    assert [f.code for f in check(root).findings] == ["T001"]


SAFE_SQL = """\
from psycopg2.extensions import quote_ident
from sqlalchemy import text


def truncate(conn, engine, names):
    quote = engine.dialect.identifier_preparer.quote
    tables = ", ".join(quote(name) for name in names)
    conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def drop(conn, cur, name):
    preparer = conn.dialect.identifier_preparer
    conn.execute(text(f"DROP TABLE {preparer.quote(name)}"))
    conn.execute(text("DROP SCHEMA %s" % conn.dialect.identifier_preparer.quote_schema(name)))
    cur.execute(f"DROP TABLE {quote_ident(name, cur)}")


def numbers(cur, pid, n, name):
    cur.execute("KILL %d" % pid)
    cur.execute("SELECT * FROM t WHERE n = %s LIMIT %d" % ("'x'", n))
    cur.execute("SELECT * FROM t LIMIT %(n)d OFFSET %(o)d" % {"n": n, "o": n * 2})
    cur.execute(f"SELECT * FROM t LIMIT {n:d} OFFSET {n * 2:05d}")
    cur.execute("SELECT * FROM t LIMIT {:d} OFFSET {offset:d}".format(n, offset=n))
    limit = "LIMIT %d" % n
    cur.execute(f"SELECT * FROM t {limit}")
    cur.execute("SELECT * FROM t WHERE n = ? LIMIT %i" % n, (name,))
"""


def test_quoted_identifiers_and_numbers_in_sql(tmp_path: Path) -> None:
    """A table name cannot be a bound parameter: quoting it is the fix, as is ``%d``."""
    root = make_project(tmp_path / "demo", {"src/demo/db.py": SAFE_SQL})
    assert check(root, no_import=True, select=["S003"]).findings == []


@pytest.mark.parametrize(
    "statement",
    [
        # quoted_name() formatted into a string is the bare name: SQLAlchemy quotes it only
        # when it compiles the name itself.
        'con.execute(text(f"SELECT * FROM {quoted_name(name, True)}"))',
        # quotes written by hand do not escape a quote in the name
        "con.execute(f'CREATE EXTENSION IF NOT EXISTS \"{name}\"')",
        'con.execute(text(f"DROP TABLE {quote(name)}"))',  # urllib's quote
        'con.execute(text(f"DROP TABLE {preparer.quote(name)}"))',  # an unknown preparer
        'con.execute("SELECT * FROM t WHERE n = %s LIMIT %d" % (name, n))',
        'con.execute("SELECT * FROM t WHERE n = \'%(n)s\' LIMIT %(l)d" % {"n": name, "l": n})',
        'con.execute("SELECT * FROM t WHERE n = %c" % n)',
        'con.execute(f"SELECT * FROM t WHERE n = {name:>10}")',
        'con.execute(f"SELECT * FROM t WHERE n = {name!r:d}")',
        'con.execute("SELECT * FROM t WHERE n = {} LIMIT {:d}".format(name, n))',
        'con.execute("SELECT * FROM t WHERE n = {n} LIMIT {l:d}".format(n=name, l=n))',
        'con.execute("SELECT * FROM t LIMIT {:d} {}".format(*args))',
    ],
)
def test_sql_near_misses_of_quoting_and_numbers_are_flagged(tmp_path: Path, statement: str) -> None:
    source = (
        "from urllib.parse import quote\n\nfrom sqlalchemy import text\n"
        "from sqlalchemy.sql import quoted_name\n\n\n"
        f"def f(con, preparer, name, n, args):\n    {statement}\n"
    )
    root = make_project(tmp_path / "demo", {"src/demo/db.py": source})
    report = check(root, no_import=True, select=["S003"])
    assert locations(report) == [("S003", "src/demo/db.py", 8)]


def test_sql_formatted_in_test_helpers(tmp_path: Path) -> None:
    """Test code formats the names of its own fixtures into SQL, as it sets a throw-away
    SECRET_KEY (S001): no request reaches it. The same line in the app is still S003."""
    helper = (
        "def create_role(cur, name):\n"
        '    cur.execute("CREATE ROLE %s LOGIN" % name)\n'
        '    cur.execute(f"GRANT ALL ON DATABASE test TO {name}")\n'
    )
    files = {
        "tests/utils.py": helper,
        "tests/roles/test_roles.py": helper,
        "src/demo/test_helpers.py": helper,
        "src/demo/db.py": helper,
    }
    root = make_project(tmp_path / "demo", files)
    report = check(root, no_import=True, select=["S003"])
    assert locations(report) == [("S003", "src/demo/db.py", 2), ("S003", "src/demo/db.py", 3)]


def test_render_template_of_any_file_in_a_templates_folder(tmp_path: Path) -> None:
    """render_template serves any file of a templates folder (SQL, CSS, JS rendered with
    Jinja), and Jinja drops a leading "/" or "./" from a name."""
    views = (
        "from flask import render_template\n\n\ndef sql():\n"
        '    render_template("sql/create.sql")\n'
        '    render_template("css/node.css", colour="red")\n'
        '    render_template("/index.html")\n'
        '    render_template("./index.html")\n'
        '    render_template("css/missing.css")\n'
        '    return render_template("../index.html")\n'
    )
    page = '{% include "css/node.css" %}{% include "/index.html" %}{% include "sql/nope.sql" %}\n'
    files = {
        "src/demo/queries.py": views,
        "src/demo/templates/sql/create.sql": "CREATE TABLE t (id INTEGER)\n",
        "src/demo/templates/css/node.css": ".node { color: {{ colour }}; }\n",
        "src/demo/templates/page.html": page,
    }
    root = make_project(tmp_path / "demo", files)
    report = check(root, no_import=True, select=["T002", "T003"])
    assert locations(report) == [
        ("T003", "src/demo/queries.py", 9),
        ("T003", "src/demo/queries.py", 10),
        ("T002", "src/demo/templates/page.html", 1),
    ]
    assert "'sql/nope.sql'" in report.findings[2].message
    # With the app imported its loader says the same.
    assert locations(check(root, select=["T002", "T003"])) == locations(report)


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        # cookiecutter-flask: the blueprint's static folder is the app's, so the app's
        # /static/<path:filename> serves every file the blueprint's would.
        ("static", []),
        ("../demo/static", []),
        # A static folder of its own behind the app's /static: its files are never served.
        ("public/static", ["R001"]),
    ],
)
def test_blueprint_static_folder_shadowed_by_the_apps(
    tmp_path: Path, folder: str, expected: list[str]
) -> None:
    blueprint = f'bp = Blueprint("main", __name__, static_folder="{folder}")'
    views = VIEWS_PY.replace('bp = Blueprint("main", __name__)', blueprint)
    files = {"src/demo/views.py": views, "src/demo/public/static/app.js": ""}
    report = check(make_project(tmp_path / "demo", files), select=["R001"])
    assert [f.code for f in report.findings] == expected
    assert all("'main.static' is never reached" in f.message for f in report.findings)


def test_static_filename_with_a_leading_slash(tmp_path: Path) -> None:
    """url_for("static", filename="/favicon.ico") builds /static//favicon.ico, which
    werkzeug redirects to /static/favicon.ico: the file is found (Flask-Admin's example)."""
    views = VIEWS_PY + (
        '\n\n@bp.route("/favicon.ico")\ndef favicon():\n'
        '    return redirect(url_for("static", filename="/style.css"))\n'
        '\n\n@bp.route("/logo.png")\ndef logo():\n'
        '    return redirect(url_for("static", filename="/logo.png"))\n'
    )
    report = check(make_project(tmp_path / "demo", {"src/demo/views.py": views}), select=["L003"])
    assert locations(report) == [("L003", "src/demo/views.py", line_of(views, "/logo.png", 2))]
    assert "filename='/logo.png'" in report.findings[0].message
