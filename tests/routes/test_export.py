"""The JSON document of ``webkit routes --json`` (``webkit_cli.routes.export``)."""

from __future__ import annotations

import json

import jsonschema

from tests.conftest import REPO_ROOT
from tests.routes.helpers import (
    BLOG_MODULE,
    def_line,
    make_blog_app,
)
from webkit_cli.routes import (
    JSON_SCHEMA,
    collect_routes,
    find_problems,
    to_json,
)


def test_json_document_matches_the_schema() -> None:
    app = make_blog_app()
    app.add_url_rule("/ghost", endpoint="ghost", defaults={"when": object()})
    routes = collect_routes(app)
    problems = find_problems(app, routes)
    root = REPO_ROOT
    document = json.loads(to_json(routes, problems, root=root))
    jsonschema.Draft202012Validator.check_schema(JSON_SCHEMA)
    jsonschema.validate(document, JSON_SCHEMA)
    assert document["schema_version"] == 1

    found = {r["endpoint"]: r for r in document["routes"]}
    assert found["home"] == {
        "rule": "/",
        "methods": ["GET"],
        "endpoint": "home",
        "view": f"{BLOG_MODULE}:make_blog_app.<locals>.home",
        "source": {"file": "tests/routes/helpers.py", "line": def_line("home")},
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
