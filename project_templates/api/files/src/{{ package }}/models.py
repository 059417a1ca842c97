"""Database models: users, the API keys they own, and their notes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base

TITLE_MAX = 200
BODY_MAX = 10_000
#: RFC 5321's limit for an address in a mail path.
EMAIL_MAX = 254


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; SQLite hands back naive ones, which we stored as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def isoformat(value: datetime) -> str:
    """ISO 8601 in UTC, with a ``Z``."""
    return as_utc(value).isoformat().replace("+00:00", "Z")


class User(Base):
    """Someone who owns API keys and notes. Made by operators with ``flask users create``."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-cased (see users.normalize_email), so one address is one user.
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    #: Only an admin's key may carry the ``admin`` scope (which reaches every user's notes).
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Note(Base):
    """The API's resource: a short note that can be pinned."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The user whose key created the note; only their keys (and admin keys) reach it.
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    body: Mapped[str] = mapped_column(Text, default="")
    pinned: Mapped[bool] = mapped_column(default=False, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "body": self.body,
            "pinned": self.pinned,
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
        }


class ApiKey(Base):
    """A user's API key. Only the SHA-256 of the key is stored; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    #: The public part of the key (``<prefix>`` in ``wk_<prefix>_<secret>``), used to find it.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    #: Space-separated, like OAuth scopes: "read write".
    scopes: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    #: ``None``: the key never expires.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    #: Accurate to a minute: auth.record_use writes it at most once a minute per key.
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    # lazy="joined": the owner comes with the key in the one query that authenticates.
    user: Mapped[User] = relationship(lazy="joined")

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and as_utc(self.expires_at) <= now
