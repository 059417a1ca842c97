"""Settings, read from the environment in one place.

``APP_ENV`` is ``production`` unless said otherwise: forgetting to configure a
server must never leave it in a development setting. Production fails closed: it
refuses an unknown ``APP_ENV``, a missing or guessable ``SECRET_KEY``, and ignores
``FLASK_DEBUG``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, MutableMapping
from datetime import timedelta
from typing import Any

from . import transport
from .secret_key import MAKE_A_KEY, check_secret_key

logger = logging.getLogger(__name__)

#: What ``APP_ENV`` may say. ``testing`` is set by the test suite's ``config``, never by the
#: environment: a typo such as ``prod`` must not start a half-configured server.
APP_ENVS = ("production", "development")

MISSING_SECRET_KEY = (
    "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random value, "
    f"for example the output of: {MAKE_A_KEY}"
)

_debug_ignored_said = False


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
        **transport.load_settings(environ),
        # Where the rate limits count (see limits.py): redis://... to share them between
        # servers. memory:// keeps one count per process.
        "RATELIMIT_STORAGE_URI": environ.get("RATELIMIT_STORAGE_URI") or "memory://",
        # "Remember me" (an explicit checkbox at login) keeps a user logged in this long.
        "REMEMBER_COOKIE_DURATION": timedelta(days=14),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # A password reset link works once, for this many seconds.
        "PASSWORD_RESET_MAX_AGE": 3600,
        **mail_settings(environ),
    }


def mail_port(value: str) -> int:
    if not value.strip().isdigit() or not 0 < int(value) < 65536:
        raise RuntimeError(f"MAIL_PORT={value!r} is not a port number: fix it in the environment.")
    return int(value)


def mail_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """SMTP settings for the password reset mail. Without MAIL_SERVER, development prints
    the mail to the terminal and production sends nothing (see mail.py)."""
    return {
        "MAIL_SERVER": environ.get("MAIL_SERVER") or None,
        "MAIL_PORT": mail_port(environ.get("MAIL_PORT") or "587"),
        "MAIL_USERNAME": environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": environ.get("MAIL_PASSWORD") or None,
        "MAIL_FROM": environ.get("MAIL_FROM") or "no-reply@localhost",
        # STARTTLS unless MAIL_STARTTLS=0 (a relay on localhost, for example).
        "MAIL_STARTTLS": (environ.get("MAIL_STARTTLS") or "1").strip().lower()
        not in {"0", "false", "no", "off"},
    }


def check_app_env(config: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """Refuse an APP_ENV this app does not know (``testing`` only from the test suite)."""
    app_env = config["APP_ENV"]
    if app_env in APP_ENVS or (app_env == "testing" and overrides.get("APP_ENV") == "testing"):
        return
    raise RuntimeError(
        f"APP_ENV={app_env!r} is not one of {', '.join(APP_ENVS)}: fix it in the environment "
        "or .env (an unknown value never starts the app)."
    )


def finalize_settings(config: MutableMapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """Derive the settings that depend on others, once ``overrides`` are applied."""
    global _debug_ignored_said
    check_app_env(config, overrides)
    production = config["APP_ENV"] == "production"
    if production and config.get("DEBUG"):
        # FLASK_DEBUG=1 from a development .env would show tracebacks to anyone.
        config["DEBUG"] = False
        if not _debug_ignored_said:
            _debug_ignored_said = True
            logger.warning("FLASK_DEBUG is ignored in production (APP_ENV=production).")
    if "SESSION_COOKIE_SECURE" not in overrides:
        # Browsers send a Secure cookie over HTTPS only: off for the local development
        # server, on everywhere else (production, tests).
        config["SESSION_COOKIE_SECURE"] = config["APP_ENV"] != "development"
    if "REMEMBER_COOKIE_SECURE" not in overrides:
        config["REMEMBER_COOKIE_SECURE"] = config["SESSION_COOKIE_SECURE"]
    key = config.get("SECRET_KEY")
    if production and key:
        check_secret_key(str(key))
    if not key:
        if production:
            raise RuntimeError(MISSING_SECRET_KEY)
        # Development without a .env: sessions still work, but reset on each restart.
        logger.warning("SECRET_KEY is not set; using a random key for this process.")
        config["SECRET_KEY"] = secrets.token_hex(32)
