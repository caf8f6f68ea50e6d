"""Sign-in, refresh rotation with reuse detection, sign-out, API keys and roles, through the
API on the real stores."""

from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import PASSWORD, People, bearer, login


async def test_login_gives_a_token_that_says_who_you_are(
    app_client: httpx.AsyncClient, people: People
) -> None:
    trader = people["a", "trader"]
    pair = await login(app_client, trader)
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 900
    me = await app_client.get("/v1/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.json() == {
        "user_id": str(trader.user_id),
        "tenant": trader.tenant,
        "role": "trader",
        "tier": "pro",
        "permissions": ["read", "trade"],
        "api_key_id": None,
    }


@pytest.mark.parametrize(
    ("email", "password"),
    [("trader@nowhere.test", PASSWORD), (None, "wrong password!")],
    ids=["unknown email", "wrong password"],
)
async def test_a_failed_login_does_not_say_which_part_was_wrong(
    app_client: httpx.AsyncClient, people: People, email: str | None, password: str
) -> None:
    body = {"email": email or people["a", "trader"].email, "password": password}
    response = await app_client.post("/auth/login", json=body)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "email or password is wrong"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_no_credentials_is_a_401_that_says_how_to_authenticate(
    app_client: httpx.AsyncClient,
) -> None:
    response = await app_client.get("/v1/me")
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["detail"]


async def test_refresh_rotates_and_a_reused_token_revokes_the_whole_sign_in(
    app_client: httpx.AsyncClient, people: People
) -> None:
    first = await login(app_client, people["a", "viewer"])
    second = await app_client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert (await app_client.get("/v1/me", headers=bearer(rotated["access_token"]))).is_success

    # the spent token again: someone else holds it, so the family goes
    reuse = await app_client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert "already used" in reuse.json()["detail"]
    successor = await app_client.post(
        "/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert successor.status_code == 401
    assert "revoked" in successor.json()["detail"]

    # another sign-in of the same user is a different family and still works
    other = await login(app_client, people["a", "viewer"])
    again = await app_client.post("/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert again.status_code == 200


async def test_logout_stops_the_access_token_and_the_refresh_token(
    app_client: httpx.AsyncClient, people: People
) -> None:
    pair = await login(app_client, people["b", "trader"])
    headers = bearer(pair["access_token"])
    out = await app_client.post(
        "/auth/logout", json={"refresh_token": pair["refresh_token"]}, headers=headers
    )
    assert out.status_code == 204
    assert out.content == b""
    assert "RateLimit-Remaining" in out.headers  # counted like every other request
    after = await app_client.get("/v1/me", headers=headers)
    assert after.status_code == 401
    assert after.json()["detail"] == "token revoked"
    refresh = await app_client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refresh.status_code == 401


async def test_an_api_key_is_shown_once_scoped_and_revocable(
    app_client: httpx.AsyncClient, people: People, tokens: dict[tuple[str, str], str]
) -> None:
    admin = bearer(tokens["a", "admin"])
    created = await app_client.post(
        "/v1/api-keys", json={"name": "reporting", "scopes": ["read"]}, headers=admin
    )
    assert created.status_code == 201
    body = created.json()
    key = body["key"]
    assert key.startswith(f"aitp_{body['prefix']}_")
    listed = (await app_client.get("/v1/api-keys", headers=admin)).json()
    mine = next(k for k in listed if k["id"] == body["id"])
    assert "key" not in mine
    assert key not in str(listed)

    program = bearer(key)
    me = (await app_client.get("/v1/me", headers=program)).json()
    assert (me["role"], me["permissions"], me["api_key_id"]) == ("admin", ["read"], body["id"])
    # the admin's read-only key cannot do what its owner may
    assert (await app_client.get("/v1/users", headers=program)).status_code == 403
    # a key cannot mint keys
    minted = await app_client.post(
        "/v1/api-keys", json={"name": "more", "scopes": ["read"]}, headers=program
    )
    assert minted.status_code == 403

    deleted = await app_client.delete(f"/v1/api-keys/{body['id']}", headers=admin)
    assert deleted.status_code == 204
    assert "RateLimit-Remaining" in deleted.headers
    revoked = await app_client.get("/v1/me", headers=program)
    assert revoked.status_code == 401
    assert revoked.json()["detail"] == "unknown or revoked API key"
    again = await app_client.delete(f"/v1/api-keys/{body['id']}", headers=admin)
    assert again.status_code == 404


async def test_a_viewer_cannot_grant_a_key_more_than_its_role(
    app_client: httpx.AsyncClient, tokens: dict[tuple[str, str], str]
) -> None:
    response = await app_client.post(
        "/v1/api-keys",
        json={"name": "sneaky", "scopes": ["trade"]},
        headers=bearer(tokens["a", "viewer"]),
    )
    assert response.status_code == 403
    assert "cannot grant 'trade'" in response.json()["detail"]


async def test_another_tenants_key_cannot_be_revoked_and_is_not_found(
    app_client: httpx.AsyncClient, tokens: dict[tuple[str, str], str]
) -> None:
    created = await app_client.post(
        "/v1/api-keys",
        json={"name": "bot", "scopes": ["trade"]},
        headers=bearer(tokens["a", "trader"]),
    )
    key_id = created.json()["id"]
    response = await app_client.delete(
        f"/v1/api-keys/{key_id}", headers=bearer(tokens["b", "admin"])
    )
    assert response.status_code == 404
    still = await app_client.get("/v1/me", headers=bearer(created.json()["key"]))
    assert still.status_code == 200


async def test_admins_add_users_of_their_tenant_and_operators_open_tenants(
    app_client: httpx.AsyncClient, people: People, tokens: dict[tuple[str, str], str]
) -> None:
    admin = bearer(tokens["a", "admin"])
    email = f"new-trader@{people['a', 'admin'].tenant}.test"
    added = await app_client.post(
        "/v1/users", json={"email": email, "password": PASSWORD, "role": "trader"}, headers=admin
    )
    assert added.status_code == 201
    assert added.json()["role"] == "trader"
    pair = await app_client.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert pair.status_code == 200
    me = (await app_client.get("/v1/me", headers=bearer(pair.json()["access_token"]))).json()
    assert me["tenant"] == people["a", "admin"].tenant

    twice = await app_client.post(
        "/v1/users", json={"email": email, "password": PASSWORD, "role": "trader"}, headers=admin
    )
    assert twice.status_code == 409
    # an admin cannot make an operator, and a trader cannot add users at all
    operator = await app_client.post(
        "/v1/users",
        json={
            "email": f"x@{people['a', 'admin'].tenant}.test",
            "password": PASSWORD,
            "role": "operator",
        },
        headers=admin,
    )
    assert operator.status_code == 422
    assert operator.json()["errors"][0]["field"] == "role"
    by_trader = await app_client.get("/v1/users", headers=bearer(tokens["a", "trader"]))
    assert by_trader.status_code == 403

    ops = bearer(tokens["ops", "operator"])
    slug = f"fund-{people.operator.tenant}"
    opened = await app_client.post(
        "/v1/tenants", json={"slug": slug, "name": "A fund", "tier": "institutional"}, headers=ops
    )
    assert opened.status_code == 201
    assert slug in {t["slug"] for t in (await app_client.get("/v1/tenants", headers=ops)).json()}
    duplicate = await app_client.post(
        "/v1/tenants", json={"slug": slug, "name": "Again"}, headers=ops
    )
    assert duplicate.status_code == 409
    assert (await app_client.get("/v1/tenants", headers=admin)).status_code == 403


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/users", {"tenant_id": "00000000-0000-0000-0000-000000000000"}, "tenant_id"),
        ("/v1/users", {"disabled": False}, "disabled"),
        ("/v1/api-keys", {"owner": "00000000-0000-0000-0000-000000000000"}, "owner"),
        ("/v1/api-keys", {"role": "admin"}, "role"),
        ("/v1/tenants", {"id": "00000000-0000-0000-0000-000000000000"}, "id"),
    ],
)
async def test_fields_a_caller_may_not_set_are_refused_by_name(
    app_client: httpx.AsyncClient,
    people: People,
    tokens: dict[tuple[str, str], str],
    path: str,
    body: dict[str, object],
    field: str,
) -> None:
    valid: dict[str, dict[str, object]] = {
        "/v1/users": {"email": "m@a.test", "password": PASSWORD, "role": "viewer"},
        "/v1/api-keys": {"name": "k", "scopes": ["read"]},
        "/v1/tenants": {"slug": "massive", "name": "M"},
    }
    who = tokens["ops", "operator"] if path == "/v1/tenants" else tokens["a", "admin"]
    response = await app_client.post(path, json={**valid[path], **body}, headers=bearer(who))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
