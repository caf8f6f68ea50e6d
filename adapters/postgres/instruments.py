"""The instruments the platform's accounts trade, as their venues specify them.

A hot path writes the specifications of what it trades when it starts (the paper broker's
standard contracts, or the broker's own from MT5's `symbol_info`); the API reads them to
refuse at the door what the broker would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from domain.instruments import Instrument, TradeMode

_COLUMNS = (
    "symbol",
    "description",
    "digits",
    "point",
    "tick_size",
    "tick_value",
    "contract_size",
    "volume_min",
    "volume_step",
    "volume_max",
    "stops_level",
    "trade_mode",
    "currency_base",
    "currency_profit",
    "currency_margin",
    "margin_initial",
    "swap_long",
    "swap_short",
)


class PostgresInstruments:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(self, instruments: Iterable[Instrument]) -> None:
        """Insert or update each specification (the venue's word is the latest)."""
        placeholders = ", ".join(f"${n}" for n in range(1, len(_COLUMNS) + 1))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS[1:])
        rows = [
            tuple(int(i.trade_mode) if c == "trade_mode" else getattr(i, c) for c in _COLUMNS)
            for i in instruments
        ]
        await self._pool.executemany(
            f"""INSERT INTO instruments ({", ".join(_COLUMNS)}) VALUES ({placeholders})
                ON CONFLICT (symbol) DO UPDATE SET {updates}""",
            rows,
        )

    async def get(self, symbol: str) -> Instrument | None:
        row = await self._pool.fetchrow(
            f"SELECT {', '.join(_COLUMNS)} FROM instruments WHERE symbol = $1",
            symbol,
        )
        if row is None:
            return None
        values = dict(row)
        values["trade_mode"] = TradeMode(values["trade_mode"])
        for name in ("currency_base", "currency_profit", "currency_margin"):
            values[name] = values[name].strip()
        return Instrument(**values)

    async def symbols(self) -> list[str]:
        rows = await self._pool.fetch("SELECT symbol FROM instruments ORDER BY symbol")
        return [r["symbol"] for r in rows]
