"""Filtering, selecting and sorting routes (``webkit_cli.routes.query``)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.routes.helpers import (
    BLOG_FILE,
    make_blog_app,
)
from webkit_cli.routes import (
    SORT_KEYS,
    UnknownBlueprintError,
    blueprint_names,
    collect_routes,
    filter_routes,
    find_problems,
    problems_for,
    select_routes,
    sort_routes,
)


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
    by_source = [r for r in sort_routes(routes, "source") if r.source_file == BLOG_FILE]
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
