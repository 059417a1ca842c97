"""Behind a proxy and on the wire: trusted proxies, HSTS over HTTPS, and the headers every
response carries whatever it is (pages, JSON, errors, static files).

Production runs behind a TLS-terminating proxy. ``TRUSTED_PROXIES=N`` (the number of proxies
in front of the app) makes ``X-Forwarded-For/-Proto/-Host/-Port`` count, so ``request`` sees
the client's HTTPS and Flask-WTF's Referer check for HTTPS stays on; without it (the default)
those headers are ignored, as anyone can send them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

#: Browser features no page of the app uses: a script injected into it cannot use them either.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
#: Two years, the max-age browsers' preload lists ask for.
HSTS_MAX_AGE = 63_072_000


def _whole_number(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise RuntimeError(f"{name}={raw!r} must be a whole number: fix it in the environment.")
    return int(raw)


def load_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """``TRUSTED_PROXIES`` (default 0) and ``HSTS_MAX_AGE`` (seconds; 0 turns HSTS off)."""
    return {
        "TRUSTED_PROXIES": _whole_number(environ, "TRUSTED_PROXIES", 0),
        "HSTS_MAX_AGE": _whole_number(environ, "HSTS_MAX_AGE", HSTS_MAX_AGE),
    }


def add_transport_headers(response: Response) -> Response:
    response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    max_age = current_app.config.get("HSTS_MAX_AGE", 0)
    # Over HTTPS only (a browser ignores it over HTTP), and never for the local server.
    if request.is_secure and max_age and current_app.config["APP_ENV"] != "development":
        response.headers.setdefault("Strict-Transport-Security", f"max-age={max_age}")
    if session.accessed:
        # It carries a session (a CSRF token, a signed-in result): no cache may keep it.
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    proxies = int(app.config.get("TRUSTED_PROXIES", 0))
    if proxies:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    app.after_request(add_transport_headers)
