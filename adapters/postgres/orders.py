"""Orders, fills and positions in PostgreSQL, written so that a replay changes nothing.

An order row is keyed by (account, client order id) and only moves forward: once terminal
it is never written back to a working state by a late or replayed event. A fill is keyed by
the broker's deal id; recording it again is a no-op. The order's filled volume and the
position are derived from the fills in the same transaction, so they can never disagree
with them.
"""

from __future__ import annotations

from decimal import Decimal

import asyncpg

from domain.orders import TERMINAL, Fill, Order, Side
from domain.positions import net

_TERMINAL = [state.value for state in TERMINAL]


class UnknownAccountError(LookupError):
    pass


class PostgresOrderBook:
    """Needs a pool from `adapters.postgres.pool.create_pool`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def ensure_account(self, account: str, tenant: str = "default") -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            tenant_id = await conn.fetchval(
                """INSERT INTO tenants (slug, name) VALUES ($1, $1)
                   ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id""",
                tenant,
            )
            await conn.execute(
                """INSERT INTO accounts (tenant_id, name, broker, code) VALUES ($1, $2, 'paper', $2)
                   ON CONFLICT (code) DO NOTHING""",
                tenant_id,
                account,
            )

    async def _account(self, conn: asyncpg.Connection, account: str) -> asyncpg.Record:
        row = await conn.fetchrow("SELECT id, tenant_id FROM accounts WHERE code = $1", account)
        if row is None:
            raise UnknownAccountError(f"no account {account!r}")
        return row

    async def record_order(self, account: str, order: Order) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            acct = await self._account(conn, account)
            await conn.execute(
                """INSERT INTO orders (tenant_id, account_id, client_order_id, symbol, side,
                       order_type, time_in_force, volume, price, stop_price, state, strategy,
                       broker_order_id)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                   ON CONFLICT (account_id, client_order_id) DO UPDATE
                   SET state = EXCLUDED.state,
                       volume = EXCLUDED.volume,
                       price = EXCLUDED.price,
                       broker_order_id = COALESCE(EXCLUDED.broker_order_id, orders.broker_order_id),
                       updated_at = now()
                   WHERE NOT orders.state = ANY($14::text[])""",
                acct["tenant_id"],
                acct["id"],
                order.client_order_id,
                order.symbol,
                order.side.value,
                order.order_type.value,
                order.time_in_force.value,
                order.volume,
                order.price,
                order.stop_price,
                order.state.value,
                order.strategy,
                order.broker_order_id,
                _TERMINAL,
            )

    async def record_fill(self, account: str, symbol: str, fill: Fill) -> bool:
        """True if this deal was new; the order's filled volume and the position follow."""
        async with self._pool.acquire() as conn, conn.transaction():
            acct = await self._account(conn, account)
            order_id = await conn.fetchval(
                "SELECT id FROM orders WHERE account_id = $1 AND client_order_id = $2",
                acct["id"],
                fill.client_order_id,
            )
            if order_id is None:
                raise LookupError(f"fill {fill.fill_id} for unknown order {fill.client_order_id}")
            inserted = await conn.fetchval(
                """INSERT INTO fills (tenant_id, account_id, order_id, broker_fill_id, symbol,
                       side, volume, price, commission, ts_event)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10::float8 / 1e9))
                   ON CONFLICT (account_id, broker_fill_id) DO NOTHING
                   RETURNING true""",
                acct["tenant_id"],
                acct["id"],
                order_id,
                fill.fill_id,
                symbol,
                fill.side.value,
                fill.volume,
                fill.price,
                fill.commission,
                fill.ts,
            )
            if not inserted:
                return False
            await conn.execute(
                """UPDATE orders SET filled_volume =
                       (SELECT coalesce(sum(volume), 0) FROM fills WHERE order_id = $1),
                       updated_at = now()
                   WHERE id = $1""",
                order_id,
            )
            await self._position(conn, acct, symbol)
            return True

    async def _position(self, conn: asyncpg.Connection, acct: asyncpg.Record, symbol: str) -> None:
        """The netting position of `symbol`, rebuilt from every fill of it (average cost)."""
        fills = await conn.fetch(
            """SELECT side, volume, price, commission FROM fills
               WHERE account_id = $1 AND symbol = $2 ORDER BY ts_event, broker_fill_id""",
            acct["id"],
            symbol,
        )
        volume = avg = commission = Decimal(0)
        for f in fills:
            signed = f["volume"] if f["side"] == Side.BUY.value else -f["volume"]
            volume, avg, _ = net(volume, avg, signed, f["price"])
            commission += f["commission"]
        await conn.execute(
            """INSERT INTO positions (tenant_id, account_id, symbol, position_id, volume,
                   avg_price, commission)
               VALUES ($1, $2, $3, $3, $4, $5, $6)
               ON CONFLICT (account_id, symbol, position_id) DO UPDATE
               SET volume = EXCLUDED.volume, avg_price = EXCLUDED.avg_price,
                   commission = EXCLUDED.commission, updated_at = now()""",
            acct["tenant_id"],
            acct["id"],
            symbol,
            volume,
            avg if volume else Decimal(0),
            commission,
        )

    async def positions(self, account: str) -> dict[str, tuple[Decimal, Decimal]]:
        async with self._pool.acquire() as conn:
            acct = await self._account(conn, account)
            rows = await conn.fetch(
                """SELECT symbol, volume, avg_price FROM positions
                   WHERE account_id = $1 AND volume <> 0""",
                acct["id"],
            )
        return {r["symbol"]: (r["volume"], r["avg_price"]) for r in rows}

    async def order_states(self, account: str) -> dict[str, str]:
        """Every order of the account and its state, by client order id."""
        async with self._pool.acquire() as conn:
            acct = await self._account(conn, account)
            rows = await conn.fetch(
                "SELECT client_order_id, state FROM orders WHERE account_id = $1", acct["id"]
            )
        return {r["client_order_id"]: r["state"] for r in rows}

    async def order_row(self, account: str, client_order_id: str) -> asyncpg.Record | None:
        async with self._pool.acquire() as conn:
            acct = await self._account(conn, account)
            row: asyncpg.Record | None = await conn.fetchrow(
                """SELECT client_order_id, state, volume, filled_volume, broker_order_id
                   FROM orders WHERE account_id = $1 AND client_order_id = $2""",
                acct["id"],
                client_order_id,
            )
            return row
