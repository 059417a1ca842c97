"""Settings, read from the environment in one place.

``APP_ENV`` is ``production`` unless said otherwise: forgetting to configure a
server must never leave it in a development setting.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, MutableMapping
from typing import Any

logger = logging.getLogger(__name__)

MISSING_SECRET_KEY = (
    "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random value, "
    'for example the output of: python -c "import secrets; print(secrets.token_hex(32))"'
)


def load_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings that come from environment variables."""
    return {
        "APP_ENV": environ.get("APP_ENV", "production").strip().lower() or "production",
        "SECRET_KEY": environ.get("SECRET_KEY") or None,
        # None means SQLite in the instance folder (see db.py).
        "DATABASE_URL": environ.get("DATABASE_URL") or None,
        # Reject request bodies over 1 MiB with 413 before reading them.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
    }


def finalize_settings(config: MutableMapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """Derive the settings that depend on others, once ``overrides`` are applied."""
    production = config["APP_ENV"] == "production"
    if "SESSION_COOKIE_SECURE" not in overrides:
        # Browsers send a Secure cookie over HTTPS only: off for the local development
        # server, on everywhere else (production, staging, tests).
        config["SESSION_COOKIE_SECURE"] = config["APP_ENV"] != "development"
    if not config.get("SECRET_KEY"):
        if production:
            raise RuntimeError(MISSING_SECRET_KEY)
        # Development without a .env: sessions still work, but reset on each restart.
        logger.warning("SECRET_KEY is not set; using a random key for this process.")
        config["SECRET_KEY"] = secrets.token_hex(32)
