"""Rate limits (Flask-Limiter): login, registration and reset requests, per IP and per account.

The counters live where ``RATELIMIT_STORAGE_URI`` says: ``memory://`` (the default) keeps
them in each process, fine for development and tests; in production with several gunicorn
workers or machines, ``redis://host:6379/0`` puts them in Redis so all share one limit
(``pip install '.[redis]'``).

If that storage stops answering (Redis restarted or unreachable), logins must not fail:
each process then counts in its own memory, logs a warning, and goes back to the storage
once it answers again.
"""

from __future__ import annotations

import logging
import math
import time

from flask import Flask, request
from flask.logging import default_handler
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

#: Attempts allowed per IP address and, separately, per e-mail address.
AUTH_LIMIT = "10 per 3 minutes"

# The client's address: request.remote_addr, which transport.py's ProxyFix corrects behind
# TRUSTED_PROXIES (never a forwarded header an attacker could choose).
# The prefix keeps this app's counters apart from other apps' in a shared Redis.
limiter = Limiter(key_func=get_remote_address, key_prefix=__package__ or "")


def account_key() -> str:
    """The e-mail address the form names, normalised, so each account has its own counter
    whichever IP addresses the attempts come from."""
    email = request.form.get("email", "").strip().lower()
    return f"account:{email}"


#: Decorators for a view that checks a password or sends mail: both limits apply to POSTs.
per_ip = limiter.limit(AUTH_LIMIT, key_func=get_remote_address, methods=["POST"])
per_account = limiter.limit(AUTH_LIMIT, key_func=account_key, methods=["POST"])


def retry_after() -> int:
    """Seconds until the limit this request broke lets the client in again (at least 1)."""
    limit = limiter.current_limit
    if limit is None:
        return 1
    return max(1, math.ceil(limit.reset_at - time.time()))


#: A Redis that stops answering costs a request at most 2 s before the fallback counts it.
REDIS_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    if str(app.config.get("RATELIMIT_STORAGE_URI", "")).startswith(("redis://", "rediss://")):
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", REDIS_OPTIONS)
    limiter.init_app(app)
    show_limiter_warnings()


def show_limiter_warnings() -> None:
    """Flask-Limiter logs to ``flask-limiter``, which has only a ``NullHandler``: unless logging
    is set up, its warning that the storage is unreachable would be lost. Send it to stderr
    (the server's log), as Flask does for the app's own logger."""
    handlers = logging.getLogger("flask-limiter").handlers + logging.getLogger().handlers
    if all(isinstance(handler, logging.NullHandler) for handler in handlers):
        logging.getLogger("flask-limiter").addHandler(default_handler)
