"""Forged, altered and stale tokens, each refused with a 401 and a reason.

Each forgery starts from a valid token's claims so that exactly one thing is wrong with it."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.app import create_app
from api.security.tokens import Keyring
from tests.api.conftest import People, bearer, login, serve, settings_for
from tests.conftest import RunningPlatform


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}.{signature}"


class Forge:
    def __init__(self, token: str, keys_dir: Path) -> None:
        self.token = token
        self.header = jwt.get_unverified_header(token)
        self.claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        self.ring = Keyring(keys_dir)
        self.ring.reload()
        self.kid, self.key = self.ring.signing()

    def sign(
        self, key: Any = None, alg: str = "EdDSA", kid: str | None = "", **changes: Any
    ) -> str:
        claims = {**self.claims, **changes}
        claims = {k: v for k, v in claims.items() if v is not None}
        headers = {} if kid is None else {"kid": kid or self.kid}
        return jwt.encode(claims, key or self.key, algorithm=alg, headers=headers)


def _public_pem(forge: Forge) -> bytes:
    return forge.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _hs256_with_public_key(forge: Forge) -> str:
    """The classic key confusion: HMAC keyed with the server's public key."""
    header = {"alg": "HS256", "typ": "JWT", "kid": forge.kid}
    signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(forge.claims))}"
    import hashlib
    import hmac

    mac = hmac.new(_public_pem(forge), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _tampered(forge: Forge) -> str:
    head, _, signature = forge.token.split(".")
    claims = {**forge.claims, "role": "admin"}
    return f"{head}.{_b64(orjson.dumps(claims))}.{signature}"


def _rs256(forge: Forge) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return forge.sign(key=other, alg="RS256")


now = int(time.time())

ATTACKS: dict[str, tuple[Callable[[Forge], str], str]] = {
    "alg none": (
        lambda f: _unsigned({"alg": "none", "typ": "JWT", "kid": f.kid}, f.claims),
        "token algorithm not accepted",
    ),
    "alg None with a signature kept": (
        lambda f: _unsigned({"alg": "None", "kid": f.kid}, f.claims, f.token.split(".")[2]),
        "token algorithm not accepted",
    ),
    "HS256 keyed with the public key": (_hs256_with_public_key, "token algorithm not accepted"),
    "RS256 with an attacker's key": (_rs256, "token algorithm not accepted"),
    "expired": (lambda f: f.sign(exp=now - 10, iat=now - 1000, nbf=now - 1000), "token expired"),
    "not yet valid": (lambda f: f.sign(nbf=now + 3600), "token not yet valid"),
    "wrong issuer": (lambda f: f.sign(iss="someone-else"), "token from another issuer"),
    "wrong audience": (
        lambda f: f.sign(aud="another-api"),
        "token meant for another audience",
    ),
    "payload tampered after signing": (_tampered, "token signature does not verify"),
    "unknown kid": (
        lambda f: f.sign(kid="20990101T000000000000-abcdef"),
        "token signed by an unknown key",
    ),
    "no kid": (lambda f: f.sign(kid=None), "token signed by an unknown key"),
    "our kid, an attacker's Ed25519 key": (
        lambda f: f.sign(key=Ed25519PrivateKey.generate()),
        "token signature does not verify",
    ),
    "no exp": (lambda f: f.sign(exp=None), "invalid token"),
    "no audience": (lambda f: f.sign(aud=None), "invalid token"),
    "signature stripped": (
        lambda f: f.token.rsplit(".", 1)[0] + ".",
        "token signature does not verify",
    ),
    "not a JWT at all": (lambda f: "definitely-not-a-token", "malformed token"),
}


@pytest.fixture(scope="module")
async def forge(app_client: httpx.AsyncClient, people: People, keys_dir: Path) -> Forge:
    pair = await login(app_client, people["a", "viewer"])
    return Forge(pair["access_token"], keys_dir)


async def test_the_unaltered_token_is_accepted(app_client: httpx.AsyncClient, forge: Forge) -> None:
    """The control: every attack below changes one thing about this token."""
    assert (await app_client.get("/v1/me", headers=bearer(forge.token))).status_code == 200
    assert (await app_client.get("/v1/me", headers=bearer(forge.sign()))).status_code == 200


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_a_forged_token_is_refused(
    app_client: httpx.AsyncClient, forge: Forge, attack: str
) -> None:
    make, reason = ATTACKS[attack]
    response = await app_client.get("/v1/me", headers=bearer(make(forge)))
    assert response.status_code == 401
    assert response.json()["detail"] == reason
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_a_token_in_the_query_string_is_ignored(
    app_client: httpx.AsyncClient, forge: Forge
) -> None:
    response = await app_client.get("/v1/me", params={"access_token": forge.token})
    assert response.status_code == 401


async def test_keys_rotate_and_retire_without_a_restart(
    platform: RunningPlatform, people: People, tmp_path: Path
) -> None:
    app = create_app(settings_for(platform, jwt_keys_dir=tmp_path))
    async for client in serve(app):
        before = (await login(client, people["b", "viewer"]))["access_token"]
        old_kid = jwt.get_unverified_header(before)["kid"]
        new_kid = Keyring.open(tmp_path).rotate()  # as another process (or ops) would
        await asyncio.sleep(1.1)  # every process looks at the directory at most once a second
        after = (await login(client, people["b", "viewer"]))["access_token"]
        assert jwt.get_unverified_header(after)["kid"] == new_kid
        # tokens of the old key work until it is retired
        assert (await client.get("/v1/me", headers=bearer(before))).status_code == 200

        (tmp_path / f"{old_kid}.pem").unlink()
        await asyncio.sleep(1.1)
        retired = await client.get("/v1/me", headers=bearer(before))
        assert retired.status_code == 401
        assert retired.json()["detail"] == "token signed by an unknown key"
        assert (await client.get("/v1/me", headers=bearer(after))).status_code == 200
