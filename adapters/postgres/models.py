"""The model registry in PostgreSQL.

A change of champion is one transaction: the old champion retired, the new one crowned (a
partial unique index allows one per model), the change recorded, and `pg_notify` on
`model_champion` with the model's name, so running decision workers load it at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from adapters.postgres.notifications import Listener
from domain.clock import moment_of, ns_of
from domain.ports import Challenge, ModelVersion, RegistryError

CHAMPION_CHANNEL = "model_champion"

_COLUMNS = """name, version, symbol, timeframe, kinds, features_hash, label, data_from, data_to,
    metrics, status, artifact, trained_by, created_at"""


def _version(row: asyncpg.Record) -> ModelVersion:
    return ModelVersion(
        name=row["name"],
        version=row["version"],
        symbol=row["symbol"],
        timeframe=row["timeframe"],
        kinds=tuple(row["kinds"]),
        features_hash=row["features_hash"],
        label=row["label"],
        data_from_ns=ns_of(row["data_from"]),
        data_to_ns=ns_of(row["data_to"]),
        artifact=row["artifact"],
        metrics=dict(row["metrics"]),
        status=row["status"],
        trained_by=row["trained_by"],
        created_ns=ns_of(row["created_at"]),
    )


@asynccontextmanager
async def champion_changes(
    pool: asyncpg.Pool, on_change: Callable[[str | None], None]
) -> AsyncIterator[None]:
    """Calls `on_change(model name)` for every change of champion while inside, and
    `on_change(None)` whenever changes may have gone unheard (the listening connection was
    lost); holds one of the pool's connections for the listening."""
    listener = Listener(pool, CHAMPION_CHANNEL, on_change, lambda: on_change(None))
    listener.start()
    try:
        await listener.wait_listening()
        yield
    finally:
        await listener.stop()


class PostgresModelRegistry:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def register(self, model: ModelVersion) -> ModelVersion:
        async with self._pool.acquire() as conn, conn.transaction():
            # one registration at a time per model name, so versions never collide
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", model.name)
            if model.trained_by:
                found = await conn.fetchrow(
                    f"SELECT {_COLUMNS} FROM model_versions WHERE name = $1 AND trained_by = $2",
                    model.name,
                    model.trained_by,
                )
                if found is not None:
                    return _version(found)
            row = await conn.fetchrow(
                f"""INSERT INTO model_versions (name, version, symbol, timeframe, kinds,
                        features_hash, label, data_from, data_to, metrics, artifact, trained_by)
                    SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9,
                        $10, $11
                    FROM model_versions WHERE name = $1
                    RETURNING {_COLUMNS}""",
                model.name,
                model.symbol,
                model.timeframe,
                list(model.kinds),
                model.features_hash,
                model.label,
                moment_of(model.data_from_ns),
                moment_of(model.data_to_ns),
                dict(model.metrics),
                model.artifact,
                model.trained_by,
            )
            return _version(row)

    async def get(self, name: str, version: int) -> ModelVersion | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM model_versions WHERE name = $1 AND version = $2",
            name,
            version,
        )
        return None if row is None else _version(row)

    async def versions(self, name: str | None = None) -> list[ModelVersion]:
        rows = await self._pool.fetch(
            f"""SELECT {_COLUMNS} FROM model_versions WHERE $1::text IS NULL OR name = $1
                ORDER BY name, version DESC""",
            name,
        )
        return [_version(r) for r in rows]

    async def champion(self, name: str) -> ModelVersion | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM model_versions WHERE name = $1 AND status = 'champion'",
            name,
        )
        return None if row is None else _version(row)

    async def promote(self, name: str, version: int, reason: str = "") -> ModelVersion | None:
        async with self._pool.acquire() as conn, conn.transaction():
            target = await self._locked(conn, name, version)
            if target["status"] == "champion":
                raise RegistryError(f"{name} v{version} is the champion already")
            previous = await self._crown(conn, name, version)
            await self._record(conn, name, version, previous, "promote", reason)
        return previous

    async def rollback(self, name: str, reason: str = "") -> ModelVersion:
        """Back to the champion that the current one replaced when it was promoted; again,
        to the one before that."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", name)
            current = await conn.fetchrow(
                "SELECT version FROM model_versions WHERE name = $1 AND status = 'champion'",
                name,
            )
            if current is None:
                raise RegistryError(f"{name} has no champion to roll back")
            before = await conn.fetchval(
                """SELECT previous FROM model_promotions
                   WHERE name = $1 AND version = $2 AND action = 'promote'
                     AND previous IS NOT NULL
                   ORDER BY id DESC LIMIT 1""",
                name,
                current["version"],
            )
            if before is None:
                raise RegistryError(
                    f"{name} v{current['version']} replaced no earlier champion: nothing to "
                    "roll back to (promote a version instead)"
                )
            await self._crown(conn, name, before)
            await self._record(conn, name, before, current["version"], "rollback", reason)
            restored = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM model_versions WHERE name = $1 AND version = $2",
                name,
                before,
            )
        return _version(restored)

    async def record_challenge(self, challenge: Challenge) -> None:
        await self._pool.execute(
            """INSERT INTO model_challenges (name, challenger, champion, metric,
                   challenger_value, champion_value, promoted, reason)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            challenge.name,
            challenge.challenger,
            challenge.champion,
            challenge.metric,
            challenge.challenger_value,
            challenge.champion_value,
            challenge.promoted,
            challenge.reason,
        )

    async def challenges(self, name: str) -> list[Challenge]:
        rows = await self._pool.fetch(
            """SELECT name, challenger, champion, metric, challenger_value, champion_value,
                      promoted, reason
               FROM model_challenges WHERE name = $1 ORDER BY id""",
            name,
        )
        return [Challenge(**dict(r)) for r in rows]

    async def _locked(self, conn: Any, name: str, version: int) -> asyncpg.Record:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", name)
        row = await conn.fetchrow(
            "SELECT status FROM model_versions WHERE name = $1 AND version = $2", name, version
        )
        if row is None:
            raise RegistryError(f"{name} has no version {version}")
        return row

    async def _crown(self, conn: Any, name: str, version: int) -> ModelVersion | None:
        previous = await conn.fetchrow(
            f"""UPDATE model_versions SET status = 'retired'
                WHERE name = $1 AND status = 'champion' RETURNING {_COLUMNS}""",
            name,
        )
        await conn.execute(
            "UPDATE model_versions SET status = 'champion' WHERE name = $1 AND version = $2",
            name,
            version,
        )
        return None if previous is None else _version(previous)

    async def _record(
        self,
        conn: Any,
        name: str,
        version: int,
        previous: ModelVersion | int | None,
        action: str,
        reason: str,
    ) -> None:
        before = previous.version if isinstance(previous, ModelVersion) else previous
        await conn.execute(
            """INSERT INTO model_promotions (name, version, previous, action, reason)
               VALUES ($1, $2, $3, $4, $5)""",
            name,
            version,
            before,
            action,
            reason,
        )
        await conn.execute("SELECT pg_notify($1, $2)", CHAMPION_CHANNEL, name)
