"""How strong ``SECRET_KEY`` must be in production: 32 random bytes, never a placeholder.

The key signs session cookies and CSRF tokens: whoever guesses it forges both, offline.
"""

from __future__ import annotations

import math
import string

MAKE_A_KEY = 'python -c "import secrets; print(secrets.token_hex(32))"'
#: 32 random bytes: what ``secrets.token_hex(32)`` gives, beyond offline guessing.
MIN_KEY_BITS = 256
#: Values people paste from examples; never a production key, whatever their length.
PLACEHOLDER_KEYS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "dev",
        "development",
        "secret",
        "secret-key",
        "secret_key",
        "your-secret-key",
        "test",
        "testing",
        "default",
        "password",
    }
)


def key_bits(key: str) -> int:
    """A generous estimate of the randomness in ``key``, in bits: its length times the bits
    of the alphabet it draws from (hex digits: 4), and 0 for a key of fewer than 8 distinct
    characters (``aaaa...``) or a known placeholder."""
    if key.strip().lower() in PLACEHOLDER_KEYS or len(set(key)) < 8:
        return 0
    if all(c in string.hexdigits for c in key):
        return 4 * len(key)
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    alphabet = sum(len(c) for c in classes if any(ch in c for ch in key))
    if any(not ch.isalnum() for ch in key):
        alphabet += len(string.punctuation) + 1
    return int(len(key) * math.log2(alphabet))


def check_secret_key(key: str) -> None:
    """Refuse a production key that could be guessed, saying how to make a good one."""
    if key_bits(key) < MIN_KEY_BITS:
        raise RuntimeError(
            f"SECRET_KEY is too weak for production (about {key_bits(key)} bits of randomness; "
            f"it needs {MIN_KEY_BITS // 8} random bytes, and a placeholder such as 'changeme' "
            f"never does). Make one with: {MAKE_A_KEY}"
        )
