"""API keys: ``Authorization: Bearer wk_<prefix>_<secret>``, each owned by a user.

A key is 32 random bytes from :mod:`secrets`, made on the server and shown once. The database
keeps only its SHA-256 (a fast hash is right for a high-entropy key; passwords would need a slow
one) and the public ``prefix`` that finds the row. Hashes are compared in constant time.

Scopes: ``read`` sees notes, ``write`` creates, changes and deletes them; both reach only the
notes of the key's owner, unless the key also has ``admin`` (which only an admin user's key
may have): then they reach every user's notes. A key may expire (``expires_at``).

Errors follow RFC 6750: 401 with ``WWW-Authenticate: Bearer`` when the key is missing, wrong,
revoked or expired, 403 ``insufficient_scope`` when the key may not do this. Failed
authentications and each key's requests are rate limited (:mod:`.ratelimit`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import g, request
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from . import ratelimit
from .db import get_session
from .errors import ApiError
from .models import ApiKey, User, as_utc, isoformat, utcnow

SCOPES = ("read", "write", "admin")
KEY_PREFIX = "wk"
REALM = "api"
#: How stale ``last_used_at`` may be. Writing it on every request would turn every read into
#: a write transaction (SQLite has one writer at a time); once a minute per key is plenty to
#: tell a key in use from a forgotten one.
LAST_USED_RESOLUTION = timedelta(minutes=1)
#: What a 401 tells the client to do (the project's own command).
HOW_TO_GET_A_KEY = (
    f"Ask an operator for one: flask --app {__name__.rpartition('.')[0]} "
    "keys create --user EMAIL --scope read"
)

P = ParamSpec("P")
R = TypeVar("R")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def parse_scopes(values: Iterable[str]) -> list[str]:
    """``["read,write"]`` or ``["read", "write"]`` -> ``["read", "write"]``, else ValueError."""
    scopes = sorted({part.strip() for value in values for part in value.split(",")} - {""})
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        named = f"unknown scope {unknown[0]!r}" if unknown else "no scope given"
        raise ValueError(f"{named}: scopes are some of {', '.join(SCOPES)}")
    return scopes


def create_key(
    session: Session,
    user: User,
    scopes: Iterable[str],
    name: str = "",
    expires_in: timedelta | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key of ``user`` and return it with its plain text, which is never stored."""
    scope_list = parse_scopes(scopes)
    if "admin" in scope_list and not user.is_admin:
        raise ValueError(
            f"{user.email} is not an admin: only an admin user's key may have the admin scope"
        )
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    record = ApiKey(
        user=user,
        name=name,
        prefix=prefix,
        key_hash=hash_key(key),
        scopes=" ".join(scope_list),
        expires_at=utcnow() + expires_in if expires_in is not None else None,
    )
    session.add(record)
    session.flush()
    return record, key


def revoke_key(session: Session, key_id: int) -> ApiKey | None:
    """Mark a key revoked (the row stays for the audit trail); ``None`` if there is no such key."""
    record = session.get(ApiKey, key_id)
    if record is not None and record.revoked_at is None:
        record.revoked_at = datetime.now(UTC)
    return record


def find_key(session: Session, presented: str) -> ApiKey | None:
    """The unrevoked key matching ``presented`` (expired or not), or ``None``."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    record = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if record is None or not record.active:
        return None
    if not hmac.compare_digest(record.key_hash, hash_key(presented)):
        return None
    return record


def record_use(session: Session, key: ApiKey, now: datetime) -> None:
    """Set ``last_used_at``, at most once per :data:`LAST_USED_RESOLUTION` per key."""
    if key.last_used_at is not None and as_utc(key.last_used_at) > now - LAST_USED_RESOLUTION:
        return
    # The WHERE makes it once a minute across workers too: a worker that lost the race to
    # another one updates no row.
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            or_(
                ApiKey.last_used_at.is_(None),
                ApiKey.last_used_at <= now - LAST_USED_RESOLUTION,
            ),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def sees_every_owner(key: ApiKey) -> bool:
    """Whether ``key`` reaches every user's notes (admin scope of an admin user)."""
    return "admin" in key.scope_set and key.user.is_admin


def current_key() -> ApiKey:
    """The key of this request (set by :func:`require_scope`)."""
    key: ApiKey = g.api_key
    return key


def require_scope(scope: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """View decorator: the request must carry a valid key that has ``scope``."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            ratelimit.refuse_after_failures()
            try:
                key = _authenticate()
            except ApiError:
                ratelimit.count_failure()
                raise
            ratelimit.count_request(key.id)
            if scope not in key.scope_set:
                raise _refused(
                    403,
                    "insufficient_scope",
                    f"This API key lacks the {scope!r} scope.",
                    'error="insufficient_scope"',
                    f'scope="{scope}"',
                )
            g.api_key = key
            return view(*args, **kwargs)

        return wrapper

    return decorator


def _refused(status: int, code: str, message: str, *challenge: str) -> ApiError:
    """An RFC 6750 refusal: the problem JSON, and a ``WWW-Authenticate: Bearer`` challenge
    with the parameters ``challenge`` holds (``'error="invalid_token"'``)."""
    return ApiError(
        status,
        code,
        message,
        headers={"WWW-Authenticate": ", ".join([f'Bearer realm="{REALM}"', *challenge])},
    )


def _authenticate() -> ApiKey:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if not header:
        raise _refused(
            401,
            "unauthorized",
            f"Send an API key: Authorization: Bearer <key>. {HOW_TO_GET_A_KEY}.",
        )
    session = get_session()
    key = find_key(session, presented.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        raise _refused(
            401,
            "invalid_token",
            f"The API key is malformed, unknown or revoked. {HOW_TO_GET_A_KEY}.",
            'error="invalid_token"',
        )
    now = utcnow()
    if key.expires_at is not None and key.expired(now):
        raise _refused(
            401,
            "key_expired",
            f"The API key expired at {isoformat(key.expires_at)}. {HOW_TO_GET_A_KEY}.",
            'error="invalid_token"',
            'error_description="The API key expired"',
        )
    record_use(session, key, now)
    return key
