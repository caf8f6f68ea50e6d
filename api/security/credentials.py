"""Opaque secrets handed to clients (refresh tokens, API keys) and their digests at rest.

Both carry 256 random bits, so SHA-256 suffices to keep them unusable from a database dump;
argon2 would only slow every API-key request down.
"""

from __future__ import annotations

import hashlib
import secrets

KEY_MARK = "aitp_"  # an API key is `aitp_<prefix>_<secret>`; a JWT never starts so


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """(the key, shown once; its prefix, which names it in lists)."""
    prefix = secrets.token_hex(4)
    return f"{KEY_MARK}{prefix}_{secrets.token_urlsafe(32)}", prefix


def is_api_key(credential: str) -> bool:
    return credential.startswith(KEY_MARK)
