"""Route problems (``webkit_cli.routes.analysis``): conflicts, signatures, slashes, no view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask, g, redirect, url_for
from flask.views import MethodView, View

from tests.routes.helpers import (
    client,
    codes,
    def_line,
    inject_user,
    passthrough,
)
from webkit_cli.routes import (
    PROBLEM_CODES,
    find_problems,
)

THIS_FILE = str(Path(__file__).resolve())


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
    assert problem.source_line == def_line("second", THIS_FILE)
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
    assert problems[0].source_line == def_line("show_post", THIS_FILE)


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
    assert problems[0].source_line == def_line("delete", THIS_FILE)


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


def test_an_endpoint_that_names_a_served_url_is_no_problem() -> None:
    """Flask's tutorial: ``add_url_rule("/", endpoint="index")`` so url_for("index") works."""
    app = Flask(__name__)
    blog = Blueprint("blog", __name__)

    @blog.route("/")
    def index() -> str:
        return "posts"

    app.register_blueprint(blog)
    app.add_url_rule("/", endpoint="index")
    with app.test_request_context():
        assert url_for("index") == "/"
    assert client(app).get("/").data == b"posts"  # the blog's view answers "/"
    assert find_problems(app) == []


def test_an_alias_that_answers_more_methods_is_still_a_missing_view() -> None:
    app = Flask(__name__)

    @app.get("/")
    def home() -> str:
        return "home"

    app.add_url_rule("/", endpoint="index", methods=["GET", "POST"])  # POST / reaches it
    app.add_url_rule("/other", endpoint="other")  # nothing else serves /other
    problems = [(p.code, p.endpoint) for p in find_problems(app)]
    assert problems == [
        ("duplicate-route", "index"),
        ("missing-view", "index"),
        ("missing-view", "other"),
    ]


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
