"""Every error is JSON: RFC 9457 problem details plus a machine-readable ``code``.

```json
{"type": "about:blank", "title": "Unprocessable Entity", "status": 422,
 "code": "validation_failed", "detail": "1 field is invalid.",
 "errors": [{"field": "title", "code": "missing", "message": "This field is required."}]}
```
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError, RequestEntityTooLarge

PROBLEM_JSON = "application/problem+json"


class ApiError(Exception):
    """Raised by views and validators; rendered by :func:`problem`."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors or []
        self.headers = dict(headers or {})
        #: Seconds; sent as the ``Retry-After`` header and as ``retry_after`` in the body (429).
        self.retry_after = retry_after
        if retry_after is not None:
            self.headers["Retry-After"] = str(retry_after)


def problem(error: ApiError) -> Response:
    """The problem-details response for ``error``."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(error.status).phrase,
        "status": error.status,
        "code": error.code,
        "detail": error.detail,
    }
    if error.errors:
        body["errors"] = error.errors
    if error.retry_after is not None:
        body["retry_after"] = error.retry_after
    response = jsonify(body)
    response.status_code = error.status
    response.mimetype = PROBLEM_JSON
    response.headers.update(error.headers)
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(ApiError, problem)
    app.register_error_handler(HTTPException, _http_error)


def _http_error(error: HTTPException) -> Response:
    """404, 405, 413, 500, ...: the status's name as code, werkzeug's headers kept (Allow)."""
    status = error.code or 500
    if isinstance(error, InternalServerError):
        # Flask has logged the exception; the client learns nothing about its internals.
        detail = "The server hit an unexpected error. It has been logged."
    elif isinstance(error, RequestEntityTooLarge):
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        detail = f"The request body is larger than the limit of {limit} bytes."
    else:
        detail = error.description or ""
    headers = {
        name: value
        for name, value in error.get_headers()
        if name.lower() not in {"content-type", "content-length"}
    }
    return problem(ApiError(status, _code(error.name), detail, headers=headers))


def _code(name: str) -> str:
    """'Method Not Allowed' -> 'method_not_allowed'."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
