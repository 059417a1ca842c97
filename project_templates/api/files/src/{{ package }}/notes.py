"""The ``/notes`` resource: list (paginated, filtered), get, create, update, delete.

Every query goes through :func:`_visible`: a key reaches only its owner's notes (an ``admin``
key of an admin user reaches all). Another owner's note is a 404, exactly like a missing one,
so ids tell nothing about other users. A key without ``read`` never gets a note's content
back: creating answers only the new id (and ``Location``), updating answers ``204``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from sqlalchemy import ColumnElement, func, or_, select

from .auth import current_key, require_scope, sees_every_owner
from .db import get_session
from .errors import ApiError
from .input_guard import MAX_ID
from .models import BODY_MAX, TITLE_MAX, Note
from .validation import (
    Field,
    json_body,
    query_bool,
    query_int,
    query_str,
    reject_unknown_query,
    validate,
)

bp = Blueprint("notes", __name__, url_prefix="/notes")

NOTE_FIELDS = {
    "title": Field(str, required=True, min_length=1, max_length=TITLE_MAX),
    "body": Field(str, max_length=BODY_MAX),
    "pinned": Field(bool),
}
LIST_PARAMETERS = {"limit", "offset", "q", "pinned"}


@bp.get("")
@require_scope("read")
def list_notes() -> Response:
    """Notes by id, ``limit``/``offset`` paginated, filtered by ``q`` (text) and ``pinned``."""
    reject_unknown_query(LIST_PARAMETERS)
    max_size = current_app.config["MAX_PAGE_SIZE"]
    limit = query_int("limit", current_app.config["PAGE_SIZE"], minimum=1, maximum=max_size)
    offset = query_int("offset", 0, minimum=0, maximum=MAX_ID)
    query = select(Note).where(*_visible(), *_filters())

    session = get_session()
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    notes = session.scalars(query.order_by(Note.id).limit(limit).offset(offset)).all()

    next_url = None
    if offset + limit < total:
        # Relative, so it stays right behind a proxy; the filters are carried over.
        params: dict[str, Any] = {**request.args, "limit": limit, "offset": offset + limit}
        next_url = url_for(".list_notes", **params)
    response = jsonify(
        data=[note.to_dict() for note in notes],
        total=total,
        limit=limit,
        offset=offset,
        next=next_url,
    )
    if next_url:
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response


@bp.post("")
@require_scope("write")
def create_note() -> tuple[Response, int, dict[str, str]]:
    payload = json_body()
    validate(payload, NOTE_FIELDS, partial=False)
    note = Note(**_clean(payload), owner_id=current_key().user_id)
    session = get_session()
    session.add(note)
    session.commit()
    location = url_for(".get_note", note_id=note.id)
    body = note.to_dict() if _may_read() else {"id": note.id}
    return jsonify(body), 201, {"Location": location}


@bp.get("/<id:note_id>")
@require_scope("read")
def get_note(note_id: int) -> Response:
    return jsonify(_get_or_404(note_id).to_dict())


@bp.patch("/<id:note_id>")
@require_scope("write")
def update_note(note_id: int) -> Response | tuple[str, int]:
    """Partial update: only the fields sent change. The note back only with ``read``."""
    note = _get_or_404(note_id)
    payload = json_body()
    validate(payload, NOTE_FIELDS, partial=True)
    for name, value in _clean(payload).items():
        setattr(note, name, value)
    get_session().commit()
    if not _may_read():
        # Else a write-only key could read its owner's notes with PATCH {}.
        return "", 204
    return jsonify(note.to_dict())


@bp.delete("/<id:note_id>")
@require_scope("write")
def delete_note(note_id: int) -> tuple[str, int]:
    session = get_session()
    session.delete(_get_or_404(note_id))
    session.commit()
    return "", 204


def _visible() -> list[ColumnElement[bool]]:
    """The notes this request's key may reach: its owner's, or every note for an admin key."""
    key = current_key()
    if sees_every_owner(key):
        return []
    return [Note.owner_id == key.user_id]


def _may_read() -> bool:
    return "read" in current_key().scope_set


def _filters() -> list[ColumnElement[bool]]:
    """The list filters. Values are bound parameters; LIKE wildcards in ``q`` are escaped."""
    conditions: list[ColumnElement[bool]] = []
    text = query_str("q", max_length=TITLE_MAX)
    if text:
        conditions.append(
            or_(
                Note.title.icontains(text, autoescape=True),
                Note.body.icontains(text, autoescape=True),
            )
        )
    pinned = query_bool("pinned")
    if pinned is not None:
        conditions.append(Note.pinned == pinned)
    return conditions


def _get_or_404(note_id: int) -> Note:
    """The note, if this key may reach it; else 404, the same answer as for no note at all."""
    note = get_session().scalar(select(Note).where(Note.id == note_id, *_visible()))
    if note is None:
        raise ApiError(404, "not_found", f"Note {note_id} does not exist.")
    return note


def _clean(payload: dict[str, Any]) -> dict[str, Any]:
    """Titles are stored without surrounding whitespace."""
    if "title" in payload:
        payload = {**payload, "title": payload["title"].strip()}
    return payload
