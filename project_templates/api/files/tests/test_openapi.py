"""The OpenAPI document is valid, lists exactly the app's routes, and matches real responses."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

AuthHeaders = dict[str, str]
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_document_lists_exactly_the_routes(app: Flask, document: dict[str, Any]) -> None:
    routes = {
        (re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        # docs.py's pages (/, /docs and their stylesheet) are made from this document.
        if method not in IGNORED_METHODS and rule.endpoint.partition(".")[0] != "docs"
    }
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert routes == documented


def schema_for(document: dict[str, Any], name: str) -> OAS31Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return OAS31Validator(schema)


def test_responses_match_the_schemas(
    client: FlaskClient, auth: AuthHeaders, document: dict[str, Any]
) -> None:
    created = client.post("/notes", json={"title": "t", "body": "b"}, headers=auth)
    client.post("/notes", json={"title": "second"}, headers=auth)
    schema_for(document, "Note").validate(created.get_json())
    page = client.get("/notes?limit=1", headers=auth).get_json()
    assert page["next"]
    schema_for(document, "NotePage").validate(page)
    problem = client.post("/notes", json={"title": 5}, headers=auth).get_json()
    schema_for(document, "Problem").validate(problem)


def test_page_sizes_follow_the_config(make_app: Any) -> None:
    app = make_app(PAGE_SIZE=5, MAX_PAGE_SIZE=50)
    document = app.test_client().get("/openapi.json").get_json()
    limit = document["paths"]["/notes"]["get"]["parameters"][0]
    assert limit["name"] == "limit"
    assert (limit["schema"]["default"], limit["schema"]["maximum"]) == (5, 50)


def test_scoped_and_refused_answers_match_the_document(
    client: FlaskClient, make_key: Any, document: dict[str, Any]
) -> None:
    writer = make_key("write")
    created = client.post("/notes", json={"title": "t"}, headers=writer)
    assert created.get_json() == {"id": 1}
    content = document["paths"]["/notes"]["post"]["responses"]["201"]["content"]
    schema = {**content["application/json"]["schema"], "components": document["components"]}
    OAS31Validator(schema).validate(created.get_json())  # the oneOf: Note or NoteId
    schema_for(document, "NoteId").validate(created.get_json())
    patch = document["paths"]["/notes/{note_id}"]["patch"]["responses"]
    assert client.patch("/notes/1", json={}, headers=writer).status_code == 204
    assert "204" in patch and "content" not in patch["204"]
    for _ in range(20):
        client.get("/notes", headers={"Authorization": "Bearer wk_0_x"})
    refused = client.get("/notes")
    assert refused.status_code == 429
    schema_for(document, "Problem").validate(refused.get_json())
    too_many = document["components"]["responses"]["TooManyRequests"]
    assert "Retry-After" in too_many["headers"]


def test_every_secured_operation_documents_its_refusals(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["apiKey"]["description"]
    assert all(f"`{scope}`" in scheme for scope in ("read", "write", "admin"))
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters" or "security" not in operation:
                continue
            assert {"401", "403", "429"} <= set(operation["responses"]), (path, method)
            if "{note_id}" in path:
                assert "another user's" in operation["responses"]["404"]["description"]
