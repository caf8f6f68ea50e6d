"""Verified access tokens are remembered until they expire or the key ring changes."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from api.security import tokens as tokens_module
from api.security.tokens import AccessTokens, Keyring, TokenError


def issue(tokens: AccessTokens) -> str:
    return tokens.issue(
        user_id=uuid.uuid4(), tenant_id=uuid.uuid4(), tenant="t", role="viewer", tier="free"
    )


def test_a_remembered_token_still_expires(tmp_path: Path) -> None:
    now = [time.time()]
    tokens = AccessTokens(Keyring.open(tmp_path), "aitp", "aitp-api", 60, clock=lambda: now[0])
    token = issue(tokens)
    first = tokens.verify(token)
    assert tokens.verify(token) is first  # from memory, not verified again
    now[0] += 61
    with pytest.raises(TokenError, match="token expired"):
        tokens.verify(token)


def test_a_key_ring_change_re_verifies_what_was_remembered(tmp_path: Path) -> None:
    ring = Keyring.open(tmp_path)
    tokens = AccessTokens(ring, "aitp", "aitp-api", 60)
    token = issue(tokens)
    first = tokens.verify(token)
    ring.rotate()  # the old key stays: its tokens verify again, afresh
    again = tokens.verify(token)
    assert again == first
    assert again is not first
    for pem in tmp_path.glob("*.pem"):
        if pem.stem != max(p.stem for p in tmp_path.glob("*.pem")):
            pem.unlink()
    ring.reload()
    with pytest.raises(TokenError, match="unknown key"):
        tokens.verify(token)


def test_memory_is_bounded_and_forgets_the_oldest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens_module, "MAX_REMEMBERED", 2)
    tokens = AccessTokens(Keyring.open(tmp_path), "aitp", "aitp-api", 60)
    a, b, c = issue(tokens), issue(tokens), issue(tokens)
    remembered = {t: tokens.verify(t) for t in (a, b, c)}
    assert tokens.verify(c) is remembered[c]
    assert tokens.verify(b) is remembered[b]
    assert tokens.verify(a) is not remembered[a]  # forgotten, verified again
