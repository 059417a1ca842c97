"""Odd input is a 4xx in the app's own error format, never a 500.

Each guard answers one way a request used to crash the app with a traceback:

- ``<id:...>`` in a route accepts ids from 1 to 2**31 - 1 only (PostgreSQL's ``integer``;
  Python's unbounded ints overflow SQLite at 2**63 and PostgreSQL at 2**31): others are 404.
- JSON nested too deeply (``RecursionError``), and JSON text with a lone surrogate
  (``"\\ud800"``, which no database can store) or a NUL (which PostgreSQL refuses) are 400.
- A NUL in a query or form field is 400 for the same reason.
- A chunked body (no ``Content-Length``) over ``MAX_CONTENT_LENGTH`` is 413 like a declared
  one, instead of being cut at the limit and processed.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from flask import Flask, abort, current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter, Map

#: The largest row id (and offset) the app accepts: PostgreSQL's ``integer``.
MAX_ID = 2**31 - 1
BAD_TEXT = "Text may not contain NUL characters or unpaired surrogates."


class IdConverter(IntegerConverter):
    """``<id:name>``: a row id from 1 to :data:`MAX_ID`; any other number matches no route."""

    def __init__(self, map: Map) -> None:
        super().__init__(map, min=1, max=MAX_ID)


def bad_text(value: str) -> bool:
    """A NUL or a lone surrogate: text that cannot be stored."""
    return "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value)


def _strings(data: Any) -> Iterable[str]:
    """Every string (keys included) in parsed JSON, without recursion."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class GuardedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing what would crash the app later as a ``ValueError`` (which
    ``request.get_json()`` turns into 400)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            data = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("The JSON is nested too deeply.") from None
        if any(bad_text(text) for text in _strings(data)):
            raise ValueError(BAD_TEXT)
        return data


def _refuse_bad_fields() -> None:
    fields = list(request.args.items(multi=True))
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        fields += request.form.items(multi=True)
    if any(bad_text(key) or bad_text(value) for key, value in fields):
        abort(400, description=BAD_TEXT)


def _buffer_chunked_body() -> None:
    """Read a body sent without ``Content-Length`` here, refusing it past the limit."""
    environ = request.environ
    if (
        environ.get("CONTENT_LENGTH")
        or "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    ):
        return
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    stream, body = environ["wsgi.input"], bytearray()
    while len(body) <= limit:
        chunk = stream.read(min(64 * 1024, limit + 1 - len(body)))
        if not chunk:
            break
        body += chunk
    if len(body) > limit:
        raise RequestEntityTooLarge()
    environ["wsgi.input"] = io.BytesIO(bytes(body))
    environ["CONTENT_LENGTH"] = str(len(body))


def init_app(app: Flask) -> None:
    """Install the guards; call before the blueprints are registered (``<id:...>``)."""
    app.url_map.converters["id"] = IdConverter
    app.json = GuardedJSONProvider(app)
    app.before_request(_buffer_chunked_body)
    app.before_request(_refuse_bad_fields)
