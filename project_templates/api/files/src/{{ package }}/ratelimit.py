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

If the storage stops answering (Redis restarted or unreachable), the API keeps answering: each
process counts in its own memory for ``STORAGE_RETRY_SECONDS``, logs a warning, then tries the
storage again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter

from .errors import ApiError

logger = logging.getLogger(__name__)

AUTH_FAILURES = "auth-failures"
KEY_REQUESTS = "api-key"

#: How long a process counts in memory after the storage failed, before it tries it again.
STORAGE_RETRY_SECONDS = 30
#: Storage errors become ``StorageError``; a Redis that stops answering costs at most 2 s.
REDIS_OPTIONS = {"wrap_exceptions": True, "socket_connect_timeout": 2, "socket_timeout": 2}

T = TypeVar("T")


@dataclass
class RateLimits:
    limiter: Limiter
    auth_failures: RateLimitItem
    key_requests: RateLimitItem
    #: This process's own counters, used while the storage does not answer.
    fallback: RateLimiter = field(default_factory=lambda: FixedWindowRateLimiter(MemoryStorage()))
    storage_down_until: float = 0.0


def init_app(app: Flask) -> None:
    uri = str(app.config.get("RATELIMIT_STORAGE_URI", ""))
    redis = uri.startswith(("redis://", "rediss://"))
    app.config.setdefault(
        "RATELIMIT_STORAGE_OPTIONS", REDIS_OPTIONS if redis else {"wrap_exceptions": True}
    )
    # One Limiter per app: each app (and each test's app) has its own counters.
    limiter = Limiter(get_remote_address, app=app)
    app.extensions["ratelimits"] = RateLimits(
        limiter,
        auth_failures=parse(app.config["AUTH_FAILURE_RATE_LIMIT"]),
        key_requests=parse(app.config["API_KEY_RATE_LIMIT"]),
    )


def refuse_after_failures() -> None:
    """429 when this client address has had too many failed authentications of late."""
    if (limits := _limits()) is None:
        return
    item, address = limits.auth_failures, _address()
    if not _count(limits, lambda strategy: strategy.test(item, *address)):
        raise _too_many(limits, item, address, "Too many failed authentications from here.")


def count_failure() -> None:
    """Count one failed authentication against the client's address."""
    if (limits := _limits()) is None:
        return
    item, address = limits.auth_failures, _address()
    _count(limits, lambda strategy: strategy.hit(item, *address))


def count_request(key_id: int) -> None:
    """Count one request made with key ``key_id``; 429 when it is over its limit."""
    if (limits := _limits()) is None:
        return
    item, identifiers = limits.key_requests, (KEY_REQUESTS, current_app.name, str(key_id))
    if not _count(limits, lambda strategy: strategy.hit(item, *identifiers)):
        raise _too_many(limits, item, identifiers, "This API key is over its limit.")


def _count(limits: RateLimits, step: Callable[[RateLimiter], T]) -> T:
    """``step`` on the shared storage; on this process's memory while that does not answer."""
    if time.monotonic() >= limits.storage_down_until:
        try:
            return step(limits.limiter.limiter)
        except StorageError as error:
            limits.storage_down_until = time.monotonic() + STORAGE_RETRY_SECONDS
            logger.warning(
                "Rate limit storage unreachable (%s): counting in this process for %d s.",
                error.storage_error,
                STORAGE_RETRY_SECONDS,
            )
    return step(limits.fallback)


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
    stats = _count(limits, lambda strategy: strategy.get_window_stats(item, *identifiers))
    reset = stats.reset_time
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
