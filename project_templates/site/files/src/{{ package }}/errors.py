"""Friendly error pages (Flask's defaults are bare)."""

from __future__ import annotations

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from .limits import retry_after


def init_app(app: Flask) -> None:
    @app.errorhandler(404)
    def not_found(_error: HTTPException) -> tuple[str, int]:
        return render_template("errors/404.html"), 404

    @app.errorhandler(403)
    def forbidden(_error: HTTPException) -> tuple[str, int]:
        return render_template("errors/403.html"), 403

    @app.errorhandler(429)
    def too_many_requests(_error: HTTPException) -> tuple[str, int, dict[str, str]]:
        seconds = retry_after()
        html = render_template("auth/too_many.html", retry_after=seconds)
        return html, 429, {"Retry-After": str(seconds)}

    @app.errorhandler(500)
    def server_error(_error: Exception) -> tuple[str, int]:
        return render_template("errors/500.html"), 500

    # Also a missing or expired CSRF token (CSRFError is a 400), and text that cannot be stored.
    @app.errorhandler(400)
    def bad_request(error: HTTPException) -> tuple[str, int]:
        return render_template("errors/400.html", reason=error.description), 400

    @app.errorhandler(413)
    def too_large(_error: HTTPException) -> tuple[str, int]:
        reason = "The request was too large."
        return render_template("errors/400.html", reason=reason), 413
