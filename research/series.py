"""What a backtest runs on: one symbol's bars as arrays, bid side and, where the data has it,
the ask side, so fills can be charged the real spread; and the costs to charge."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from domain.instruments import Instrument
from domain.market import Bar
from domain.market_data import Timeframe


@dataclass(frozen=True)
class Costs:
    commission_per_lot: float = 0.0  # account currency, per lot, per side
    slippage_points: int = 0  # adverse, on every fill
    spread_points: int = 0  # ask = bid + spread where the data has no ask side


@dataclass(frozen=True, eq=False)
class BarSeries:
    symbol: str
    timeframe: Timeframe
    instrument: Instrument
    ts: np.ndarray  # int64 ns, bar open times
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    ask_open: np.ndarray | None = None
    ask_high: np.ndarray | None = None
    ask_low: np.ndarray | None = None
    ask_close: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def from_frames(
        cls,
        symbol: str,
        timeframe: Timeframe,
        instrument: Instrument,
        bid: pl.DataFrame,
        ask: pl.DataFrame | None = None,
    ) -> BarSeries:
        """Frames with ts, open, high, low, close; an ask frame must have the same times."""
        ts = bid["ts"].dt.epoch("ns").to_numpy() if bid["ts"].dtype != pl.Int64 else bid["ts"]
        ts = np.asarray(ts, dtype=np.int64)

        def side(frame: pl.DataFrame) -> list[np.ndarray]:
            return [
                frame[c].to_numpy().astype(np.float64) for c in ("open", "high", "low", "close")
            ]

        o, h, lo, c = side(bid)
        if ask is None:
            return cls(symbol, timeframe, instrument, ts, o, h, lo, c)
        ask_ts = ask["ts"]
        ask_ns = ask_ts.dt.epoch("ns") if ask_ts.dtype != pl.Int64 else ask_ts
        if len(ask) != len(bid) or not np.array_equal(ask_ns.to_numpy(), ts):
            raise ValueError(f"{symbol}: the ask bars do not line up with the bid bars")
        ao, ah, al, ac = side(ask)
        return cls(symbol, timeframe, instrument, ts, o, h, lo, c, ao, ah, al, ac)

    def last_marks(self, costs: Costs) -> tuple[float, float]:
        """The last close as a long (bid) and as a short (ask) would be closed at."""
        bid = float(self.close[-1])
        if self.ask_close is not None:
            return bid, float(self.ask_close[-1])
        return bid, bid + costs.spread_points * float(self.instrument.point)

    def bars(self) -> list[tuple[Bar, Bar | None]]:
        """As the engine takes them: each bid bar with its ask bar (None without ask data),
        in Python floats, as a live feed delivers them."""
        tf, sym = self.timeframe, self.symbol
        ts = self.ts.tolist()
        bid = zip(
            ts,
            self.open.tolist(),
            self.high.tolist(),
            self.low.tolist(),
            self.close.tolist(),
            strict=True,
        )
        bids = [Bar(sym, tf, t, o, h, lo, c) for t, o, h, lo, c in bid]
        if self.ask_open is None:
            return [(b, None) for b in bids]
        assert self.ask_high is not None
        assert self.ask_low is not None
        assert self.ask_close is not None
        ask = zip(
            ts,
            self.ask_open.tolist(),
            self.ask_high.tolist(),
            self.ask_low.tolist(),
            self.ask_close.tolist(),
            strict=True,
        )
        asks = [Bar(sym, tf, t, o, h, lo, c) for t, o, h, lo, c in ask]
        return list(zip(bids, asks, strict=True))


def price_scale(instrument: Instrument) -> int:
    """Prices as integers of the instrument's point: exact, and back to float without drift."""
    return int(10**instrument.digits)


def tick_points(instrument: Instrument) -> int:
    return int(instrument.tick_size / instrument.point)


def to_points(prices: np.ndarray, instrument: Instrument) -> np.ndarray:
    """The nearest tick of each price (ties to even, as the paper broker rounds), in points."""
    tick = tick_points(instrument)
    points = np.rint(prices * price_scale(instrument))
    on_grid: np.ndarray = (np.rint(points / tick) * tick).astype(np.int64)
    return on_grid
