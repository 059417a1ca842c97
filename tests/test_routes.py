"""The route model, the problem analysis and the renderers of ``webkit_cli.routes``."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask import Blueprint, Flask, g, redirect
from flask.views import MethodView, View
from rich.console import Console
from werkzeug.routing import Map, Rule

from webkit_cli.routes import (
    JSON_SCHEMA,
    PROBLEM_CODES,
    SORT_KEYS,
    PathDisplay,
    RouteInfo,
    UnknownBlueprintError,
    blueprint_names,
    build_table,
    collect_routes,
    filter_routes,
    find_problems,
    problems_for,
    select_routes,
    sort_routes,
    summary_line,
    to_json,
)

THIS_FILE = str(Path(__file__).resolve())


def def_line(name: str) -> int:
    """The 1-based line of ``def name(`` / ``class name`` in this file (found by text)."""
    pattern = re.compile(rf"^\s*(?:async\s+)?(?:def|class)\s+{name}\b")
    for number, line in enumerate(Path(__file__).read_text().splitlines(), start=1):
        if pattern.match(line):
            return number
    raise AssertionError(f"no def {name} in {__file__}")


def by_endpoint(routes: list[RouteInfo]) -> dict[str, RouteInfo]:
    return {r.endpoint: r for r in routes}


def client(app: Flask) -> Any:
    """A test client that lets the view's exception through (like a failing request)."""
    app.testing = True
    return app.test_client()


def codes(app: Any) -> list[str]:
    return [p.code for p in find_problems(app)]


def passthrough(view: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator like login_required: forwards everything."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return view(*args, **kwargs)

    return wrapper


def inject_user(view: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator like webargs' use_kwargs: adds an argument no rule supplies."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return view(*args, user="ann", **kwargs)

    return wrapper


# ---------------------------------------------------------------------------- model


def make_blog_app() -> Flask:
    """Blueprints, a nested blueprint, converters, defaults, a redirect, a MethodView."""
    app = Flask(__name__)

    @app.route("/")
    def home() -> str:
        return "home"

    @app.route("/user/<int:user_id>/post/<slug>")
    @passthrough
    def user_post(user_id: int, slug: str) -> str:
        return f"{user_id}/{slug}"

    app.add_url_rule("/old-home", endpoint="old_home", redirect_to="/")

    blog = Blueprint("blog", __name__, url_prefix="/blog")
    admin = Blueprint("admin", __name__, url_prefix="/admin")

    @blog.route("/", defaults={"page": 1})
    @blog.route("/page/<int:page>")
    def index(page: int) -> str:
        return str(page)

    @admin.route("/stats", methods=["GET", "POST"])
    def stats() -> str:
        return "stats"

    class Items(MethodView):
        def get(self, item_id: int | None = None) -> str:
            return "items"

        def post(self) -> str:
            return "created"

    items = Items.as_view("items")
    admin.add_url_rule("/items/", defaults={"item_id": None}, view_func=items, methods=["GET"])
    admin.add_url_rule("/items/", view_func=items, methods=["POST"], endpoint="items_new")
    admin.add_url_rule("/items/<int:item_id>", view_func=items, methods=["GET"])

    blog.register_blueprint(admin)
    app.register_blueprint(blog)
    return app


def test_collect_routes_model() -> None:
    app = make_blog_app()
    routes = collect_routes(app)
    # One RouteInfo per werkzeug rule, in registration order.
    assert [r.rule for r in routes] == [rule.rule for rule in app.url_map.iter_rules()]
    found = by_endpoint(routes)

    home = found["home"]
    assert home.methods == ("GET", "HEAD", "OPTIONS")
    assert home.visible_methods() == ("GET",)
    assert home.view == f"{__name__}:make_blog_app.<locals>.home"
    assert home.view_dotted == f"{__name__}.make_blog_app.<locals>.home"
    assert home.source_file == THIS_FILE
    assert home.source_line == def_line("home")
    assert home.blueprint is None
    assert home.strict_slashes is True

    # Decorated: the user's function (not the wrapper), at its def line, not the decorator's.
    post = found["user_post"]
    assert post.view == f"{__name__}:make_blog_app.<locals>.user_post"
    assert post.source_line == def_line("user_post")
    assert post.arguments == ("user_id", "slug")

    # Nested blueprint and class-based view: the class, at its class line.
    stats = found["blog.admin.stats"]
    assert stats.blueprint == "blog.admin"
    assert stats.methods == ("GET", "HEAD", "OPTIONS", "POST")
    items = [r for r in routes if r.endpoint == "blog.admin.items"]
    assert {r.rule for r in items} == {"/blog/admin/items/", "/blog/admin/items/<int:item_id>"}
    assert items[0].view == f"{__name__}:make_blog_app.<locals>.Items"
    assert items[0].source_line == def_line("Items")
    assert items[0].defaults == {"item_id": None}

    # Defaults are arguments too (Flask passes them to the view).
    index_rules = {r.rule: r for r in routes if r.endpoint == "blog.index"}
    assert index_rules["/blog/"].arguments == ("page",)
    assert index_rules["/blog/"].defaults == {"page": 1}
    assert index_rules["/blog/page/<int:page>"].arguments == ("page",)

    old = found["old_home"]
    assert old.redirect_to == "/"
    assert old.view is None

    static = found["static"]
    assert static.rule == "/static/<path:filename>"
    assert static.arguments == ("filename",)
    # Flask serves it with a lambda; the table names what the lambda calls.
    send = Flask.send_static_file  # defined on Scaffold before Flask 2.2
    assert static.view == f"{send.__module__}:{send.__qualname__}"
    assert static.source_file == inspect.getsourcefile(send)


def test_collected_routes_are_complete_dataclasses() -> None:
    """collect_routes builds RouteInfo without __init__ (for speed): every field is set."""
    for route in collect_routes(make_blog_app()):
        assert set(vars(route)) == {f.name for f in dataclasses.fields(RouteInfo)}
        assert route == RouteInfo(**vars(route))
        with pytest.raises(dataclasses.FrozenInstanceError):
            route.rule = "/changed"  # type: ignore[misc]


def test_host_matching_and_subdomains() -> None:
    app = Flask(__name__, host_matching=True, static_host="static.example.com")

    @app.route("/", host="<tenant>.example.com")
    def tenant_home(tenant: str) -> str:
        return tenant

    routes = by_endpoint(collect_routes(app))
    assert routes["tenant_home"].host == "<tenant>.example.com"
    assert routes["tenant_home"].arguments == ("tenant",)
    assert routes["tenant_home"].subdomain is None
    assert routes["static"].host == "static.example.com"
    assert find_problems(app) == []

    sub = Flask(__name__)
    sub.config["SERVER_NAME"] = "example.com"
    shop = Blueprint("shop", __name__, subdomain="<store>")

    @shop.route("/cart")
    def cart(store: str) -> str:
        return store

    sub.register_blueprint(shop)
    cart_route = by_endpoint(collect_routes(sub))["shop.cart"]
    assert cart_route.subdomain == "<store>"
    assert cart_route.host is None
    assert cart_route.arguments == ("store",)
    # The subdomain variable is passed to the view: no false signature warning.
    assert find_problems(sub) == []


def test_callable_redirect_and_plain_werkzeug_map() -> None:
    def to_new(adapter: Any, **values: Any) -> str:
        return "/new"

    def handler(request: Any, page: str) -> str:
        return page

    class WerkzeugApp:
        """Not Flask: endpoints are the handlers themselves, no view_functions."""

        url_map = Map(
            [
                Rule("/pages/<page>", endpoint=handler),
                Rule("/old", endpoint="old", redirect_to=to_new),
                Rule("/any", endpoint="anything"),
            ]
        )

    routes = collect_routes(WerkzeugApp())
    assert routes[0].endpoint == f"{__name__}:{handler.__qualname__}"
    assert routes[0].view == routes[0].endpoint
    assert routes[0].source_line == def_line("handler")
    assert routes[0].blueprint is None
    assert routes[1].redirect_to == f"{__name__}:{to_new.__qualname__}"
    assert routes[2].methods == ()  # any method
    assert routes[2].view is None
    # Without view_functions nothing can be called "missing", and how the app calls its
    # handlers (here with a request first) is unknown: no signature check either.
    assert find_problems(WerkzeugApp()) == []


# ------------------------------------------------------------------------- problems


def test_duplicate_route_reports_the_shadowed_endpoint() -> None:
    app = Flask(__name__)

    @app.route("/items/<int:item_id>")
    def first(item_id: int) -> str:
        return "first"

    @app.route("/items/<int:other>", methods=["GET", "POST"])
    def second(other: int) -> str:
        return "second"

    # werkzeug really dispatches GET to the first one: the second is dead for GET.
    assert client(app).get("/items/3").text == "first"
    assert client(app).post("/items/3").text == "second"

    problems = find_problems(app)
    assert [p.code for p in problems] == ["duplicate-route"]
    problem = problems[0]
    assert problem.endpoint == "second"
    assert problem.rule == "/items/<int:other>"
    assert problem.source_file == THIS_FILE
    assert problem.source_line == def_line("second")
    assert "GET" in problem.message and "POST" not in problem.message
    assert "'first'" in problem.message and "'second'" in problem.message


def test_duplicate_route_ignores_different_converters_methods_and_hosts() -> None:
    app = Flask(__name__, host_matching=True, static_host="static.test")

    @app.route("/x/<int:n>", host="a.test")
    def by_int(n: int) -> str:
        return "int"

    @app.route("/x/<n>", host="a.test")
    def by_string(n: str) -> str:
        return "string"

    @app.route("/x/<int:n>", host="b.test")
    def other_host(n: int) -> str:
        return "b"

    @app.route("/form", host="a.test")
    def show_form() -> str:
        return "form"

    @app.route("/form", host="a.test", methods=["POST"])
    def send_form() -> str:
        return "sent"

    assert find_problems(app) == []


def test_string_converter_aliases_are_the_same_rule() -> None:
    app = Flask(__name__)
    app.add_url_rule("/t/<name>", "one", lambda name: name)
    app.add_url_rule("/t/<string:label>", "two", lambda label: label)
    assert codes(app) == ["duplicate-route"]


def test_view_signature_cannot_take_rule_variable() -> None:
    app = Flask(__name__)

    @app.route("/posts/<int:post_id>/<slug>")
    def show_post(post_id: int) -> str:
        return "post"

    with pytest.raises(TypeError):  # what the warning promises
        client(app).get("/posts/1/hello")

    problems = find_problems(app)
    assert [p.code for p in problems] == ["view-signature"]
    assert "'slug'" in problems[0].message and "'post_id'" not in problems[0].message
    assert problems[0].source_line == def_line("show_post")


def test_view_signature_through_forwarding_decorator() -> None:
    app = Flask(__name__)

    @app.route("/wrapped/<int:n>")
    @passthrough
    def wrapped_without_n() -> str:
        return "x"

    with pytest.raises(TypeError):
        client(app).get("/wrapped/1")
    assert codes(app) == ["view-signature"]


def test_missing_argument_is_per_rule() -> None:
    app = Flask(__name__)

    @app.route("/feed")
    @app.route("/feed/<int:page>")
    def feed(page: int) -> str:
        return str(page)

    assert client(app).get("/feed/2").text == "2"
    with pytest.raises(TypeError):
        client(app).get("/feed")

    problems = find_problems(app)
    assert [(p.code, p.rule) for p in problems] == [("missing-argument", "/feed")]
    assert "'page'" in problems[0].message


def test_keyword_only_positional_only_and_kwargs() -> None:
    app = Flask(__name__)

    @app.route("/kw/<a>")
    def kw_only(*, a: str, b: str = "x") -> str:
        return a + b

    @app.route("/kw-missing/<a>")
    def kw_missing(*, a: str, c: str) -> str:
        return a + c

    @app.route("/posonly/<a>")
    def posonly(a: str, /) -> str:
        return a

    @app.route("/any/<a>/<b>")
    def takes_kwargs(**values: str) -> str:
        return "".join(values)

    found = {(p.code, p.endpoint) for p in find_problems(app)}
    assert found == {
        ("missing-argument", "kw_missing"),
        # Flask passes variables by keyword: a positional-only parameter never gets one.
        ("view-signature", "posonly"),
        ("missing-argument", "posonly"),
    }


def test_class_based_views_are_checked_per_method() -> None:
    app = Flask(__name__)

    class Article(MethodView):
        def get(self, article_id: int) -> str:
            return "read"

        def delete(self) -> str:  # forgot article_id
            return "gone"

    class Report(View):
        def dispatch_request(self, year: int) -> str:
            return str(year)

    app.add_url_rule("/articles/<int:article_id>", view_func=Article.as_view("article"))
    app.add_url_rule("/reports/<int:year>", view_func=Report.as_view("report"))
    app.add_url_rule("/reports", view_func=Report.as_view("report_index"))

    problems = find_problems(app)
    assert [(p.code, p.endpoint) for p in problems] == [
        ("view-signature", "article"),
        ("missing-argument", "report_index"),
    ]
    assert "Article.delete" in problems[0].message
    # The location is the method to fix, not the class.
    assert problems[0].source_line == def_line("delete")


def test_slash_conflict() -> None:
    app = Flask(__name__)

    @app.route("/docs")
    def docs_page() -> str:
        return "page"

    @app.route("/docs/")
    def docs_index() -> str:
        return "index"

    @app.route("/same")
    @app.route("/same/")
    def same() -> str:  # one view for both: fine
        return "same"

    problems = find_problems(app)
    assert [(p.code, p.endpoint) for p in problems] == [("slash-conflict", "docs_index")]
    assert "/docs" in problems[0].message and "/docs/" in problems[0].message


def test_missing_view() -> None:
    app = Flask(__name__)
    app.add_url_rule("/ghost", endpoint="ghost")
    app.add_url_rule("/moved", endpoint="moved", redirect_to="/")  # redirects need none

    problems = find_problems(app)
    assert [(p.code, p.endpoint) for p in problems] == [("missing-view", "ghost")]
    assert problems[0].source_file is None


def test_problems_sorted_by_code_order() -> None:
    app = Flask(__name__)
    app.add_url_rule("/ghost", endpoint="ghost")
    app.add_url_rule("/a", "a1", lambda: "")
    app.add_url_rule("/a", "a2", lambda: "")
    app.add_url_rule("/b/<x>", "b", lambda: "")
    found = codes(app)
    assert found == sorted(found, key=PROBLEM_CODES.index)
    assert set(found) == {"duplicate-route", "view-signature", "missing-view"}


def make_realistic_clean_app() -> Flask:
    """Patterns of real apps that must not produce a single warning."""
    app = Flask(__name__, subdomain_matching=False)

    @app.route("/")
    def index() -> str:
        return "home"

    @app.route("/login", methods=["GET", "POST"])
    def login() -> str:
        return "login"

    @app.get("/users/<int:user_id>")
    @passthrough
    def user_detail(user_id: int) -> str:
        return str(user_id)

    @app.post("/users")
    @inject_user
    def create_user(user: str) -> str:  # an argument the decorator supplies
        return user

    @app.route("/files/<path:name>")
    def download(name: str, as_attachment: bool = False) -> str:
        return name

    @app.route("/async/<int:n>")
    async def async_view(n: int) -> str:
        return str(n)

    app.add_url_rule("/home", endpoint="home_redirect", redirect_to="/")
    app.add_url_rule("/legacy", "legacy", build_only=True)

    # i18n blueprint: a url_value_preprocessor pops lang_code from the view args.
    i18n = Blueprint("i18n", __name__, url_prefix="/<lang_code>")

    @i18n.url_value_preprocessor
    def pull_lang(endpoint: str | None, values: dict[str, Any] | None) -> None:
        g.lang = (values or {}).pop("lang_code", None)

    @i18n.route("/about")
    def about() -> str:
        return f"about {g.lang}"

    api = Blueprint("api", __name__, url_prefix="/api")
    v1 = Blueprint("v1", __name__, url_prefix="/v1")

    class Things(MethodView):
        decorators = [passthrough]
        init_every_request = False

        def get(self, thing_id: int | None = None) -> str:
            return "things"

        def post(self) -> str:
            return "made"

        def put(self, thing_id: int) -> str:
            return "put"

    things = Things.as_view("things")
    v1.add_url_rule("/things/", defaults={"thing_id": None}, view_func=things, methods=["GET"])
    v1.add_url_rule("/things/", view_func=things, methods=["POST"], endpoint="things_create")
    v1.add_url_rule("/things/<int:thing_id>", view_func=things, methods=["GET", "PUT"])

    @v1.route("/search")
    def search() -> str:
        return redirect("/").location

    api.register_blueprint(v1)
    app.register_blueprint(api)
    app.register_blueprint(i18n)
    uploads = Blueprint("uploads", __name__, static_folder="static", url_prefix="/up")
    app.register_blueprint(uploads)
    return app


def test_no_false_warnings_on_a_realistic_app() -> None:
    app = make_realistic_clean_app()
    assert find_problems(app) == []
    # ...and the app really works where the analysis stayed quiet.
    http = client(app)
    assert http.get("/en/about").text == "about en"
    assert http.post("/users").text == "ann"
    assert http.get("/api/v1/things/").text == "things"
    assert http.get("/api/v1/things/3").text == "things"


def test_find_problems_recomputes_for_a_foreign_route_list() -> None:
    app = Flask(__name__)
    app.add_url_rule("/ghost", endpoint="ghost")
    assert [p.code for p in find_problems(app, routes=[])] == ["missing-view"]


# ---------------------------------------------------------------- filters and sorting


def test_filters() -> None:
    routes = collect_routes(make_blog_app())

    def endpoints(**kwargs: Any) -> set[str]:
        return {r.endpoint for r in filter_routes(routes, **kwargs)}

    assert endpoints(grep="ADMIN") == {
        "blog.admin.stats",
        "blog.admin.items",
        "blog.admin.items_new",
    }
    # A regex across rule, endpoint and view...
    assert endpoints(grep=r"^/user/|\.stats$") == {"user_post", "blog.admin.stats"}
    # ...or a substring when it is not a valid regex.
    assert endpoints(grep="<int:user_id") == {"user_post"}
    assert endpoints(grep="items(") == set()
    assert endpoints(grep="Items") >= {"blog.admin.items"}  # matched through the view name
    assert endpoints(methods=["post"]) == {"blog.admin.stats", "blog.admin.items_new"}
    assert "home" in endpoints(methods=["HEAD"])
    assert endpoints(blueprints=["blog.admin"]) == {
        "blog.admin.stats",
        "blog.admin.items",
        "blog.admin.items_new",
    }
    assert endpoints(blueprints=["blog"]) == endpoints(blueprints=["blog.admin"]) | {"blog.index"}
    assert endpoints(blueprints=["blo"]) == set()  # a name, not a prefix
    assert endpoints(grep="stats", blueprints=["blog"], methods=["GET"]) == {"blog.admin.stats"}
    assert blueprint_names(routes) == ["blog", "blog.admin"]


def test_select_routes_rejects_unknown_blueprints() -> None:
    routes = collect_routes(make_blog_app())
    shown = select_routes(routes, sort="endpoint", blueprints=["blog"], methods=["GET"])
    assert [r.endpoint for r in shown] == sorted(r.endpoint for r in shown)
    assert {r.blueprint for r in shown} == {"blog", "blog.admin"}
    with pytest.raises(UnknownBlueprintError) as info:
        select_routes(routes, blueprints=["blog", "admin"])
    assert info.value.unknown == ["admin"]
    assert str(info.value) == (
        "the app has no blueprint named 'admin'. Blueprints with routes: blog, blog.admin."
    )


def test_sorting() -> None:
    routes = collect_routes(make_blog_app())
    assert set(SORT_KEYS) == {"rule", "endpoint", "methods", "view", "source"}
    by_rule = [r.rule for r in sort_routes(routes, "rule")]
    assert by_rule == sorted(by_rule)
    by_endpoint_ = [r.endpoint for r in sort_routes(routes, "endpoint")]
    assert by_endpoint_ == sorted(by_endpoint_)
    by_source = [r for r in sort_routes(routes, "source") if r.source_file == THIS_FILE]
    assert [r.source_line for r in by_source] == sorted(r.source_line or 0 for r in by_source)
    with pytest.raises(ValueError, match="cannot sort by 'size'"):
        sort_routes(routes, "size")


def test_problems_for_keeps_only_shown_routes() -> None:
    app = Flask(__name__)
    app.add_url_rule("/ghost", endpoint="ghost")
    app.add_url_rule("/fine", "fine", lambda: "")
    routes = collect_routes(app)
    problems = find_problems(app, routes)
    assert problems_for(problems, filter_routes(routes, grep="fine")) == []
    assert problems_for(problems, filter_routes(routes, grep="ghost")) == problems


# ------------------------------------------------------------------------ rendering


def render(table: Any, width: int = 100, **console_kwargs: Any) -> str:
    options: dict[str, Any] = {"width": width, "color_system": None, **console_kwargs}
    console = Console(file=io.StringIO(), **options)
    console.print(table, soft_wrap=True)
    return console.file.getvalue()  # type: ignore[attr-defined, no-any-return]


def column_starts(header: str) -> dict[str, int]:
    return {m.group(0): m.start() for m in re.finditer(r"[A-Z][a-z]+", header)}


def test_table_is_aligned_with_all_columns() -> None:
    routes = sort_routes(collect_routes(make_blog_app()))
    root = Path(__file__).resolve().parent.parent
    text = render(build_table(routes, root=root), width=200)
    lines = text.splitlines()
    header = lines[0]
    starts = column_starts(header)
    assert list(starts) == ["Methods", "Rule", "Endpoint", "View", "Source"]
    assert set(lines[1]) == {"-", " "}
    rows = lines[2 : 2 + len(routes)]
    for row, route in zip(rows, routes, strict=True):
        assert row[starts["Rule"] :].startswith(route.rule + " ")
        assert row[starts["Endpoint"] :].startswith(route.endpoint)
        assert row == row.rstrip()
    home = next(row for row in rows if " home " in row)
    assert home[starts["Source"] :] == f"tests/test_routes.py:{def_line('home')}"
    assert home[starts["View"] :].startswith("tests.test_routes.make_blog_app.<locals>.home")
    old = next(row for row in rows if "old_home" in row)
    assert "→ /" in old
    head_only = next(row for row in rows if "blog.admin.stats" in row)
    assert head_only.startswith("GET, POST ")
    assert "HEAD" not in text and "OPTIONS" not in text
    assert lines[-1] == "10 routes: app 4, blog 2, blog.admin 4"
    assert "\x1b" not in text


def test_table_all_methods_and_plain_text_match() -> None:
    routes = sort_routes(collect_routes(make_blog_app()))
    table = build_table(routes, all_methods=True, fit=False)
    text = table.plain()
    assert "GET, HEAD, OPTIONS, POST" in text
    # The rich rendering without colour is the same text.
    assert render(table, width=40) == text


def test_table_fits_a_narrow_terminal() -> None:
    routes = sort_routes(collect_routes(make_blog_app()))
    text = render(build_table(routes, root=Path(__file__).parent.parent), width=90)
    lines = text.splitlines()
    assert all(len(line) <= 90 for line in lines[:-1])  # the summary may wrap
    assert "…" in text
    # Paths keep their end (file:line); rules keep their start.
    assert re.search(rf"…\S*test_routes\.py:{def_line('home')}", text)
    starts = column_starts(lines[0])
    for line in lines[2:-2]:
        assert line[starts["Rule"]] == "/"
    # A very narrow terminal: every column down to its header's width, still aligned.
    narrow = render(build_table(routes), width=52).splitlines()
    assert all(len(line) <= 52 for line in narrow[:-1])
    assert narrow[0].split() == ["Methods", "Rule", "Endpoint", "View", "Source"]


def test_host_column_only_when_used() -> None:
    plain = build_table(collect_routes(make_blog_app()), fit=False).plain()
    assert "Host" not in plain and "Subdomain" not in plain
    app = Flask(__name__, host_matching=True, static_host="cdn.test")
    app.add_url_rule("/", "home", lambda: "", host="www.test")
    lines = build_table(sort_routes(collect_routes(app)), fit=False).plain().splitlines()
    assert list(column_starts(lines[0]))[:3] == ["Methods", "Host", "Rule"]
    assert any("cdn.test" in line and "/static/<path:filename>" in line for line in lines)


def test_colour_rendering_has_styles_and_hyperlinks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR")
    routes = sort_routes(collect_routes(make_blog_app()))
    text = render(build_table(routes), width=200, color_system="truecolor", force_terminal=True)
    assert "\x1b[32mGET\x1b[0m" in text  # GET in green
    assert "\x1b[36m<int:page>\x1b[0m" in text  # converters highlighted
    assert "\x1b]8;id=" in text and Path(__file__).resolve().as_uri() in text  # OSC 8 link


def test_summary_line() -> None:
    routes = collect_routes(make_blog_app())
    assert summary_line(routes, len(routes)).startswith("10 routes: app 4, ")
    assert summary_line(routes[:2], 10) == "2 of 10 routes: app 2"
    assert summary_line([], 10) == "0 of 10 routes"


def test_path_display() -> None:
    paths = PathDisplay("/srv/project")
    assert paths.relative("/srv/project/src/app/views.py") == "src/app/views.py"
    assert paths.in_project("/srv/project/app.py") == "app.py"
    assert paths.in_project("/elsewhere/app.py") == "/elsewhere/app.py"
    flask_file = collect_routes(Flask(__name__))[0].source_file
    assert flask_file is not None
    assert paths.relative(flask_file).startswith("flask/")  # relative to site-packages


# ----------------------------------------------------------------------------- JSON


def test_json_document_matches_the_schema() -> None:
    app = make_blog_app()
    app.add_url_rule("/ghost", endpoint="ghost", defaults={"when": object()})
    routes = collect_routes(app)
    problems = find_problems(app, routes)
    root = Path(__file__).resolve().parent.parent
    document = json.loads(to_json(routes, problems, root=root))
    jsonschema.Draft202012Validator.check_schema(JSON_SCHEMA)
    jsonschema.validate(document, JSON_SCHEMA)
    assert document["schema_version"] == 1

    found = {r["endpoint"]: r for r in document["routes"]}
    assert found["home"] == {
        "rule": "/",
        "methods": ["GET"],
        "endpoint": "home",
        "view": f"{__name__}:make_blog_app.<locals>.home",
        "source": {"file": "tests/test_routes.py", "line": def_line("home")},
        "arguments": [],
        "defaults": None,
        "host": None,
        "subdomain": None,
        "strict_slashes": True,
        "redirect_to": None,
        "blueprint": None,
    }
    assert found["old_home"]["redirect_to"] == "/"
    assert found["old_home"]["source"] is None
    assert found["blog.admin.stats"]["blueprint"] == "blog.admin"
    assert found["ghost"]["defaults"]["when"].startswith("<object object")
    assert document["problems"] == [
        {
            "code": "missing-view",
            "message": problems[0].message,
            "rule": "/ghost",
            "endpoint": "ghost",
            "source": None,
        }
    ]
    all_methods = json.loads(to_json(routes, [], all_methods=True))
    assert {"GET", "HEAD", "OPTIONS"} <= set(all_methods["routes"][0]["methods"])
