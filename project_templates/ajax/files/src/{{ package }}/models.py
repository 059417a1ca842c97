"""Database tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base

TITLE_MAX_LENGTH = 200


def _now() -> datetime:
    return datetime.now(UTC)


class Todo(Base):
    """One item of the to-do list."""

    __tablename__ = "todos"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX_LENGTH))
    done: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "done": self.done}
