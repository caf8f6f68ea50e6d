"""Access tokens: short-lived JWTs signed with Ed25519 (EdDSA), verified without I/O.

Only EdDSA is accepted, so neither `alg: none` nor an HMAC signed with the public key can pass;
`exp`, `nbf`, `iat`, `iss`, `aud`, `sub` and `jti` are required. Keys live as PEM files in a
directory, named by their `kid`: the newest signs, every one present verifies. Rotating means
adding a key (`Keyring.rotate`) and, once the tokens it signed have expired, removing the old
one. Every process notices a change of the directory within a second, so rotation and
retirement need no restart.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "EdDSA"
_REQUIRED = ["exp", "nbf", "iat", "iss", "aud", "sub", "jti"]
_CHECK_EVERY_S = 1.0  # how often the directory's mtime is looked at
MAX_REMEMBERED = 100_000  # verified tokens kept (a few hundred bytes each)


class TokenError(Exception):
    """Why a token was refused; the message is safe to show the client."""


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant: str
    role: str
    tier: str
    token_id: str
    expires_at: int  # unix seconds


class Keyring:
    def __init__(self, directory: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self._clock = clock
        self._private: dict[str, Ed25519PrivateKey] = {}
        self._public: dict[str, Ed25519PublicKey] = {}
        self._checked_at = float("-inf")
        self._loaded_mtime = 0.0
        self._generation = 0  # bumped on every reload: what was verified before is re-checked

    @classmethod
    def open(cls, directory: Path) -> Keyring:
        """The keyring in `directory`, with a first key made if it has none."""
        ring = cls(directory)
        ring.reload()
        if not ring._private:
            ring.rotate()
        return ring

    def rotate(self) -> str:
        """Add a key that signs from now on; returns its kid."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        kid = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}"  # sorts by age
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = self.directory / f"{kid}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        self.reload()
        return kid

    def reload(self) -> None:
        private: dict[str, Ed25519PrivateKey] = {}
        for path in sorted(self.directory.glob("*.pem")) if self.directory.is_dir() else []:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if isinstance(key, Ed25519PrivateKey):
                private[path.stem] = key
        self._private = private
        self._public = {kid: key.public_key() for kid, key in private.items()}
        self._checked_at = self._clock()
        self._loaded_mtime = self._mtime()
        self._generation += 1

    def _mtime(self) -> float:
        try:
            return self.directory.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def _fresh(self) -> None:
        """Reload if a key was added or removed beside us (checked at most every second)."""
        now = self._clock()
        if now - self._checked_at < _CHECK_EVERY_S:
            return
        self._checked_at = now
        if self._mtime() != self._loaded_mtime:
            self.reload()

    @property
    def generation(self) -> int:
        """Changes whenever the keys do (noticed within a second, as for signing)."""
        self._fresh()
        return self._generation

    def signing(self) -> tuple[str, Ed25519PrivateKey]:
        self._fresh()
        if not self._private:
            raise TokenError("no signing key")
        kid = max(self._private)  # kids sort by creation time
        return kid, self._private[kid]

    def public(self, kid: str) -> Ed25519PublicKey | None:
        self._fresh()
        return self._public.get(kid)


class AccessTokens:
    def __init__(
        self,
        keyring: Keyring,
        issuer: str,
        audience: str,
        ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._audience = audience
        self._ttl_s = ttl_s
        self._clock = clock
        self._verified: dict[str, tuple[Claims, int]] = {}  # token -> claims, key-ring generation

    @property
    def ttl_s(self) -> int:
        return self._ttl_s

    def issue(
        self, *, user_id: uuid.UUID, tenant_id: uuid.UUID, tenant: str, role: str, tier: str
    ) -> str:
        now = int(self._clock())
        kid, key = self._keyring.signing()
        payload = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "tid": str(tenant_id),
            "ten": tenant,
            "role": role,
            "tier": tier,
            "iat": now,
            "nbf": now,
            "exp": now + self._ttl_s,
            "jti": secrets.token_urlsafe(12),
        }
        return jwt.encode(payload, key, algorithm=ALGORITHM, headers={"kid": kid})

    def verify(self, token: str) -> Claims:
        """The token's claims, or TokenError saying why not.

        A token verified before is answered from memory until it expires, unless the key
        ring changed since (a retired key's tokens fail at once): a client sends the same
        token with every request for its 15 minutes, and checking its signature each time
        cost most of a request's CPU. Revocation is checked per request elsewhere.
        """
        generation = self._keyring.generation
        known = self._verified.get(token)
        if known is not None:
            claims, verified_in = known
            if self._clock() >= claims.expires_at:
                del self._verified[token]
                raise TokenError("token expired")
            if verified_in == generation:
                return claims
            del self._verified[token]
        claims = self._verify(token)
        if len(self._verified) >= MAX_REMEMBERED:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[token] = (claims, generation)
        return claims

    def _verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenError("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise TokenError("token algorithm not accepted")
        kid = header.get("kid")
        key = self._keyring.public(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenError("token signed by an unknown key")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": _REQUIRED},
                leeway=0,
            )
            return Claims(
                user_id=uuid.UUID(payload["sub"]),
                tenant_id=uuid.UUID(payload["tid"]),
                tenant=str(payload["ten"]),
                role=str(payload["role"]),
                tier=str(payload["tier"]),
                token_id=str(payload["jti"]),
                expires_at=int(payload["exp"]),
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("token not yet valid") from None
        except jwt.InvalidAudienceError:
            raise TokenError("token meant for another audience") from None
        except jwt.InvalidIssuerError:
            raise TokenError("token from another issuer") from None
        except jwt.InvalidSignatureError:
            raise TokenError("token signature does not verify") from None
        except (jwt.InvalidTokenError, KeyError, ValueError):
            raise TokenError("invalid token") from None
