"""Errors: JSON under /api (the page's script reads them), HTML pages elsewhere."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.wrappers import Response

from .limits import retry_after


class ApiError(Exception):
    """A client error with a machine-readable code and, when it has one, the field at fault."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def json_error(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, object] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    response = jsonify(error=body)
    response.status_code = status
    return response


def _wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return json_error(error.status, error.code, error.message, error.field)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Response | tuple[str, int]:
        if _wants_json():
            message = "The security token is missing or expired. Reload the page."
            return json_error(400, "csrf_failed", message)
        return render_template("error.html", title="Request refused", reason=error.description), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if _wants_json():
            code = error.name.lower().replace(" ", "_")
            response = json_error(status, code, error.description or error.name)
        else:
            html = render_template("error.html", title=error.name, reason=error.description)
            response = app.make_response((html, status))
        # Keep the headers the error defines, such as Allow on a 405.
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(429)
    def too_many_requests(_error: HTTPException) -> Response:
        seconds = retry_after()
        if _wants_json():
            message = f"Too many attempts. Try again in {seconds} seconds."
            response = json_error(429, "too_many_requests", message)
        else:
            html = render_template("auth/too_many.html", retry_after=seconds)
            response = app.make_response((html, 429))
        response.headers["Retry-After"] = str(seconds)
        return response

    @app.errorhandler(InternalServerError)
    def server_error(error: InternalServerError) -> Response | tuple[str, int]:
        message = "The server hit an error. It has been logged; please try again."
        if _wants_json():
            return json_error(500, "internal_error", message)
        return render_template("error.html", title="Something went wrong", reason=message), 500
