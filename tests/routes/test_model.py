"""The route model: ``collect_routes`` on Flask apps, blueprints, hosts and plain werkzeug maps."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest
from flask import Blueprint, Flask
from werkzeug.routing import Map, Rule

from tests.routes.helpers import (
    BLOG_FILE,
    BLOG_MODULE,
    by_endpoint,
    def_line,
    make_blog_app,
)
from webkit_cli.routes import (
    RouteInfo,
    collect_routes,
    find_problems,
)


def test_collect_routes_model() -> None:
    app = make_blog_app()
    routes = collect_routes(app)
    # One RouteInfo per werkzeug rule, in registration order.
    assert [r.rule for r in routes] == [rule.rule for rule in app.url_map.iter_rules()]
    found = by_endpoint(routes)

    home = found["home"]
    assert home.methods == ("GET", "HEAD", "OPTIONS")
    assert home.visible_methods() == ("GET",)
    assert home.view == f"{BLOG_MODULE}:make_blog_app.<locals>.home"
    assert home.view_dotted == f"{BLOG_MODULE}.make_blog_app.<locals>.home"
    assert home.source_file == BLOG_FILE
    assert home.source_line == def_line("home")
    assert home.blueprint is None
    assert home.strict_slashes is True

    # Decorated: the user's function (not the wrapper), at its def line, not the decorator's.
    post = found["user_post"]
    assert post.view == f"{BLOG_MODULE}:make_blog_app.<locals>.user_post"
    assert post.source_line == def_line("user_post")
    assert post.arguments == ("user_id", "slug")

    # Nested blueprint and class-based view: the class, at its class line.
    stats = found["blog.admin.stats"]
    assert stats.blueprint == "blog.admin"
    assert stats.methods == ("GET", "HEAD", "OPTIONS", "POST")
    items = [r for r in routes if r.endpoint == "blog.admin.items"]
    assert {r.rule for r in items} == {"/blog/admin/items/", "/blog/admin/items/<int:item_id>"}
    assert items[0].view == f"{BLOG_MODULE}:make_blog_app.<locals>.Items"
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
    assert routes[0].source_line == def_line("handler", __file__)
    assert routes[0].blueprint is None
    assert routes[1].redirect_to == f"{__name__}:{to_new.__qualname__}"
    assert routes[2].methods == ()  # any method
    assert routes[2].view is None
    # Without view_functions nothing can be called "missing", and how the app calls its
    # handlers (here with a request first) is unknown: no signature check either.
    assert find_problems(WerkzeugApp()) == []
