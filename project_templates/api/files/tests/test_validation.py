"""Bad input gets a JSON problem with a machine-readable code and the offending field."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

AuthHeaders = dict[str, str]


def errors_of(response: TestResponse) -> list[tuple[str, str]]:
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == response.status_code
    return [(error["field"], error["code"]) for error in body.get("errors", [])]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"title": 42}, [("title", "wrong_type")]),
        ({"title": None}, [("title", "wrong_type")]),
        ({"title": "ok", "pinned": "yes"}, [("pinned", "wrong_type")]),
        ({"title": "ok", "pinned": 1}, [("pinned", "wrong_type")]),
        ({"title": "ok", "body": ["a", "list"]}, [("body", "wrong_type")]),
        ({}, [("title", "missing")]),
        ({"body": "no title"}, [("title", "missing")]),
        ({"title": "ok", "colour": "red"}, [("colour", "unknown")]),
        ({"title": "   "}, [("title", "too_short")]),
        ({"title": "x" * 201}, [("title", "too_long")]),
        ({"title": "ok", "body": "x" * 10_001}, [("body", "too_long")]),
        ({"title": 1, "extra": True}, [("extra", "unknown"), ("title", "wrong_type")]),
    ],
)
def test_invalid_fields_are_422(
    client: FlaskClient, auth: AuthHeaders, payload: dict[str, object], expected: list
) -> None:
    response = client.post("/notes", json=payload, headers=auth)
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_failed"
    assert errors_of(response) == expected
    assert client.get("/notes", headers=auth).get_json()["total"] == 0


def test_update_validates_too(client: FlaskClient, auth: AuthHeaders) -> None:
    note = client.post("/notes", json={"title": "t"}, headers=auth).get_json()
    response = client.patch(f"/notes/{note['id']}", json={"pinned": "no", "id": 5}, headers=auth)
    assert response.status_code == 422
    assert errors_of(response) == [("id", "unknown"), ("pinned", "wrong_type")]
    assert client.get(f"/notes/{note['id']}", headers=auth).get_json()["pinned"] is False


def test_update_does_not_require_fields(client: FlaskClient, auth: AuthHeaders) -> None:
    note = client.post("/notes", json={"title": "t"}, headers=auth).get_json()
    response = client.patch(f"/notes/{note['id']}", json={}, headers=auth)
    assert response.status_code == 200
    assert response.get_json()["title"] == "t"


@pytest.mark.parametrize("body", [b"{not json", b'{"title": "a",}', b"", b'{"title": NaN}'])
def test_bad_json_is_400(client: FlaskClient, auth: AuthHeaders, body: bytes) -> None:
    response = client.post(
        "/notes", data=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_json"


@pytest.mark.parametrize("body", [b"[]", b'"title"', b"null", b"3"])
def test_json_that_is_not_an_object_is_400(
    client: FlaskClient, auth: AuthHeaders, body: bytes
) -> None:
    response = client.post(
        "/notes", data=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["code"] == "invalid_body"


def test_body_that_is_not_json_is_415(client: FlaskClient, auth: AuthHeaders) -> None:
    response = client.post("/notes", data={"title": "form field"}, headers=auth)
    assert response.status_code == 415
    assert response.get_json()["code"] == "unsupported_media_type"


def test_oversized_body_is_413(client: FlaskClient, auth: AuthHeaders) -> None:
    huge = b'{"title": "' + b"x" * (1024 * 1024) + b'"}'
    response = client.post(
        "/notes", data=huge, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "request_entity_too_large"
    assert "1048576 bytes" in response.get_json()["detail"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("limit=ten", [("limit", "wrong_type")]),
        ("limit=0", [("limit", "out_of_range")]),
        ("offset=-1", [("offset", "out_of_range")]),
        ("pinned=maybe", [("pinned", "wrong_type")]),
        ("q=" + "x" * 201, [("q", "too_long")]),
        ("limt=5", [("limt", "unknown")]),
    ],
)
def test_invalid_query_parameters_are_422(
    client: FlaskClient, auth: AuthHeaders, query: str, expected: list
) -> None:
    response = client.get(f"/notes?{query}", headers=auth)
    assert response.status_code == 422
    assert errors_of(response) == expected
