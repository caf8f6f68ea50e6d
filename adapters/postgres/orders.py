"""Orders, fills and positions in PostgreSQL, written so that a replay changes nothing.

An order row is keyed by (account, client order id) and only moves forward: once terminal
it is never written back to a working state by a late or replayed event. A fill is keyed by
the venue's deal id; recording it again is a no-op. Every deal is a fill, whoever caused it:
one with no order row (a bracket leg, the kill switch, the broker's own) keeps the client
order id the venue gave it and is linked to its order row if one is written later.

A new fill moves its position incrementally, in the same transaction (the position row is
locked, so two writers of one symbol queue up); a repair recomputes the affected positions
from their fills, in the order the venue made them. The balance is the deposit plus what
every fill did to it (profit, less commission, plus swap).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

import asyncpg

from domain.messages import FillReported
from domain.orders import TERMINAL, Order, OrderSeen, Side
from domain.ports import BooksUnavailableError
from domain.positions import net

_TERMINAL = [state.value for state in TERMINAL]
ZERO = Decimal(0)
P = ParamSpec("P")
R = TypeVar("R")
# the store is away or busy, not the data at fault: class 08 (connection), 40 (rolled back,
# e.g. a deadlock), 53 (resources), 57 (shut down); and the socket itself
_AWAY = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.TransactionRollbackError,
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,
)


def _retryable(write: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """A store that is away raises `BooksUnavailableError`; anything else passes unchanged."""

    @functools.wraps(write)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await write(*args, **kwargs)
        except _AWAY as exc:
            raise BooksUnavailableError(f"the books are unavailable: {exc!r}") from exc

    return guarded


class UnknownAccountError(LookupError):
    pass


class PostgresOrderBook:
    """Needs a pool from `adapters.postgres.pool.create_pool`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @_retryable
    async def ensure_account(
        self,
        account: str,
        tenant: str = "default",
        currency: str = "USD",
        deposit: Decimal | None = None,
    ) -> None:
        """The account's row, created if missing; a deposit given is kept if none was."""
        async with self._pool.acquire() as conn, conn.transaction():
            tenant_id = await conn.fetchval(
                """INSERT INTO tenants (slug, name) VALUES ($1, $1)
                   ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id""",
                tenant,
            )
            await conn.execute(
                """INSERT INTO accounts (tenant_id, name, broker, code, currency, deposit)
                   VALUES ($1, $2, 'paper', $2, $3, $4)
                   ON CONFLICT (code) DO UPDATE
                   SET deposit = COALESCE(accounts.deposit, EXCLUDED.deposit)""",
                tenant_id,
                account,
                currency,
                deposit,
            )

    async def _account(self, conn: asyncpg.Connection, account: str) -> asyncpg.Record:
        row = await conn.fetchrow("SELECT id, tenant_id FROM accounts WHERE code = $1", account)
        if row is None:
            raise UnknownAccountError(f"no account {account!r}")
        return row

    @_retryable
    async def record_order(self, account: str, order: Order, seen: OrderSeen | None = None) -> None:
        state = seen.state if seen is not None else order.state
        broker_order_id = seen.broker_order_id if seen is not None else order.broker_order_id
        async with self._pool.acquire() as conn, conn.transaction():
            acct = await self._account(conn, account)
            order_id = await conn.fetchval(
                """INSERT INTO orders (tenant_id, account_id, client_order_id, symbol, side,
                       order_type, time_in_force, volume, price, stop_price, state, strategy,
                       broker_order_id)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                   ON CONFLICT (account_id, client_order_id) DO UPDATE
                   SET state = CASE WHEN orders.state = ANY($14::text[]) THEN orders.state
                                    ELSE EXCLUDED.state END,
                       volume = CASE WHEN orders.state = ANY($14::text[]) THEN orders.volume
                                     ELSE EXCLUDED.volume END,
                       price = CASE WHEN orders.state = ANY($14::text[]) THEN orders.price
                                    ELSE EXCLUDED.price END,
                       broker_order_id = COALESCE(EXCLUDED.broker_order_id, orders.broker_order_id),
                       updated_at = now()
                   RETURNING id""",
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
                state.value,
                order.strategy,
                broker_order_id,
                _TERMINAL,
            )
            # deals booked before the order's row existed (found by a reconciliation) join it
            linked = await conn.execute(
                """UPDATE fills SET order_id = $1
                   WHERE account_id = $2 AND client_order_id = $3 AND order_id IS NULL""",
                order_id,
                acct["id"],
                order.client_order_id,
            )
            if linked != "UPDATE 0":
                await _filled_volume(conn, order_id)

    @_retryable
    async def record_fill(self, account: str, fill: FillReported, repair: bool = False) -> bool:
        """True if this deal was new; its order's filled volume and its position follow."""
        async with self._pool.acquire() as conn, conn.transaction():
            acct = await self._account(conn, account)
            order_id = await conn.fetchval(
                "SELECT id FROM orders WHERE account_id = $1 AND client_order_id = $2",
                acct["id"],
                fill.client_order_id,
            )
            inserted = await conn.fetchval(
                """INSERT INTO fills (tenant_id, account_id, order_id, client_order_id,
                       broker_fill_id, symbol, side, volume, price, commission, swap, profit,
                       position_id, strategy, source, repaired, ts_ns, ts_event)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                           $16, $17::bigint, to_timestamp($17::bigint / 1e9))
                   ON CONFLICT (account_id, broker_fill_id) DO NOTHING
                   RETURNING true""",
                acct["tenant_id"],
                acct["id"],
                order_id,
                fill.client_order_id,
                fill.fill_id,
                fill.symbol,
                fill.side.value,
                fill.volume,
                fill.price,
                fill.commission,
                fill.swap,
                fill.profit,
                fill.position_id,
                fill.strategy,
                fill.source.value,
                repair,
                fill.ts,
            )
            if not inserted:
                return False
            if order_id is not None:
                await _filled_volume(conn, order_id)
            await self._move_position(conn, acct, fill)
            return True

    async def _move_position(
        self, conn: asyncpg.Connection, acct: asyncpg.Record, fill: FillReported
    ) -> None:
        """The netting position of the fill's symbol, moved by this one fill (average cost)."""
        await conn.execute(
            """INSERT INTO positions (tenant_id, account_id, symbol, position_id, volume,
                   avg_price)
               VALUES ($1, $2, $3, $3, 0, 0)
               ON CONFLICT (account_id, symbol, position_id) DO NOTHING""",
            acct["tenant_id"],
            acct["id"],
            fill.symbol,
        )
        held = await conn.fetchrow(
            """SELECT volume, avg_price FROM positions
               WHERE account_id = $1 AND symbol = $2 AND position_id = $2 FOR UPDATE""",
            acct["id"],
            fill.symbol,
        )
        signed = fill.volume if fill.side is Side.BUY else -fill.volume
        volume, avg, _ = net(held["volume"], held["avg_price"], signed, fill.price)
        await conn.execute(
            """UPDATE positions SET volume = $3, avg_price = $4, realised = realised + $5,
                   commission = commission + $6, swap = swap + $7, updated_at = now()
               WHERE account_id = $1 AND symbol = $2 AND position_id = $2""",
            acct["id"],
            fill.symbol,
            volume,
            avg if volume else ZERO,
            fill.profit,
            fill.commission,
            fill.swap,
        )

    @_retryable
    async def rebuild_positions(
        self, account: str, symbols: Iterable[str], venue_order: Sequence[str] = ()
    ) -> None:
        """Recompute positions from every fill of their symbols, in the venue's order (deals
        of one instant as `venue_order` lists them, else as they were booked)."""
        async with self._pool.acquire() as conn, conn.transaction():
            acct = await self._account(conn, account)
            for symbol in sorted(set(symbols)):
                await conn.execute(
                    """SELECT 1 FROM positions WHERE account_id = $1 AND symbol = $2
                       FOR UPDATE""",
                    acct["id"],
                    symbol,
                )
                fills = await conn.fetch(
                    """SELECT side, volume, price, commission, swap, profit FROM fills
                       WHERE account_id = $1 AND symbol = $2
                       ORDER BY ts_ns, array_position($3::text[], broker_fill_id), seq""",
                    acct["id"],
                    symbol,
                    list(venue_order),
                )
                volume = avg = realised = commission = swap = ZERO
                for f in fills:
                    signed = f["volume"] if f["side"] == Side.BUY.value else -f["volume"]
                    volume, avg, _ = net(volume, avg, signed, f["price"])
                    realised += f["profit"]
                    commission += f["commission"]
                    swap += f["swap"]
                await conn.execute(
                    """INSERT INTO positions (tenant_id, account_id, symbol, position_id, volume,
                           avg_price, realised, commission, swap)
                       VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8)
                       ON CONFLICT (account_id, symbol, position_id) DO UPDATE
                       SET volume = EXCLUDED.volume, avg_price = EXCLUDED.avg_price,
                           realised = EXCLUDED.realised, commission = EXCLUDED.commission,
                           swap = EXCLUDED.swap, updated_at = now()""",
                    acct["tenant_id"],
                    acct["id"],
                    symbol,
                    volume,
                    avg if volume else ZERO,
                    realised,
                    commission,
                    swap,
                )

    @_retryable
    async def positions(self, account: str) -> dict[str, tuple[Decimal, Decimal]]:
        async with self._pool.acquire() as conn:
            acct = await self._account(conn, account)
            rows = await conn.fetch(
                """SELECT symbol, volume, avg_price FROM positions
                   WHERE account_id = $1 AND volume <> 0""",
                acct["id"],
            )
        return {r["symbol"]: (r["volume"], r["avg_price"]) for r in rows}

    @_retryable
    async def fill_ids(self, account: str, since_ns: int = 0) -> set[str]:
        async with self._pool.acquire() as conn:
            acct = await self._account(conn, account)
            rows = await conn.fetch(
                "SELECT broker_fill_id FROM fills WHERE account_id = $1 AND ts_ns >= $2",
                acct["id"],
                since_ns,
            )
        return {r["broker_fill_id"] for r in rows}

    @_retryable
    async def latest_fill_ns(self, account: str) -> int:
        async with self._pool.acquire() as conn:
            acct = await self._account(conn, account)
            latest: int | None = await conn.fetchval(
                "SELECT max(ts_ns) FROM fills WHERE account_id = $1", acct["id"]
            )
        return latest or 0

    @_retryable
    async def balance(self, account: str) -> Decimal | None:
        """The deposit and what every fill did to it; None while no deposit is known."""
        async with self._pool.acquire() as conn:
            acct = await self._account(conn, account)
            value: Decimal | None = await conn.fetchval(
                """SELECT a.deposit + COALESCE(
                       (SELECT sum(profit - commission + swap) FROM fills
                        WHERE account_id = a.id), 0)
                   FROM accounts a WHERE a.id = $1""",
                acct["id"],
            )
        return value

    @_retryable
    async def save_reconciliation(
        self, account: str, report: Mapping[str, Any], repaired: int
    ) -> None:
        async with self._pool.acquire() as conn:
            acct = await self._account(conn, account)
            await conn.execute(
                """INSERT INTO reconciliations (account_id, tenant_id, checked_at, status,
                       report, repairs)
                   VALUES ($1, $2, $3::text::timestamptz, $4, $5::jsonb, $6)
                   ON CONFLICT (account_id) DO UPDATE
                   SET checked_at = EXCLUDED.checked_at, status = EXCLUDED.status,
                       report = EXCLUDED.report,
                       repairs = reconciliations.repairs + EXCLUDED.repairs""",
                acct["id"],
                acct["tenant_id"],
                report["checked_at"],
                report["status"],
                dict(report),
                repaired,
            )

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


async def _filled_volume(conn: asyncpg.Connection, order_id: object) -> None:
    await conn.execute(
        """UPDATE orders SET filled_volume =
               (SELECT coalesce(sum(volume), 0) FROM fills WHERE order_id = $1),
               updated_at = now()
           WHERE id = $1""",
        order_id,
    )
