"""API keys: ``Authorization: Bearer wk_<prefix>_<secret>``.

A key is 32 random bytes from :mod:`secrets`, made on the server and shown once. The database
keeps only its SHA-256 (a fast hash is right for a high-entropy key; passwords would need a slow
one) and the public ``prefix`` that finds the row. Hashes are compared in constant time.
Errors follow RFC 6750: 401 with ``WWW-Authenticate: Bearer`` when the key is missing or
wrong, 403 ``insufficient_scope`` when the key may not do this.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import get_session
from .errors import ApiError
from .models import ApiKey

SCOPES = ("read", "write")
KEY_PREFIX = "wk"
REALM = "api"

P = ParamSpec("P")
R = TypeVar("R")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, scopes: Iterable[str], name: str = "") -> tuple[ApiKey, str]:
    """Store a new key and return it with its plain text, which is never stored."""
    scope_list = sorted(set(scopes))
    if not scope_list or not set(scope_list) <= set(SCOPES):
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)}")
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    record = ApiKey(name=name, prefix=prefix, key_hash=hash_key(key), scopes=" ".join(scope_list))
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
    """The active key matching ``presented``, or ``None``."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    record = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if record is None or not record.active:
        return None
    if not hmac.compare_digest(record.key_hash, hash_key(presented)):
        return None
    return record


def require_scope(scope: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """View decorator: the request must carry an active key that has ``scope``."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            key = _authenticate()
            if scope not in key.scope_set:
                raise ApiError(
                    403,
                    "insufficient_scope",
                    f"This API key lacks the {scope!r} scope.",
                    headers={
                        "WWW-Authenticate": (
                            f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'
                        )
                    },
                )
            g.api_key = key
            return view(*args, **kwargs)

        return wrapper

    return decorator


def _authenticate() -> ApiKey:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if not header:
        raise ApiError(
            401,
            "unauthorized",
            "Send an API key: Authorization: Bearer <key>.",
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
        )
    key = find_key(get_session(), presented.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        raise ApiError(
            401,
            "invalid_token",
            "The API key is malformed, unknown or revoked.",
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}", error="invalid_token"'},
        )
    return key
