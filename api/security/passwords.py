"""Passwords as argon2id hashes (RFC 9106's low-memory profile, the library's default).

Hashing costs about 0.1 s of one core on purpose; callers run it in a thread so the event
loop keeps serving while a login is checked.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

# Checked against when the email is unknown, so a wrong email takes as long as a wrong password
# and the response time does not tell which accounts exist.
_DECOY = _hasher.hash("decoy password that matches nothing")

MIN_LENGTH = 10


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DECOY, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(password_hash)
