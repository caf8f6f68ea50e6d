"""`aitp user add | list` on the running platform, and the user it adds signs in to the API."""

from __future__ import annotations

import subprocess
import uuid

from api.app import create_app
from tests.api.conftest import serve, settings_for
from tests.conftest import RunningPlatform


def run(
    aitp: list[str], platform: RunningPlatform, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*aitp, *args],
        input=stdin,
        env=platform.cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_an_added_user_signs_in(aitp: list[str], platform: RunningPlatform) -> None:
    tenant = f"cli-{uuid.uuid4().hex[:8]}"
    email = f"desk@{tenant}.test"
    added = run(
        aitp,
        platform,
        "user",
        "add",
        email,
        "--role",
        "admin",
        "--tenant",
        tenant,
        "--tier",
        "pro",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert added.returncode == 0, added.stderr
    assert f"added {email} (admin) to tenant {tenant}" in added.stdout

    listed = run(aitp, platform, "user", "list", "--tenant", tenant)
    assert email in listed.stdout

    async for client in serve(create_app(settings_for(platform))):
        pair = await client.post(
            "/auth/login", json={"email": email, "password": "a long enough password"}
        )
        assert pair.status_code == 200
        me = await client.get(
            "/v1/me", headers={"Authorization": f"Bearer {pair.json()['access_token']}"}
        )
        assert (me.json()["tenant"], me.json()["role"], me.json()["tier"]) == (
            tenant,
            "admin",
            "pro",
        )

    again = run(
        aitp, platform, "user", "add", email, "--password-stdin", stdin="another password!\n"
    )
    assert again.returncode == 2
    assert "exists already" in again.stderr


def test_bad_input_says_how_to_fix_it(aitp: list[str], platform: RunningPlatform) -> None:
    role = run(
        aitp,
        platform,
        "user",
        "add",
        "x@y.test",
        "--role",
        "boss",
        "--password-stdin",
        stdin="long password 1\n",
    )
    assert role.returncode == 2
    assert "use one of viewer, trader, admin, operator" in role.stderr
    short = run(aitp, platform, "user", "add", "x@y.test", "--password-stdin", stdin="short\n")
    assert short.returncode == 2
    assert "at least 10 characters" in short.stderr
    missing = run(aitp, platform, "user", "list", "--tenant", "no-such-tenant")
    assert missing.returncode == 1
    assert "no tenant 'no-such-tenant'" in missing.stderr
    assert "Traceback" not in missing.stderr
