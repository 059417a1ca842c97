"""``webkit check`` judges a project the way its app sees itself (false findings found on
CTFd, flaskr and others, each as a small broken project and its fixed version)."""

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

# --- templates through the app's own loader (CTFd's themes) -------------------------------

THEME_INIT = INIT_PY.replace(
    "    app.register_blueprint(views.bp)\n",
    "    app.register_blueprint(views.bp)\n"
    "    app.jinja_env.loader = ChoiceLoader([ThemeLoader(), app.jinja_env.loader])\n",
).replace(
    "from demo import views\n",
    '''from jinja2 import BaseLoader, ChoiceLoader, TemplateNotFound

from demo import views

THEME = os.path.join(os.path.dirname(__file__), "themes", "admin", "templates")


class ThemeLoader(BaseLoader):
    """Serves "admin/NAME" from the admin theme; cannot list (like CTFd's)."""

    def get_source(self, environment, template):
        if not template.startswith("admin/"):
            raise TemplateNotFound(template)
        path = os.path.join(THEME, template.removeprefix("admin/"))
        if not os.path.isfile(path):
            raise TemplateNotFound(template)
        with open(path, encoding="utf-8") as f:
            return f.read(), path, lambda: True
''',
)
THEME_VIEWS = (
    VIEWS_PY
    + """

@bp.route("/admin")
def admin():
    return render_template("admin/page.html")
"""
)
THEME_BASE = "<main>{% block body %}{% endblock %}</main>\n"
THEME_PAGE = '{% extends "admin/base.html" %}\n{% block body %}admin{% endblock %}\n'


def _theme_project(root: Path, page_base: str = "admin/base.html") -> Path:
    return make_project(
        root,
        {
            "src/demo/__init__.py": THEME_INIT,
            "src/demo/views.py": THEME_VIEWS,
            "src/demo/themes/admin/templates/base.html": THEME_BASE,
            "src/demo/themes/admin/templates/page.html": THEME_PAGE.replace(
                "admin/base.html", page_base
            ),
        },
    )


def test_templates_served_by_the_apps_own_loader_exist(tmp_path: Path) -> None:
    root = _theme_project(tmp_path / "ok")
    assert locations(check(root)) == []


def test_a_name_the_apps_loader_does_not_serve_is_still_reported(tmp_path: Path) -> None:
    root = _theme_project(tmp_path / "broken", page_base="admin/missing.html")
    assert locations(check(root)) == [
        ("T002", "src/demo/themes/admin/templates/page.html", 1),
    ]


# --- Jinja extensions the app registers, whatever --select says ---------------------------

EXT_INIT = INIT_PY.replace(
    "    csrf.init_app(app)\n",
    '    csrf.init_app(app)\n    app.jinja_env.add_extension("jinja2.ext.debug")\n',
)
EXT_ITEM = '{% extends "base.html" %}\n{% block body %}{% debug %}{{ item_id }}{% endblock %}\n'


@pytest.mark.parametrize(
    "options",
    [{}, {"select": ["T"]}, {"select": ["T001"]}, {"no_import": True}],
    ids=["all", "select-T", "select-T001", "no-import"],
)
def test_the_apps_jinja_extensions_parse_its_templates(
    tmp_path: Path, options: dict[str, object]
) -> None:
    root = make_project(
        tmp_path / "p", {"src/demo/__init__.py": EXT_INIT, "src/demo/templates/item.html": EXT_ITEM}
    )
    assert [f for f in check(root, **options).findings if f.code.startswith("T")] == []


@pytest.mark.parametrize("options", [{}, {"select": ["T"]}], ids=["all", "select-T"])
def test_a_tag_no_registered_extension_provides_is_t001_either_way(
    tmp_path: Path, options: dict[str, object]
) -> None:
    root = make_project(tmp_path / "p", {"src/demo/templates/item.html": EXT_ITEM})
    assert locations(check(root, **options)) == [("T001", "src/demo/templates/item.html", 2)]


# --- CSRF checked by the app itself (CTFd's session nonce) --------------------------------

NONCE_INIT = """\
import os

from flask import Flask, abort, request, session

from demo import views


def create_app(config=None):
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY")
    if config:
        app.config.update(config)
    app.register_blueprint(views.bp)

    @app.before_request
    def csrf():
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            if session.get("nonce") != request.form.get("nonce"):
                abort(403)

    return app
"""
NONCE_FORM = """\
{% extends "base.html" %}
{% block body %}
<form method="post" action="{{ url_for('main.go') }}">
  <input type="hidden" name="nonce" value="{{ session.nonce }}">
  <button>go</button>
</form>
{% endblock %}
"""
BARE_FORM = NONCE_FORM.replace(
    '  <input type="hidden" name="nonce" value="{{ session.nonce }}">\n', ""
)


def test_a_before_request_nonce_check_is_csrf_protection(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        {"src/demo/__init__.py": NONCE_INIT, "src/demo/templates/index.html": NONCE_FORM},
    )
    assert locations(check(root)) == []


def test_without_the_check_the_same_form_is_s008(tmp_path: Path) -> None:
    init = NONCE_INIT.replace("    @app.before_request\n", "")
    init = init[: init.index("    def csrf():")] + "    return app\n"
    root = make_project(
        tmp_path / "p", {"src/demo/__init__.py": init, "src/demo/templates/index.html": NONCE_FORM}
    )
    assert locations(check(root)) == [("S008", "src/demo/templates/index.html", 3)]


def test_a_form_without_the_apps_nonce_field_is_s007(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        {"src/demo/__init__.py": NONCE_INIT, "src/demo/templates/index.html": BARE_FORM},
    )
    report = check(root)
    assert locations(report) == [("S007", "src/demo/templates/index.html", 3)]
    assert "nonce" in report.findings[0].message


def test_csrf_protection_can_be_declared_when_it_cannot_be_seen(tmp_path: Path) -> None:
    init = NONCE_INIT.replace("    @app.before_request\n", "")
    init = init[: init.index("    def csrf():")] + "    return app\n"
    files = {"src/demo/__init__.py": init, "src/demo/templates/index.html": NONCE_FORM}
    declared = PYPROJECT + '\n[tool.webkit.check]\ncsrf-token = "nonce"\n'
    assert (
        locations(check(make_project(tmp_path / "a", {**files, "pyproject.toml": declared}))) == []
    )
    files["src/demo/templates/index.html"] = BARE_FORM
    broken = check(make_project(tmp_path / "b", {**files, "pyproject.toml": declared}))
    assert locations(broken) == [("S007", "src/demo/templates/index.html", 3)]


# --- TESTING = True: test code for S001 and S002 alike ------------------------------------

CONFIG_PY = """\
import os


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")


class CIConfig(Config):
    TESTING = True
    SECRET_KEY = "ci-only"
    DEBUG = True
"""


def test_a_config_class_with_testing_true_is_test_code(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", {"src/demo/config.py": CONFIG_PY})
    assert locations(check(root)) == []


def test_the_same_settings_without_testing_are_reported(tmp_path: Path) -> None:
    config = CONFIG_PY.replace("    TESTING = True\n", "")
    root = make_project(tmp_path / "p", {"src/demo/config.py": config})
    assert locations(check(root)) == [
        ("S001", "src/demo/config.py", line_of(config, '"ci-only"')),
        ("S002", "src/demo/config.py", line_of(config, "DEBUG = True")),
    ]


# --- add_url_rule(rule, endpoint=...) beside the view that serves the URL (flaskr) --------

ALIAS_INIT = INIT_PY.replace(
    "    app.register_blueprint(views.bp)\n",
    '    app.register_blueprint(views.bp)\n    app.add_url_rule("/", endpoint="index")\n',
)
ALIAS_BASE = "<a href=\"{{ url_for('index') }}\">home</a>\n"


def test_an_endpoint_alias_of_a_served_url_is_no_error(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "p",
        {"src/demo/__init__.py": ALIAS_INIT, "src/demo/templates/nav.html": ALIAS_BASE},
    )
    assert locations(check(root)) == []


def test_a_viewless_endpoint_of_its_own_url_is_still_r005(tmp_path: Path) -> None:
    init = ALIAS_INIT.replace('add_url_rule("/"', 'add_url_rule("/home"')
    root = make_project(tmp_path / "p", {"src/demo/__init__.py": init})
    assert [f.code for f in check(root).findings] == ["R005"]


def test_an_alias_registered_before_the_view_shadows_it(tmp_path: Path) -> None:
    init = INIT_PY.replace(
        "    app.register_blueprint(views.bp)\n",
        '    app.add_url_rule("/", endpoint="index")\n    app.register_blueprint(views.bp)\n',
    )
    root = make_project(tmp_path / "p", {"src/demo/__init__.py": init})
    assert sorted(f.code for f in check(root).findings) == ["R001", "R005"]


# --- other tools' suppressions of the same finding ----------------------------------------

SQL = """\
def find(con, name):
    return con.execute(f"SELECT * FROM users WHERE name = '{name}'"){comment}
"""


@pytest.mark.parametrize(
    "comment",
    ["  # noqa: S608", "  # nosec", "  # nosec B608", "  # nosec: B608", "  # noqa: E501, S608"],
)
def test_ruff_and_bandit_suppressions_of_sql_formatting_are_honoured(
    tmp_path: Path, comment: str
) -> None:
    root = make_project(tmp_path / "p", {"src/demo/db.py": SQL.replace("{comment}", comment)})
    assert locations(check(root, no_import=True)) == []


@pytest.mark.parametrize("comment", ["", "  # noqa", "  # noqa: E501", "  # nosec B105"])
def test_other_codes_and_a_bare_noqa_do_not_silence_s003(tmp_path: Path, comment: str) -> None:
    root = make_project(tmp_path / "p", {"src/demo/db.py": SQL.replace("{comment}", comment)})
    assert locations(check(root, no_import=True)) == [("S003", "src/demo/db.py", 2)]


def test_noqa_where_the_sql_is_built_covers_its_execution(tmp_path: Path) -> None:
    built = (
        "def reset(con, table):\n"
        "    query = \"SELECT setval('{t}')\".format(  # noqa: S608\n"
        "        t=table\n"
        "    )\n"
        "    con.execute(query)\n"
    )
    root = make_project(tmp_path / "p", {"src/demo/db.py": built})
    assert locations(check(root, no_import=True)) == []
    unmarked = built.replace("  # noqa: S608", "")
    root = make_project(tmp_path / "q", {"src/demo/db.py": unmarked})
    assert locations(check(root, no_import=True)) == [("S003", "src/demo/db.py", 5)]


# --- an extension defined in the project's own code --------------------------------------

OWN_EXT = """\
from jinja2 import nodes
from jinja2.ext import Extension


class ShoutExtension(Extension):
    tags = {"shout"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endshout",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_shout"), [], [], body).set_lineno(lineno)

    def _shout(self, caller):
        return caller().upper()
"""
OWN_EXT_INIT = INIT_PY.replace(
    "    csrf.init_app(app)\n",
    "    csrf.init_app(app)\n    app.jinja_env.add_extension(ShoutExtension)\n",
).replace(
    "from demo import views\n",
    "from demo import views\nfrom demo.jinja_ext import ShoutExtension\n",
)
SHOUT = (
    '{% extends "base.html" %}\n'
    "{% block body %}{% shout %}{{ item_id }}{% endshout %}\n"
    "{% endblock %}\n"
)


def test_an_extension_of_the_projects_own_code_parses_its_tags(tmp_path: Path) -> None:
    files = {
        "src/demo/__init__.py": OWN_EXT_INIT,
        "src/demo/jinja_ext.py": OWN_EXT,
        "src/demo/templates/item.html": SHOUT,
    }
    assert locations(check(make_project(tmp_path / "ok", files))) == []
    files["src/demo/templates/item.html"] = SHOUT.replace("{% endshout %}", "")
    broken = check(make_project(tmp_path / "broken", files))
    assert locations(broken) == [("T001", "src/demo/templates/item.html", 3)]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("<input name=q>", ["S007"]),
        ('<input type=hidden name=csrf_token value="{{ csrf_token() }}">', []),
    ],
)
def test_an_include_served_by_the_apps_loader_is_followed_for_the_csrf_token(
    tmp_path: Path, fields: str, expected: list[str]
) -> None:
    root = _theme_project(tmp_path / "p")
    theme = root / "src/demo/themes/admin/templates"
    (theme / "fields.html").write_text(fields + "\n", encoding="utf-8")
    (theme / "page.html").write_text(
        '{% extends "admin/base.html" %}\n{% block body %}\n<form method="post">\n'
        '{% include "admin/fields.html" %}\n</form>\n{% endblock %}\n',
        encoding="utf-8",
    )
    assert [f.code for f in check(root).findings] == expected
