"""``webkit routes`` end to end: options, output formats, exit codes, parity with Flask."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from tests.conftest import build_file_tree
from webkit_cli.cli import cli
from webkit_cli.commands.routes import SORT_CHOICES, routes_command
from webkit_cli.routes import JSON_SCHEMA, SORT_KEYS

VENV_BIN = Path(sys.executable).parent

PYPROJECT = """\
[project]
name = "{name}"
version = "0.1.0"

[tool.webkit]
app = "{app}"
"""

# A small shop: blueprints, a nested blueprint, converters, a redirect, a class-based
# view, and one view per problem kind when PROBLEMS is set in the environment.
SHOP = """\
import os

from flask import Blueprint, Flask
from flask.views import MethodView


def create_app():
    app = Flask(__name__)

    @app.route("/")
    def home():
        return "home"

    app.add_url_rule("/index.html", endpoint="old_home", redirect_to="/")

    catalog = Blueprint("catalog", __name__, url_prefix="/catalog")
    admin = Blueprint("admin", __name__, url_prefix="/admin")

    @catalog.route("/<int:product_id>")
    def product(product_id):
        return str(product_id)

    @catalog.route("/search", methods=["GET", "POST"])
    def search():
        return "search"

    class Orders(MethodView):
        def get(self):
            return "orders"

        def delete(self):
            return "deleted"

    admin.add_url_rule("/orders", view_func=Orders.as_view("orders"))
    catalog.register_blueprint(admin)
    app.register_blueprint(catalog)

    if os.environ.get("PROBLEMS"):
        @app.route("/promo")
        def promo_a():
            return "a"

        @app.route("/promo")
        def promo_b():
            return "b"

        @app.route("/user/<int:user_id>")
        def user(name):
            return name

        @app.route("/help")
        @app.route("/help/")
        def help_page(topic):
            return topic

        @app.route("/faq")
        def faq():
            return "faq"

        @app.route("/faq/")
        def faq_index():
            return "faq index"

        app.add_url_rule("/ghost", endpoint="ghost")
    return app
"""


@pytest.fixture(autouse=True)
def _isolated_imports() -> Iterator[None]:
    """Each test imports its own throw-away app modules (and loads .env files); undo both."""
    path, modules, environ = list(sys.path), set(sys.modules), dict(os.environ)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    os.environ.clear()
    os.environ.update(environ)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    return build_file_tree(
        tmp_path / "shop",
        {
            "pyproject.toml": PYPROJECT.format(name="shop", app="shop:create_app"),
            "src/shop/__init__.py": SHOP,
        },
    )


def shop_line(text: str) -> int:
    """The 1-based line of ``text`` in SHOP, the line webkit must report."""
    return next(n for n, line in enumerate(SHOP.splitlines(), 1) if text in line)


def invoke(runner: CliRunner, project: Path, *args: str, **kwargs: Any) -> Result:
    return runner.invoke(cli, ["routes", "--project", str(project), *args], **kwargs)


def table_rows(output: str) -> list[str]:
    """The route lines of the plain table (between the dashes and the blank line)."""
    lines = output.splitlines()
    end = lines.index("")
    return lines[2:end]


def test_sort_choices_match_the_library() -> None:
    assert set(SORT_CHOICES) == set(SORT_KEYS)


def test_plain_table(runner: CliRunner, shop: Path) -> None:
    result = invoke(runner, shop)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # a clean app: no warning
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["Methods", "Rule", "Endpoint", "View", "Source"]
    rows = table_rows(result.stdout)
    rule_at = lines[0].index("Rule")
    source_at = lines[0].index("Source")
    assert [row[rule_at:].split()[0] for row in rows] == [
        "/",
        "/catalog/<int:product_id>",
        "/catalog/admin/orders",
        "/catalog/search",
        "/index.html",
        "/static/<path:filename>",
    ]
    product = next(r for r in rows if "catalog.product" in r)
    assert product.startswith("GET ")
    assert product[source_at:] == f"src/shop/__init__.py:{shop_line('def product')}"
    assert "shop.create_app.<locals>.product" in product
    orders = next(r for r in rows if "catalog.admin.orders" in r)
    assert orders.startswith("DELETE, GET ")
    assert "shop.create_app.<locals>.Orders" in orders
    assert "→ /" in next(r for r in rows if "old_home" in r)
    assert lines[-1] == "6 routes: app 3, catalog 2, catalog.admin 1"
    assert "\x1b" not in result.output


def test_filters_and_sort(runner: CliRunner, shop: Path) -> None:
    def endpoints(*args: str) -> list[str]:
        result = invoke(runner, shop, "--json", *args)
        assert result.exit_code == 0, result.output
        return [r["endpoint"] for r in json.loads(result.stdout)["routes"]]

    assert endpoints("-g", "product|search") == ["catalog.product", "catalog.search"]
    assert endpoints("-g", "ORDERS") == ["catalog.admin.orders"]
    assert endpoints("-m", "post") == ["catalog.search"]
    assert endpoints("-m", "delete,post") == ["catalog.admin.orders", "catalog.search"]
    assert endpoints("-m", "DELETE", "-m", "POST") == ["catalog.admin.orders", "catalog.search"]
    assert endpoints("-b", "catalog") == [
        "catalog.product",
        "catalog.admin.orders",
        "catalog.search",
    ]
    assert endpoints("-b", "catalog.admin") == ["catalog.admin.orders"]
    assert endpoints("-s", "endpoint")[:3] == [
        "catalog.admin.orders",
        "catalog.product",
        "catalog.search",
    ]
    assert endpoints("--sort", "source", "-b", "catalog") == [
        "catalog.product",
        "catalog.search",
        "catalog.admin.orders",
    ]
    result = invoke(runner, shop, "-g", "nothing-like-this")
    assert result.exit_code == 0
    assert result.stdout == "No routes match the filters (6 routes in total).\n"
    assert (
        "3 of 6 routes: catalog 2, catalog.admin 1" in invoke(runner, shop, "-b", "catalog").stdout
    )


def test_all_methods(runner: CliRunner, shop: Path) -> None:
    plain = invoke(runner, shop).stdout
    assert "HEAD" not in plain and "OPTIONS" not in plain
    full = invoke(runner, shop, "--all-methods").stdout
    assert "GET, HEAD, OPTIONS, POST" in full


def test_bad_options(runner: CliRunner, shop: Path) -> None:
    result = invoke(runner, shop, "-b", "catalgo")
    assert result.exit_code == 2
    assert "no blueprint named 'catalgo'" in result.output
    assert "catalog, catalog.admin" in result.output

    result = invoke(runner, shop, "-m", "GET /x")
    assert result.exit_code == 2
    assert "is not an HTTP method" in result.output

    result = invoke(runner, shop, "--sort", "size")
    assert result.exit_code == 2
    assert "'size' is not one of" in result.output


def test_json_schema_and_problems(
    runner: CliRunner, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBLEMS", "1")
    result = invoke(runner, shop, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # JSON mode: problems are in the document only
    document = json.loads(result.stdout)
    jsonschema.validate(document, JSON_SCHEMA)
    problems = {(p["code"], p["endpoint"]) for p in document["problems"]}
    assert problems == {
        ("duplicate-route", "promo_b"),
        ("view-signature", "user"),
        ("missing-argument", "user"),
        ("missing-argument", "help_page"),
        ("slash-conflict", "faq_index"),
        ("missing-view", "ghost"),
    }
    by_code = {p["code"]: p for p in document["problems"]}
    assert by_code["duplicate-route"]["source"] == {
        "file": "src/shop/__init__.py",
        "line": shop_line("def promo_b"),
    }
    product = next(r for r in document["routes"] if r["endpoint"] == "catalog.product")
    assert product["source"] == {
        "file": "src/shop/__init__.py",
        "line": shop_line("def product"),
    }
    assert product["view"] == "shop:create_app.<locals>.product"
    assert product["arguments"] == ["product_id"]
    assert product["blueprint"] == "catalog"

    # Filters narrow the problems too.
    result = invoke(runner, shop, "--json", "-g", "faq")
    assert [p["code"] for p in json.loads(result.stdout)["problems"]] == ["slash-conflict"]


def test_warnings_and_strict(
    runner: CliRunner, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert invoke(runner, shop, "--strict").exit_code == 0  # clean app

    monkeypatch.setenv("PROBLEMS", "1")
    result = invoke(runner, shop)
    assert result.exit_code == 0  # warnings only
    warnings = result.stderr.splitlines()
    assert len(warnings) == 7
    assert all(w.startswith("Warning: ") for w in warnings)
    assert any(
        w.startswith(
            f"Warning: src/shop/__init__.py:{shop_line('def promo_b')}: GET /promo is bound to both"
        )
        and w.endswith("[duplicate-route]")
        for w in warnings
    )
    assert "promo_b" in result.stdout  # the table is still printed

    result = invoke(runner, shop, "--strict")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: 7 route problems found (--strict). Fix them, or run without --strict to only warn."
    )
    result = invoke(runner, shop, "--strict", "--json")
    assert result.exit_code == 1
    assert len(json.loads(result.stdout)["problems"]) == 7
    # Only the shown routes count: filtering the problems away passes.
    assert invoke(runner, shop, "--strict", "-b", "catalog").exit_code == 0


def test_app_discovery_options(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = build_file_tree(
        tmp_path / "plain",
        {
            "wsgi.py": "from flask import Flask\napp = Flask(__name__)\n"
            "@app.route('/ping')\ndef ping():\n    return 'pong'\n",
            "other.py": "from flask import Flask\n\ndef make():\n    app = Flask(__name__, "
            "static_folder=None)\n    return app\n",
        },
    )
    # Flask's conventions: wsgi.py in the project directory.
    result = invoke(runner, project, "--json")
    assert [r["rule"] for r in json.loads(result.stdout)["routes"]] == [
        "/ping",
        "/static/<path:filename>",
    ]
    # --app, and WEBKIT_APP when --app is not given.
    result = invoke(runner, project, "--app", "other:make")
    assert result.exit_code == 0, result.output
    assert result.stdout == "No routes were registered.\n"
    monkeypatch.setenv("WEBKIT_APP", "other:make")
    assert invoke(runner, project).stdout == "No routes were registered.\n"
    monkeypatch.chdir(project)
    assert runner.invoke(cli, ["routes", "--app", "wsgi:app", "-g", "ping"]).exit_code == 0


def test_plain_werkzeug_app(runner: CliRunner, tmp_path: Path) -> None:
    project = build_file_tree(
        tmp_path / "wz",
        {
            "wzapp.py": (
                "from werkzeug.routing import Map, Rule\n"
                "from werkzeug.wrappers import Response\n\n\n"
                "def hello(request, name):\n"
                "    return Response(name)\n\n\n"
                "class App:\n"
                "    url_map = Map([\n"
                "        Rule('/hello/<name>', endpoint=hello, methods=['GET']),\n"
                "        Rule('/hi/<name>', endpoint='alias', redirect_to='/hello/<name>'),\n"
                "    ])\n\n"
                "    def __call__(self, environ, start_response):\n"
                "        raise NotImplementedError\n\n\n"
                "application = App()\n"
            )
        },
    )
    result = invoke(runner, project, "--app", "wzapp:application", "--json", "--strict")
    assert result.exit_code == 0, result.output
    routes = json.loads(result.stdout)["routes"]
    assert [(r["rule"], r["endpoint"], r["view"]) for r in routes] == [
        ("/hello/<name>", "wzapp:hello", "wzapp:hello"),
        ("/hi/<name>", "alias", None),
    ]
    assert routes[0]["source"] == {"file": "wzapp.py", "line": 5}
    assert routes[1]["redirect_to"] == "/hello/<name>"


def test_json_stdout_stays_parseable_when_the_app_prints(runner: CliRunner, tmp_path: Path) -> None:
    project = build_file_tree(
        tmp_path / "chatty",
        {
            "app.py": "from flask import Flask\nprint('connecting to the database...')\n"
            "app = Flask(__name__)\n"
        },
    )
    result = invoke(runner, project, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["routes"][0]["endpoint"] == "static"
    assert result.stderr == "connecting to the database...\n"


def test_broken_app_shows_the_users_traceback(runner: CliRunner, tmp_path: Path) -> None:
    project = build_file_tree(
        tmp_path / "broken",
        {
            "pyproject.toml": PYPROJECT.format(name="broken", app="broken:create_app"),
            "broken.py": "from flask import Flask\n\ndef create_app():\n"
            "    app = Flask(__name__)\n    app.config['X'] = undefined_name\n    return app\n",
        },
    )
    result = invoke(runner, project)
    assert result.exit_code == 1
    assert "NameError" in result.stderr and "undefined_name" in result.stderr
    assert "create_app" in result.stderr  # the user's frame
    assert result.stderr.rstrip().splitlines()[-1].startswith("Error: Calling 'create_app' failed")

    result = invoke(runner, project, "--app", "nosuchmodule:app")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Could not import 'nosuchmodule'")
    assert "Traceback" not in result.stderr


def test_no_app_found(runner: CliRunner, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke(runner, empty)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: Could not locate a Flask app. Use --app")
    assert result.stdout == ""


def test_missing_project_dir(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, tmp_path / "nope")
    assert result.exit_code == 2  # a usage error, as for run and check
    assert "does not exist" in result.stderr


def test_help_does_not_load_an_app(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["routes", "--help"])
    assert result.exit_code == 0
    for option in (
        "--sort",
        "--method",
        "--grep",
        "--blueprint",
        "--all-methods",
        "--json",
        "--strict",
    ):
        assert option in result.output
    ctx = routes_command.make_context(
        "routes", ["-m", "get,Post", "-s", "view", "-b", "a", "-b", "b"]
    )
    assert ctx.params["methods"] == ("GET", "POST")
    assert ctx.params["sort"] == "view"
    assert ctx.params["blueprints"] == ("a", "b")


# ------------------------------------------------------------- real processes


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBKIT_", "FLASK_"))}
    env.pop("NO_COLOR", None)
    env.pop("FORCE_COLOR", None)
    env.update(extra)
    return env


def run(argv: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=child_env(**extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_pipe_output_is_plain_and_forced_colour_is_not(shop: Path) -> None:
    plain = run([str(VENV_BIN / "webkit"), "routes"], shop)
    assert plain.returncode == 0, plain.stderr
    assert "\x1b" not in plain.stdout  # not a TTY, and NO_COLOR is not even set
    lines = plain.stdout.splitlines()
    rule_at = lines[0].index("Rule")
    assert all(line[rule_at] == "/" for line in table_rows(plain.stdout))
    coloured = run([str(VENV_BIN / "webkit"), "routes"], shop, FORCE_COLOR="1", COLUMNS="120")
    assert coloured.returncode == 0, coloured.stderr
    assert "\x1b[32mGET" in coloured.stdout
    assert "\x1b]8;id=" in coloured.stdout  # Source is a terminal hyperlink
    assert (shop / "src/shop/__init__.py").resolve().as_uri() in coloured.stdout


def test_no_color_terminal_is_plain_and_fits_its_width(shop: Path) -> None:
    # FORCE_COLOR makes rich treat the pipe as a terminal; NO_COLOR then removes colour.
    result = run(
        [str(VENV_BIN / "webkit"), "routes"], shop, FORCE_COLOR="1", NO_COLOR="1", COLUMNS="90"
    )
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    lines = result.stdout.splitlines()
    assert all(len(line) <= 90 for line in lines[:-1])
    # Columns were left out or shortened to fit, not wrapped; Rule and Methods are whole.
    assert lines[0].split() == ["Methods", "Rule", "Endpoint", "Source"]
    assert lines[-1].endswith("(View hidden to fit the width)")
    rule_at = lines[0].index("Rule")
    rows = table_rows(result.stdout)
    assert all(line[rule_at] == "/" for line in rows)
    plain = run([str(VENV_BIN / "webkit"), "routes"], shop).stdout  # a pipe: every column
    for row in table_rows(plain):
        methods, rule = row.split()[0].rstrip(","), row[plain.index("Rule") :].split()[0]
        assert any(line.startswith(methods) and f"  {rule}  " in line for line in rows), rule


def run_in_terminal(argv: list[str], cwd: Path, columns: int) -> str:
    """Run ``argv`` with its stdout on a pseudo-terminal ``columns`` wide; its output."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = child_env(TERM="xterm-256color")
    env.pop("COLUMNS", None)  # the window size must come from the terminal itself
    env.pop("LINES", None)
    with subprocess.Popen(argv, cwd=cwd, env=env, stdout=slave, stderr=subprocess.PIPE) as proc:
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=60)
        assert proc.stderr is not None
        assert proc.returncode == 0, proc.stderr.read()
    os.close(master)
    return b"".join(chunks).decode()


def test_terminal_output_is_coloured_and_fits_the_window(shop: Path) -> None:
    output = run_in_terminal([str(VENV_BIN / "webkit"), "routes"], shop, columns=88)
    assert "\x1b[32mGET" in output  # a TTY without NO_COLOR: colours
    assert "\x1b]8;id=" in output  # and hyperlinks on Source
    visible = re.sub(r"\x1b\]8;[^\x1b]*\x1b\\|\x1b\[[0-9;]*m", "", output).replace("\r", "")
    lines = visible.splitlines()
    assert lines[0].split() == ["Methods", "Rule", "Endpoint", "Source"]  # View left out
    assert all(len(line) <= 88 for line in lines[:-1])  # the width follows the terminal
    assert lines[-1].endswith("(View hidden to fit the width)")
    wide = run_in_terminal([str(VENV_BIN / "webkit"), "routes"], shop, columns=200)
    assert "View" in wide.splitlines()[0]
    # 80 columns on a real terminal: every rule and every methods cell whole.
    plain = run([str(VENV_BIN / "webkit"), "routes"], shop).stdout
    at80 = run_in_terminal([str(VENV_BIN / "webkit"), "routes"], shop, columns=80)
    at80 = re.sub(r"\x1b\]8;[^\x1b]*\x1b\\|\x1b\[[0-9;]*m", "", at80).replace("\r", "")
    assert all(len(line) <= 80 for line in at80.splitlines()[:-1])
    rule_at = plain.splitlines()[0].index("Rule")
    for row in table_rows(plain):
        methods, rule = row[:rule_at].strip(), row[rule_at:].split()[0]
        assert any(
            line.startswith(methods) and f"  {rule}  " in line for line in at80.splitlines()
        ), rule


# Everything Flask's route listing can show: blueprints nested twice, every builtin
# converter, host matching with host variables, redirects, build-only rules, static
# folders of the app and of a blueprint, explicit OPTIONS, class-based views.
PARITY_APP = """\
from flask import Blueprint, Flask
from flask.views import MethodView


def create_app():
    app = Flask(__name__, host_matching=True, static_host="static.example.com")

    @app.route("/", host="www.example.com")
    def index():
        return "index"

    @app.route("/u/<int:user_id>/<path:rest>", host="<tenant>.example.com",
               methods=["GET", "PUT", "DELETE", "OPTIONS"])
    def tenant_user(tenant, user_id, rest):
        return "user"

    app.add_url_rule("/old", endpoint="old", redirect_to="/", host="www.example.com")
    app.add_url_rule("/built", endpoint="built", build_only=True, host="www.example.com")

    api = Blueprint("api", __name__, url_prefix="/api", static_folder="static",
                    static_url_path="/assets")
    v1 = Blueprint("v1", __name__, url_prefix="/v1")
    admin = Blueprint("admin", __name__, url_prefix="/admin")

    @v1.route("/f/<float:x>", host="api.example.com")
    @v1.route("/id/<uuid:ident>", host="api.example.com", methods=["POST"])
    def values(x=None, ident=None):
        return "v"

    @v1.route("/pick/<any(red, blue):colour>", host="api.example.com")
    def pick(colour):
        return colour

    class Items(MethodView):
        def get(self):
            return "items"

        def patch(self):
            return "patched"

    admin.add_url_rule("/items", view_func=Items.as_view("items"), host="api.example.com")
    v1.register_blueprint(admin)
    api.register_blueprint(v1)
    app.register_blueprint(api, host="api.example.com")
    return app
"""


def parse_flask_routes(output: str) -> set[tuple[str, tuple[str, ...], str, str]]:
    """(rule, methods, endpoint, host) from ``flask routes`` (columns cut at the dashes)."""
    lines = output.splitlines()
    header, dashes, rows = lines[0], lines[1], lines[2:]
    spans, pos = [], 0
    for dash in dashes.split("  "):
        spans.append((pos, pos + len(dash)))
        pos += len(dash) + 2
    names = [header[a:b].strip() for a, b in spans]
    found = set()
    for row in rows:
        cells = dict(zip(names, (row[a:b].strip() for a, b in spans), strict=True))
        methods = tuple(m for m in cells["Methods"].split(", ") if m)
        found.add((cells["Rule"], methods, cells["Endpoint"], cells.get("Host", "")))
    return found


@pytest.mark.parametrize("all_methods", [True, False])
def test_parity_with_flask_routes(tmp_path: Path, all_methods: bool) -> None:
    project = build_file_tree(tmp_path / "parity", {"parity_app.py": PARITY_APP})
    flag = ["--all-methods"] if all_methods else []
    # FLASK_APP rather than `flask --app`, which Flask 2.1 lacks.
    flask = run(
        [str(VENV_BIN / "flask"), "routes", *flag], project, FLASK_APP="parity_app:create_app"
    )
    assert flask.returncode == 0, flask.stderr
    ours = run(
        [str(VENV_BIN / "webkit"), "routes", "--app", "parity_app:create_app", "--json", *flag],
        project,
    )
    assert ours.returncode == 0, ours.stderr
    document = json.loads(ours.stdout)
    webkit = {
        (r["rule"], tuple(r["methods"]), r["endpoint"], r["host"] or "") for r in document["routes"]
    }
    expected = parse_flask_routes(flask.stdout)
    assert len(expected) == 10  # the parser really read Flask's table...
    if "Host" in flask.stdout.splitlines()[0]:  # Flask 2.2+ prints a Host column
        assert ("/u/<int:user_id>/<path:rest>", "<tenant>.example.com") in {
            (rule, host) for rule, _, _, host in expected
        }  # ...including its Host column
    else:
        webkit = {(rule, methods, endpoint, "") for rule, methods, endpoint, _ in webkit}
    assert webkit == expected
    assert document["problems"] == []  # and a clean app raises no warning


@pytest.mark.slow
@pytest.mark.parametrize("template", ["site", "api", "ajax"])
def test_no_warning_on_generated_templates(tmp_path: Path, template: str) -> None:
    from webkit_cli.scaffold.template import builtin_template_names

    if template not in builtin_template_names():
        pytest.fail(f"template {template!r} is not built in any more; update this test")
    # `webkit new` in this process: the routes command below is the real process under test.
    created = CliRunner().invoke(
        cli,
        ["new", "proj", "--template", template, "--dir", str(tmp_path), "--no-input"]
        + ["--no-install", "--no-git"],
        catch_exceptions=False,
    )
    assert created.exit_code == 0, created.output
    project = tmp_path / "proj"
    result = run([str(VENV_BIN / "webkit"), "routes", "--strict", "--json"], project)
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert document["problems"] == []
    assert len(document["routes"]) >= 3
    # Static folders (the app's ``static`` and a blueprint's ``NAME.static``, like the api's
    # docs stylesheet) are served by Flask's own send_static_file: located, but in Flask.
    flask_static = {
        r["endpoint"]
        for r in document["routes"]
        if (r["endpoint"] == "static" or r["endpoint"].endswith(".static"))
        and re.fullmatch(r"flask\.[\w.]+:\w+\.send_static_file", r["view"] or "")
    }
    outside = [
        (r["endpoint"], r["source"])
        for r in document["routes"]
        if r["source"] is None
        or (r["endpoint"] not in flask_static and r["source"]["file"].startswith("/"))
    ]
    assert outside == [], "every view of a generated project is located inside the project"


@pytest.mark.parametrize(
    "hang",
    ["import time\ntime.sleep(120)\n", "while True:\n    pass\n"],
    ids=["sleep", "busy-loop"],
)
def test_an_import_that_hangs_stops_at_the_import_timeout(tmp_path: Path, hang: str) -> None:
    project = build_file_tree(tmp_path / "hang", {"app.py": f"x = 1\n{hang}"})
    result = run(
        [str(VENV_BIN / "webkit"), "routes", "--import-timeout", "0.5"], project
    )  # run()'s own 60 s timeout fails the test if the limit is not honoured
    assert result.returncode == 1
    assert result.stdout == ""
    assert "app.py" in result.stderr  # where it hung: the user's frame
    last = result.stderr.rstrip().splitlines()[-1]
    assert last.startswith("Error: Importing the app (wsgi.py / app.py) did not finish in 0.5 s")
    assert "--import-timeout" in last and "bug in webkit" not in result.stderr


def test_import_timeout_is_validated(runner: CliRunner, shop: Path) -> None:
    result = invoke(runner, shop, "--import-timeout", "0")
    assert result.exit_code == 2
    assert "--import-timeout" in result.output


def test_microblog_shape_flaskenv_app_and_request_proxy(runner: CliRunner, tmp_path: Path) -> None:
    """FLASK_APP=microblog.py in .flaskenv, and `from flask import request` beside the app."""
    project = build_file_tree(
        tmp_path / "microblog",
        {
            ".flaskenv": "FLASK_APP=microblog.py\nFLASK_DEBUG=1\n",
            "microblog.py": "from app import app, request\n",
            "app/__init__.py": (
                "from flask import Flask, current_app, request, session\n\n"
                "app = Flask(__name__)\n\n"
                "@app.route('/index')\ndef index():\n    return 'hi'\n"
            ),
        },
    )
    result = invoke(runner, project, "--json")
    assert result.exit_code == 0, result.output
    assert "/index" in {r["rule"] for r in json.loads(result.stdout)["routes"]}


@pytest.mark.parametrize("name", ["pyproject.toml", ".env", ".flaskenv"])
def test_a_file_that_is_not_utf8_is_one_error_line(
    runner: CliRunner, tmp_path: Path, name: str
) -> None:
    files: dict[str, str | bytes] = {"app.py": "from flask import Flask\napp = Flask(__name__)\n"}
    files[name] = b"[tool.webkit]\n# caf\xe9\n" if name == "pyproject.toml" else b"X=caf\xe9\n"
    project = build_file_tree(tmp_path / "latin1", files)
    result = invoke(runner, project)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert f"{name} is not UTF-8" in result.stderr and "Traceback" not in result.stderr


def test_warnings_wrap_with_a_hanging_indent_on_a_terminal(shop: Path) -> None:
    piped = run([str(VENV_BIN / "webkit"), "routes"], shop, PROBLEMS="1")
    whole = [line for line in piped.stderr.splitlines() if line.startswith("Warning: ")]
    assert len(whole) == 7 and max(len(line) for line in whole) > 60  # full lines in a pipe
    # FORCE_COLOR makes rich treat stderr as a terminal; NO_COLOR keeps the text plain.
    shown = run(
        [str(VENV_BIN / "webkit"), "routes"],
        shop,
        PROBLEMS="1",
        FORCE_COLOR="1",
        NO_COLOR="1",
        COLUMNS="60",
    )
    lines = re.sub(r"\x1b\[[0-9;]*m", "", shown.stderr).splitlines()
    assert all(len(line) <= 60 for line in lines)
    assert sum(line.startswith("Warning: ") for line in lines) == 7
    indent = len("Warning: ")
    for line in lines:
        if not line.startswith("Warning: "):
            assert line[:indent].isspace() and line[indent] != " ", line
    # Re-joined, the wrapped warnings are the piped ones, word for word.
    joined, current = [], ""
    for line in lines:
        if line.startswith("Warning: "):
            if current:
                joined.append(current)
            current = line
        else:
            current += " " + line.strip()
    joined.append(current)
    assert joined == whole
