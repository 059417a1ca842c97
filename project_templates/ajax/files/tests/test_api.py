"""The JSON endpoints: the button's, and the to-do list with CSRF and validation."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, table

from .conftest import AppFactory, crash, csrf_token


@pytest.fixture
def client(user_client: FlaskClient) -> FlaskClient:
    """The to-do list is its owner's: these tests talk as a logged-in user (the anonymous
    and the other user are in test_ownership.py)."""
    return user_client


@pytest.fixture
def headers(client: FlaskClient) -> dict[str, str]:
    """The headers static/app.js sends: the page's CSRF token in X-CSRFToken."""
    return {"X-CSRFToken": csrf_token(client)}


def count_todos(app: Flask) -> int:
    """Rows in the todos table, read straight from the database."""
    with app.extensions["sqlalchemy_engine"].connect() as connection:
        return connection.scalar(select(func.count()).select_from(table("todos"))) or 0


def add(client: FlaskClient, headers: dict[str, str], title: str) -> dict[str, object]:
    response = client.post("/api/todos", json={"title": title}, headers=headers)
    assert response.status_code == 201, response.get_json()
    todo: dict[str, object] = response.get_json()["todo"]
    return todo


def test_time_endpoint_answers_json(client: FlaskClient) -> None:
    response = client.get("/api/time")
    assert response.status_code == 200
    data = response.get_json()
    assert data["iso"].endswith("+00:00")
    assert data["text"].endswith("UTC")


def test_list_starts_empty(client: FlaskClient) -> None:
    assert client.get("/api/todos").get_json() == {"todos": []}


def test_create_then_list(app: Flask, client: FlaskClient, headers: dict[str, str]) -> None:
    todo = add(client, headers, "  Water the plants  ")
    assert todo == {"id": todo["id"], "title": "Water the plants", "done": False}
    add(client, headers, "Call Ada")
    titles = [t["title"] for t in client.get("/api/todos").get_json()["todos"]]
    assert titles == ["Water the plants", "Call Ada"]
    assert count_todos(app) == 2


def test_post_without_csrf_token_is_rejected(app: Flask, client: FlaskClient) -> None:
    response = client.post("/api/todos", json={"title": "Sneaky"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"
    assert count_todos(app) == 0


def test_forged_csrf_token_is_rejected(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    response = client.post("/api/todos", json={"title": "x"}, headers={"X-CSRFToken": "forged"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "csrf_failed"
    assert count_todos(app) == 0


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_changes_need_the_csrf_token(
    client: FlaskClient, headers: dict[str, str], method: str
) -> None:
    todo = add(client, headers, "Keep me")
    response = getattr(client, method)(f"/api/todos/{todo['id']}", json={"done": True})
    assert response.status_code == 400
    assert client.get("/api/todos").get_json()["todos"] == [todo]


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 422, "required", "title"),
        ({"title": "   "}, 422, "required", "title"),
        ({"title": 42}, 422, "required", "title"),
        ({"title": "x" * 201}, 422, "too_long", "title"),
        ({"title": "ok", "priority": 1}, 422, "unknown_field", "priority"),
        (["a list"], 400, "invalid_json", None),
    ],
)
def test_invalid_todo_gets_a_json_error_naming_the_field(
    app: Flask,
    client: FlaskClient,
    headers: dict[str, str],
    body: object,
    status: int,
    code: str,
    field: str | None,
) -> None:
    response = client.post("/api/todos", json=body, headers=headers)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error.get("field") == field
    assert error["message"]
    assert count_todos(app) == 0


def test_body_that_is_not_json_is_refused(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.post(
        "/api/todos", data="{not json", content_type="application/json", headers=headers
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


def test_oversized_body_is_refused(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.post("/api/todos", json={"title": "x" * (2 * 1024 * 1024)}, headers=headers)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"


def test_toggle_done_and_rename(client: FlaskClient, headers: dict[str, str]) -> None:
    todo = add(client, headers, "Write tests")
    response = client.patch(f"/api/todos/{todo['id']}", json={"done": True}, headers=headers)
    assert response.get_json()["todo"]["done"] is True
    response = client.patch(f"/api/todos/{todo['id']}", json={"title": "Ship"}, headers=headers)
    assert response.get_json()["todo"] == {"id": todo["id"], "title": "Ship", "done": True}


def test_done_must_be_a_boolean(client: FlaskClient, headers: dict[str, str]) -> None:
    todo = add(client, headers, "Write tests")
    response = client.patch(f"/api/todos/{todo['id']}", json={"done": "yes"}, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "done"


def test_delete(app: Flask, client: FlaskClient, headers: dict[str, str]) -> None:
    todo = add(client, headers, "Temporary")
    response = client.delete(f"/api/todos/{todo['id']}", headers=headers)
    assert response.status_code == 204
    assert count_todos(app) == 0
    again = client.delete(f"/api/todos/{todo['id']}", headers=headers)
    assert again.status_code == 404


def test_unknown_todo_is_a_json_404(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.patch("/api/todos/999", json={"done": True}, headers=headers)
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_api_errors_are_json(client: FlaskClient) -> None:
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    wrong_method = client.put("/api/time")
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["error"]["code"] == "method_not_allowed"
    assert set(wrong_method.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS"}


def test_a_crash_in_the_api_is_a_json_500(make_app: AppFactory) -> None:
    response = crash(make_app, "/api/boom")
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal_error"
    assert "ZeroDivisionError" not in response.get_data(as_text=True)


def test_markup_is_returned_as_plain_json_text(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    """The page inserts titles with textContent; the API must not alter them either."""
    payload = '<img src=x onerror="alert(1)">'
    add(client, headers, payload)
    response = client.get("/api/todos")
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json()["todos"][0]["title"] == payload


def test_sql_injection_is_stored_as_plain_text(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    payloads = ["x'); DROP TABLE todos;--", "1 OR 1=1"]
    for payload in payloads:
        add(client, headers, payload)
    assert count_todos(app) == 2
    titles = [t["title"] for t in client.get("/api/todos").get_json()["todos"]]
    assert titles == payloads
