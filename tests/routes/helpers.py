"""What the route tests share: a blog app (blueprints, a MethodView, a redirect) and helpers."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask
from flask.views import MethodView

from webkit_cli.routes import (
    RouteInfo,
    find_problems,
)

BLOG_FILE = str(Path(__file__).resolve())
BLOG_MODULE = __name__


def def_line(name: str, file: str = BLOG_FILE) -> int:
    """The 1-based line of ``def name(`` / ``class name`` in ``file`` (found by text)."""
    pattern = re.compile(rf"^\s*(?:async\s+)?(?:def|class)\s+{name}\b")
    for number, line in enumerate(Path(file).read_text().splitlines(), start=1):
        if pattern.match(line):
            return number
    raise AssertionError(f"no def {name} in {file}")


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
