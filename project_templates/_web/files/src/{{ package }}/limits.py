"""Rate limits (Flask-Limiter): login, registration and reset requests, per IP and per account.

The counters live where ``RATELIMIT_STORAGE_URI`` says: ``memory://`` (the default) keeps
them in each process, fine for development and tests; in production with several gunicorn
workers or machines, ``redis://host:6379/0`` puts them in Redis so all share one limit
(``pip install '.[redis]'``).
"""

from __future__ import annotations

import math
import time

from flask import Flask, request
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


def init_app(app: Flask) -> None:
    limiter.init_app(app)
