"""Giving everything one user owns to another (``flask users transfer FROM TO``).

Every column with a foreign key to ``users.id`` marks data that belongs to someone: to-dos,
notes, API keys, the records of the resources ``webkit generate`` adds. The usual ``FROM`` is
an account a migration made for rows older than accounts (``legacy-*@invalid``).
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, update
from sqlalchemy.orm import Session


def owner_columns(metadata: MetaData) -> list[Column[int]]:
    """The columns that point at ``users.id``, table by table."""
    return [
        column
        for table in metadata.sorted_tables
        for column in table.columns
        if any(key.target_fullname == "users.id" for key in column.foreign_keys)
    ]


def transfer(session: Session, metadata: MetaData, from_id: int, to_id: int) -> dict[str, int]:
    """Point every row owned by ``from_id`` at ``to_id``; ``{"table.column": rows}`` moved.
    The caller commits (all of it or, on an error, none)."""
    moved: dict[str, int] = {}
    for column in owner_columns(metadata):
        statement = update(column.table).where(column == from_id).values({column.name: to_id})
        count = session.execute(statement).rowcount
        if count:
            moved[f"{column.table.name}.{column.name}"] = count
    return moved


def describe(moved: dict[str, int]) -> str:
    """``2 rows of todos.user_id`` ..., or that there was nothing to move."""
    if not moved:
        return "nothing to move"
    return ", ".join(
        f"{count} row{'s' if count != 1 else ''} of {name}" for name, count in moved.items()
    )
