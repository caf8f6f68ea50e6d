"""The books as one tenant sees them: every query here is scoped by the tenant given at
construction, so no route can forget the filter, and another tenant's row reads as absent.

Lists are keyset-paginated, newest first: `after` is the (time, id) of the last row of the
previous page, which stays correct while rows are being added, unlike an offset.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

Keyset = tuple[datetime, uuid.UUID]


class IdempotencyConflictError(ValueError):
    """The key was used before for a different request."""


@dataclass(frozen=True, slots=True)
class Claim:
    client_order_id: str
    replayed: bool  # the key was seen before with this very request


_ORDER = """SELECT o.id, a.code AS account, o.client_order_id, o.symbol, o.side, o.order_type,
                   o.time_in_force, o.volume, o.filled_volume, o.price, o.stop_price, o.state,
                   o.strategy, o.broker_order_id, o.created_at, o.updated_at
            FROM orders o JOIN accounts a ON a.id = o.account_id"""
_FILL = """SELECT f.id, a.code AS account, f.client_order_id, f.broker_fill_id, f.symbol, f.side,
                  f.volume, f.price, f.commission, f.swap, f.profit, f.source, f.repaired,
                  f.ts_event
           FROM fills f JOIN accounts a ON a.id = f.account_id"""


class TenantBooks:
    def __init__(self, pool: asyncpg.Pool, tenant_id: uuid.UUID) -> None:
        self._pool = pool
        self._tenant = tenant_id

    async def accounts(self) -> list[asyncpg.Record]:
        return list(
            await self._pool.fetch(
                """SELECT id, code, name, broker, currency, leverage, hedging, created_at
                   FROM accounts WHERE tenant_id = $1 ORDER BY code""",
                self._tenant,
            )
        )

    async def account(self, code: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._pool.fetchrow(
            """SELECT id, code, name, broker, currency, leverage, hedging, created_at
               FROM accounts WHERE tenant_id = $1 AND code = $2""",
            self._tenant,
            code,
        )
        return row

    async def positions(self, account: str | None = None) -> list[asyncpg.Record]:
        return list(
            await self._pool.fetch(
                """SELECT a.code AS account, p.symbol, p.position_id, p.volume, p.avg_price,
                          p.commission, p.swap, p.updated_at
                   FROM positions p JOIN accounts a ON a.id = p.account_id
                   WHERE p.tenant_id = $1 AND ($2::text IS NULL OR a.code = $2)
                     AND p.volume <> 0
                   ORDER BY a.code, p.symbol, p.position_id""",
                self._tenant,
                account,
            )
        )

    async def orders(
        self,
        limit: int,
        after: Keyset | None = None,
        account: str | None = None,
        state: str | None = None,
        symbol: str | None = None,
    ) -> list[asyncpg.Record]:
        at, last = after or (None, None)
        return list(
            await self._pool.fetch(
                f"""{_ORDER}
                    WHERE o.tenant_id = $1
                      AND ($2::timestamptz IS NULL OR (o.created_at, o.id) < ($2, $3::uuid))
                      AND ($4::text IS NULL OR a.code = $4)
                      AND ($5::text IS NULL OR o.state = $5)
                      AND ($6::text IS NULL OR o.symbol = $6)
                    ORDER BY o.created_at DESC, o.id DESC LIMIT $7""",
                self._tenant,
                at,
                last,
                account,
                state,
                symbol,
                limit,
            )
        )

    async def order(self, client_order_id: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._pool.fetchrow(
            f"{_ORDER} WHERE o.tenant_id = $1 AND o.client_order_id = $2",
            self._tenant,
            client_order_id,
        )
        return row

    async def placed(self, client_order_id: str) -> asyncpg.Record | None:
        """The account of an order this tenant placed through the API, before the order's
        workflow has written its first row."""
        row: asyncpg.Record | None = await self._pool.fetchrow(
            """SELECT a.code AS account, k.created_at FROM idempotency_keys k
               JOIN accounts a ON a.id = k.account_id
               WHERE k.tenant_id = $1 AND k.client_order_id = $2""",
            self._tenant,
            client_order_id,
        )
        return row

    async def fills(
        self,
        limit: int,
        after: Keyset | None = None,
        account: str | None = None,
        client_order_id: str | None = None,
    ) -> list[asyncpg.Record]:
        at, last = after or (None, None)
        return list(
            await self._pool.fetch(
                f"""{_FILL}
                    WHERE f.tenant_id = $1
                      AND ($2::timestamptz IS NULL OR (f.ts_event, f.id) < ($2, $3::uuid))
                      AND ($4::text IS NULL OR a.code = $4)
                      AND ($5::text IS NULL OR f.client_order_id = $5)
                    ORDER BY f.ts_event DESC, f.id DESC LIMIT $6""",
                self._tenant,
                at,
                last,
                account,
                client_order_id,
                limit,
            )
        )

    async def reconciliation(self, code: str) -> asyncpg.Record | None:
        """The last comparison of the account's books with its venue."""
        row: asyncpg.Record | None = await self._pool.fetchrow(
            """SELECT r.report, r.repairs FROM reconciliations r
               JOIN accounts a ON a.id = r.account_id
               WHERE r.tenant_id = $1 AND a.code = $2""",
            self._tenant,
            code,
        )
        return row

    async def claimed(self, user_id: uuid.UUID, key: str) -> bool:
        """Whether this caller used this Idempotency-Key before."""
        found = await self._pool.fetchval(
            "SELECT true FROM idempotency_keys WHERE user_id = $1 AND key = $2", user_id, key
        )
        return bool(found)

    async def release(self, user_id: uuid.UUID, key: str, client_order_id: str) -> None:
        """Give a claimed Idempotency-Key back: its order was never started, so the key must
        not say "placed" (a retry claims it again and places the order)."""
        await self._pool.execute(
            """DELETE FROM idempotency_keys
               WHERE user_id = $1 AND key = $2 AND client_order_id = $3""",
            user_id,
            key,
            client_order_id,
        )

    async def claim(
        self,
        user_id: uuid.UUID,
        key: str,
        request_digest: bytes,
        account_id: uuid.UUID,
        client_order_id: str,
    ) -> Claim:
        """Tie an Idempotency-Key to an order before the order is started; a repeat of the
        same request gets the order of the first, a different request under the key is
        refused."""
        row = await self._pool.fetchrow(
            """WITH new AS (
                   INSERT INTO idempotency_keys
                       (user_id, key, request_digest, tenant_id, account_id, client_order_id)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (user_id, key) DO NOTHING
                   RETURNING client_order_id, request_digest, true AS inserted)
               SELECT client_order_id, request_digest, inserted FROM new
               UNION ALL
               SELECT client_order_id, request_digest, false FROM idempotency_keys
               WHERE user_id = $1 AND key = $2 AND NOT EXISTS (SELECT 1 FROM new)""",
            user_id,
            key,
            request_digest,
            self._tenant,
            account_id,
            client_order_id,
        )
        if row is None:
            # a concurrent request inserted the key after this statement's snapshot was taken:
            # its row is committed now, and a new statement sees it
            row = await self._pool.fetchrow(
                """SELECT client_order_id, request_digest, false AS inserted
                   FROM idempotency_keys WHERE user_id = $1 AND key = $2""",
                user_id,
                key,
            )
        assert row is not None
        if row["inserted"]:
            return Claim(row["client_order_id"], replayed=False)
        if bytes(row["request_digest"]) != request_digest:
            raise IdempotencyConflictError(
                "this Idempotency-Key was used for a different request; use a new key"
            )
        return Claim(row["client_order_id"], replayed=True)
