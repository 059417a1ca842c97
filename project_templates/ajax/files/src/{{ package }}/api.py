"""The JSON endpoints that static/app.js calls.

Errors are JSON too (see errors.py): ``{"error": {"code", "message", "fields"}}``,
so the page can show the message next to the right input.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, jsonify, request
from flask_login import current_user, login_required
from sqlalchemy import Select, select
from werkzeug.wrappers import Response

from .db import get_session
from .errors import ApiError
from .models import TITLE_MAX_LENGTH, Todo

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/time")
def server_time() -> Response:
    """The button's endpoint: the server's clock."""
    now = datetime.now(UTC)
    return jsonify(iso=now.isoformat(timespec="seconds"), text=now.strftime("%H:%M:%S UTC"))


def own_todos() -> Select[tuple[Todo]]:
    """The current user's to-dos: every query starts here, so no one reaches another's."""
    return select(Todo).where(Todo.user_id == current_user.id)


@bp.get("/todos")
@login_required
def list_todos() -> Response:
    todos = get_session().scalars(own_todos().order_by(Todo.id)).all()
    return jsonify(todos=[todo.to_json() for todo in todos])


@bp.post("/todos")
@login_required
def create_todo() -> tuple[Response, int]:
    data = json_object(allowed={"title"})
    todo = Todo(title=valid_title(data.get("title")), user_id=current_user.id)
    db = get_session()
    db.add(todo)
    db.commit()
    return jsonify(todo=todo.to_json()), 201


@bp.patch("/todos/<id:todo_id>")
@login_required
def update_todo(todo_id: int) -> Response:
    data = json_object(allowed={"title", "done"})
    todo = find_todo(todo_id)
    if "title" in data:
        todo.title = valid_title(data["title"])
    if "done" in data:
        if not isinstance(data["done"], bool):
            raise ApiError(422, "invalid", "Must be true or false.", field="done")
        todo.done = data["done"]
    get_session().commit()
    return jsonify(todo=todo.to_json())


@bp.delete("/todos/<id:todo_id>")
@login_required
def delete_todo(todo_id: int) -> tuple[str, int]:
    db = get_session()
    db.delete(find_todo(todo_id))
    db.commit()
    return "", 204


def find_todo(todo_id: int) -> Todo:
    """The current user's to-do ``todo_id``; another user's is a 404 like a missing one (a
    403 would tell that the id exists)."""
    todo = get_session().scalars(own_todos().where(Todo.id == todo_id)).first()
    if todo is None:
        abort(404)
    return todo


def json_object(*, allowed: set[str]) -> dict[str, Any]:
    """The request body as a JSON object, refusing anything else with a clear error."""
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "invalid_json", "The request body must be JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    unknown = sorted(data.keys() - allowed)
    if unknown:
        raise ApiError(422, "unknown_field", "This field is not allowed.", field=unknown[0])
    return data


def valid_title(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, "required", "Write what needs doing.", field="title")
    title = value.strip()
    if len(title) > TITLE_MAX_LENGTH:
        message = f"Keep it under {TITLE_MAX_LENGTH} characters."
        raise ApiError(422, "too_long", message, field="title")
    return title
