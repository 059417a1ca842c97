"""Password hashing (argon2id, through argon2-cffi) and the password rules.

A hash records its own parameters: when ``PasswordHasher``'s defaults grow stronger (a
newer argon2-cffi, or the parameters below), each user's hash is upgraded the next time
they log in (``needs_rehash``). Passwords are never logged or stored in clear.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 12
# Argon2 hashes any length; the cap keeps a megabyte "password" from costing CPU time.
MAX_LENGTH = 128

_default_hasher = PasswordHasher()


def hasher() -> PasswordHasher:
    """The app's hasher: ``PASSWORD_HASHER`` in the config (the tests use a cheap one), or
    argon2-cffi's defaults (RFC 9106's low-memory profile)."""
    configured = current_app.config.get("PASSWORD_HASHER")
    return configured if isinstance(configured, PasswordHasher) else _default_hasher


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches; never raises for a wrong password or a broken hash."""
    try:
        return hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return hasher().check_needs_rehash(password_hash)


@cache
def _dummy_hash() -> str:
    return hash_password("a password nobody has")


def waste_time(password: str) -> None:
    """Verify against a throwaway hash, so an unknown e-mail takes as long as a wrong
    password and the timing does not tell which addresses have an account."""
    verify_password(_dummy_hash(), password)


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of the most common passwords long enough to pass the length rule."""
    text = files(__package__).joinpath("common_passwords.txt").read_text(encoding="utf-8")
    lines = (line.strip().lower() for line in text.splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def password_problem(password: str) -> str | None:
    """What is wrong with ``password`` as a new password, or None when it is fine."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters (a few words make a good one)."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if password.strip().lower() in common_passwords() or len(set(password)) < 4:
        return "This password is one of the most common ones. Choose another."
    return None
