"""Database tables."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base

TITLE_MAX_LENGTH = 200


def _now() -> datetime:
    return datetime.now(UTC)


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class User(UserMixin, Base):
    """An account. ``session_token`` is part of every session and remember-me cookie that
    logs the user in; replacing it (log out, password reset) ends all of them at once."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-case (auth.normalise_email), so Ada@Example.com and ada@example.com are one.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session: the id and the current session token."""
        return f"{self.id}:{self.session_token}"


class Todo(Base):
    """One item of the to-do list."""

    __tablename__ = "todos"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Every query filters on the owner: one user never sees or changes another's items.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    done: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "done": self.done}
