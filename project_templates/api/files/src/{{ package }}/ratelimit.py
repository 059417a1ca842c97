"""Rate limits: failed authentications per client address, and requests per API key.

Flask-Limiter provides the storage (``RATELIMIT_STORAGE_URI``: ``memory://`` by default, one
counter per process; ``redis://host:6379/0`` in production, so every gunicorn worker and every
server counts against one limit) and the counting strategy (a fixed window). The two limits
are checked here, explicitly, because the per-key one can only be counted once the key is
known, i.e. inside :func:`auth.require_scope`, after Flask-Limiter's own ``before_request``.

* ``AUTH_FAILURE_RATE_LIMIT`` (default ``20/minute``): the 401 answers one address may get; past
  it every request from that address is ``429`` until the window ends, which makes guessing
  keys pointless. Behind a proxy, set ``TRUSTED_PROXIES`` so the address is the client's.
* ``API_KEY_RATE_LIMIT`` (default ``120/minute``): the requests one key may make.

A refused request is ``429`` problem JSON with ``Retry-After`` (seconds) in its headers and as
``retry_after`` in its body.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse

from .errors import ApiError

AUTH_FAILURES = "auth-failures"
KEY_REQUESTS = "api-key"


@dataclass(frozen=True)
class RateLimits:
    limiter: Limiter
    auth_failures: RateLimitItem
    key_requests: RateLimitItem


def init_app(app: Flask) -> None:
    # One Limiter per app: each app (and each test's app) has its own counters.
    limiter = Limiter(get_remote_address, app=app)
    app.extensions["ratelimits"] = RateLimits(
        limiter,
        auth_failures=parse(app.config["AUTH_FAILURE_RATE_LIMIT"]),
        key_requests=parse(app.config["API_KEY_RATE_LIMIT"]),
    )


def refuse_after_failures() -> None:
    """429 when this client address has had too many failed authentications of late."""
    limits = _limits()
    if limits and not limits.limiter.limiter.test(limits.auth_failures, *_address()):
        raise _too_many(
            limits, limits.auth_failures, _address(), "Too many failed authentications from here."
        )


def count_failure() -> None:
    """Count one failed authentication against the client's address."""
    if limits := _limits():
        limits.limiter.limiter.hit(limits.auth_failures, *_address())


def count_request(key_id: int) -> None:
    """Count one request made with key ``key_id``; 429 when it is over its limit."""
    limits = _limits()
    identifiers = (KEY_REQUESTS, current_app.name, str(key_id))
    if limits and not limits.limiter.limiter.hit(limits.key_requests, *identifiers):
        raise _too_many(limits, limits.key_requests, identifiers, "This API key is over its limit.")


def _limits() -> RateLimits | None:
    """The app's limits, or ``None`` when ``RATELIMIT_ENABLED`` is false."""
    limits: RateLimits = current_app.extensions["ratelimits"]
    return limits if limits.limiter.enabled else None


def _address() -> tuple[str, str, str]:
    # The app's name keeps two apps sharing one Redis apart.
    return AUTH_FAILURES, current_app.name, get_remote_address()


def _too_many(
    limits: RateLimits, item: RateLimitItem, identifiers: tuple[str, ...], detail: str
) -> ApiError:
    reset = limits.limiter.limiter.get_window_stats(item, *identifiers).reset_time
    retry_after = max(1, math.ceil(reset - time.time()))
    return ApiError(
        429,
        "rate_limited",
        f"{detail} The limit is {item.amount} per {_window(item)}; retry in {retry_after} s.",
        retry_after=retry_after,
    )


def _window(item: RateLimitItem) -> str:
    granularity = item.GRANULARITY.name
    return granularity if item.multiples == 1 else f"{item.multiples} {granularity}s"
