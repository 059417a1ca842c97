"""Users: the owners of API keys and notes. Operators make them with ``flask users create``.

An address is stored lower-cased and stripped, so ``Ada@Example.com`` and ``ada@example.com``
are one user (strictly, the part before ``@`` may be case-sensitive; no mail provider in use
treats it so, and two accounts differing only in case are a support problem, not a feature).
"""

from __future__ import annotations

import re

from sqlalchemy import exc, select
from sqlalchemy.orm import Session

from .models import EMAIL_MAX, User

# Deliberately loose: one @, something on each side, a dot in the domain, no spaces. Whether
# the address receives mail is for a confirmation mail to find out, not a regular expression.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class UserError(ValueError):
    """Bad input for a user: the message says what is wrong and what to do."""


def normalize_email(email: str) -> str:
    """The stored form of ``email``, or :class:`UserError` when it is not an address."""
    normalized = email.strip().lower()
    if not EMAIL.fullmatch(normalized):
        raise UserError(f"{email!r} is not an email address (expected name@example.com).")
    if len(normalized) > EMAIL_MAX:
        raise UserError(f"The email address is longer than {EMAIL_MAX} characters.")
    return normalized


def find_user(session: Session, email: str) -> User | None:
    """The user stored under ``email`` (any case). No format check: a user that exists can be
    found, e.g. the owner a migration gave the keys made before users existed."""
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def create_user(session: Session, email: str, *, is_admin: bool = False) -> User:
    """Store a new user; :class:`UserError` if the address is taken (nothing is written)."""
    normalized = normalize_email(email)
    if find_user(session, normalized) is not None:
        raise UserError(f"A user with the email {normalized} already exists.")
    user = User(email=normalized, is_admin=is_admin)
    try:
        # A savepoint: a concurrent insert of the same address fails only this statement.
        with session.begin_nested():
            session.add(user)
    except exc.IntegrityError:
        raise UserError(f"A user with the email {normalized} already exists.") from None
    return user
