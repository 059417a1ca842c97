"""The front door: ``/`` links to everything, ``/docs`` documents every operation."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_index_is_json_links_for_programs(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["links"] == {"docs": "/docs", "openapi": "/openapi.json", "health": "/healthz"}
    assert body["name"] == client.get("/openapi.json").get_json()["info"]["title"]
    assert "Accept" in response.headers["Vary"]
    for link in body["links"].values():
        assert client.get(link).status_code == 200, link


def test_index_is_a_page_for_browsers(client: FlaskClient) -> None:
    response = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    for link in ("/docs", "/openapi.json", "/healthz"):
        assert f'href="{link}"' in html
    assert "keys create" in html  # how to get a key


def test_docs_show_every_operation_of_the_document(client: FlaskClient) -> None:
    document: dict[str, Any] = client.get("/openapi.json").get_json()
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    for path, item in document["paths"].items():
        for method in item:
            if method == "parameters":
                continue
            heading = f'{method.upper()}</span> <code class="path">{path}</code>'
            assert heading in html, (method, path)
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in html
    assert "keys create" in html


def test_docs_follow_the_config(make_app: Any) -> None:
    html = make_app(MAX_PAGE_SIZE=42).test_client().get("/docs").get_data(as_text=True)
    assert "≤ 42" in html


def test_docs_pages_run_no_script_and_load_only_this_origin(client: FlaskClient) -> None:
    for response in (client.get("/docs"), client.get("/", headers={"Accept": BROWSER_ACCEPT})):
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy
        assert "style-src 'self'" in policy
        assert "script-src" not in policy and "unsafe" not in policy
        html = response.get_data(as_text=True)
        assert "<script" not in html and "<style" not in html and " style=" not in html
        for href in re.findall(r'<link rel="stylesheet" href="([^"]+)">', html):
            stylesheet = client.get(href)
            assert stylesheet.status_code == 200
            assert stylesheet.mimetype == "text/css"
            stylesheet.close()


def test_unknown_pages_stay_problem_json(client: FlaskClient) -> None:
    response = client.get("/docs/nope", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
