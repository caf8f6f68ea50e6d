"""`aitp user add | list`: the people who sign in to the trader API, on the running platform.

The first admin of a tenant comes from here (admins then add users through POST /v1/users).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from rich.table import Table

from adapters.postgres.identity import IdentityError, IdentityStore
from adapters.postgres.pool import create_pool
from api.security.passwords import MIN_LENGTH, hash_password
from cli.options import DataDirOption, load_settings
from cli.output import EXIT_BAD_INPUT, CliError, console
from config.settings import PostgresSettings, Settings
from embedded.endpoints import NotRunningError, postgres_url

app = typer.Typer(help="Users of the trader API.", no_args_is_help=True)

ROLES = ("viewer", "trader", "admin", "operator")
TIERS = ("free", "pro", "institutional")


def _url(settings: Settings) -> str:
    try:
        return postgres_url(settings)
    except NotRunningError as exc:
        raise CliError(str(exc)) from None


@app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="Sign-in email, e.g. ops@example.com.")],
    role: Annotated[
        str, typer.Option(help=f"One of {', '.join(ROLES)}.", show_default=True)
    ] = "trader",
    tenant: Annotated[
        str, typer.Option(help="Tenant slug; created if new.", show_default=True)
    ] = "default",
    tier: Annotated[
        str, typer.Option(help=f"Rate-limit tier of a new tenant: {', '.join(TIERS)}.")
    ] = "free",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Add a user who signs in with EMAIL and a password (asked for, never on the command line).

    Example: aitp user add desk@fund.example --role admin --tenant fund --tier pro
    """
    if role not in ROLES:
        raise CliError(f"--role {role!r}: use one of {', '.join(ROLES)}", EXIT_BAD_INPUT)
    if tier not in TIERS:
        raise CliError(f"--tier {tier!r}: use one of {', '.join(TIERS)}", EXIT_BAD_INPUT)
    if "@" not in email:
        raise CliError(f"{email!r} is not an email address", EXIT_BAD_INPUT)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_LENGTH:
        raise CliError(f"the password needs at least {MIN_LENGTH} characters", EXIT_BAD_INPUT)
    settings = load_settings(data_dir)
    user = asyncio.run(_add(_url(settings), email, hash_password(password), role, tenant, tier))
    console.print(f"added {user} ({role}) to tenant {tenant}; sign in with POST /auth/login")


async def _add(url: str, email: str, password_hash: str, role: str, tenant: str, tier: str) -> str:
    pool = await create_pool(url, PostgresSettings(), "cli")
    try:
        identity = IdentityStore(pool)
        await identity.ensure_tenant(tenant, tier=tier)
        try:
            user = await identity.create_user(tenant, email, password_hash, role)
        except IdentityError as exc:
            raise CliError(str(exc), EXIT_BAD_INPUT) from None
        return user.email
    finally:
        await pool.close()


@app.command("list")
def list_(
    tenant: Annotated[str, typer.Option(help="Tenant slug.")] = "default",
    data_dir: DataDirOption = None,
) -> None:
    """List a tenant's users."""
    settings = load_settings(data_dir)
    rows = asyncio.run(_list(_url(settings), tenant))
    table = Table(header_style="bold")
    for column in ("email", "role", "disabled"):
        table.add_column(column)
    for email, role, disabled in rows:
        table.add_row(email, role, "yes" if disabled else "")
    console.print(table)


async def _list(url: str, tenant: str) -> list[tuple[str, str, bool]]:
    pool = await create_pool(url, PostgresSettings(), "cli")
    try:
        identity = IdentityStore(pool)
        slugs = {r["slug"]: r["id"] for r in await identity.tenants()}
        if tenant not in slugs:
            raise CliError(f"no tenant {tenant!r}; tenants: {', '.join(sorted(slugs)) or 'none'}")
        tenant_id = slugs[tenant]
        return [(u.email, u.role, u.disabled) for u in await identity.users(tenant_id)]
    finally:
        await pool.close()
