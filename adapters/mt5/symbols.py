"""What MT5 knows about symbols and their history: instruments from `symbol_info`, bars from
`copy_rates_range`. Times in MT5 history are broker server time; `utc_offset_hours` moves
them to UTC."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import polars as pl

from domain.instruments import Instrument, TradeMode
from domain.market_data import Timeframe

# MT5's TIMEFRAME_* constants
TIMEFRAMES = {
    Timeframe.M1: 1,
    Timeframe.M5: 5,
    Timeframe.M15: 15,
    Timeframe.M30: 30,
    Timeframe.H1: 16385,
    Timeframe.H4: 16388,
    Timeframe.D1: 16408,
}


class SymbolUnknownError(LookupError):
    pass


def _dec(value: float) -> Decimal:
    return Decimal(str(value))


def instrument(mt5: Any, symbol: str) -> Instrument:
    info = mt5.symbol_info(symbol)
    if info is None:
        raise SymbolUnknownError(f"MT5 does not know {symbol!r} (is it in Market Watch?)")
    return Instrument(
        symbol=info.name,
        digits=int(info.digits),
        point=_dec(info.point),
        tick_size=_dec(info.trade_tick_size),
        tick_value=_dec(info.trade_tick_value),
        contract_size=_dec(info.trade_contract_size),
        volume_min=_dec(info.volume_min),
        volume_step=_dec(info.volume_step),
        volume_max=_dec(info.volume_max),
        currency_base=info.currency_base,
        currency_profit=info.currency_profit,
        currency_margin=info.currency_margin,
        stops_level=int(info.trade_stops_level),
        trade_mode=TradeMode(int(info.trade_mode)),
        margin_initial=_dec(info.margin_initial),
        swap_long=_dec(info.swap_long),
        swap_short=_dec(info.swap_short),
        description=info.description,
    )


def bars(
    mt5: Any,
    symbol: str,
    timeframe: Timeframe,
    start: datetime,
    end: datetime,
    utc_offset_hours: float = 0.0,
) -> pl.DataFrame:
    """Bars in [start, end] as the market-data store takes them (ts UTC ns, OHLC, volume)."""
    rates = mt5.copy_rates_range(symbol, TIMEFRAMES[timeframe], start, end)
    if rates is None:
        raise SymbolUnknownError(f"MT5 returned no history for {symbol}: {mt5.last_error()}")
    frame = pl.DataFrame(
        {
            name: rates[name]
            for name in ("time", "open", "high", "low", "close", "tick_volume", "real_volume")
        }
    )
    offset = int(utc_offset_hours * 3600)
    use_real = frame.height > 0 and bool((frame["real_volume"] > 0).any())
    return frame.select(
        ((pl.col("time") - offset) * 1_000_000_000).cast(pl.Datetime("ns", "UTC")).alias("ts"),
        "open",
        "high",
        "low",
        "close",
        pl.col("real_volume" if use_real else "tick_volume").cast(pl.Float64).alias("volume"),
    )
