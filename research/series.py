"""What a backtest runs on: one symbol's bars as arrays, bid side and, where the data has it,
the ask side, so fills can be charged the real spread; the costs to charge; and how profit
in the instrument's currency becomes money in the account's."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace

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
class Conversion:
    """Profit currency to account currency at each bar (or tick), as the engine's book converts:
    from the mid of a pair quoted at that moment, the instrument itself (USDJPY for a USD
    account) or another pair (GBPUSD for EURGBP). `inverse`: the account currency is the
    pair's base, so one unit of profit is worth 1 / mid."""

    account: str
    symbol: str
    mid: np.ndarray
    inverse: bool

    @property
    def rate(self) -> np.ndarray:
        rate: np.ndarray = 1.0 / self.mid if self.inverse else self.mid
        return rate


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
    conversion: Conversion | None = None  # None: the account is in the profit currency

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

    def closing_mids(self) -> np.ndarray:
        """Each bar's closing mid as the engine quotes it (the bid close without ask data)."""
        if self.ask_close is None:
            return self.close
        mids: np.ndarray = (self.close + self.ask_close) * 0.5
        return mids

    def converted(self, conversion: Conversion | None) -> BarSeries:
        return replace(self, conversion=conversion)

    @property
    def rate(self) -> np.ndarray:
        """Profit currency to account currency at each bar's close (ones without conversion)."""
        if self.conversion is None:
            return np.ones(len(self.ts))
        return self.conversion.rate

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


@dataclass(frozen=True, eq=False)
class TickSeries:
    """One symbol's quotes, for the replay that runs tick by tick."""

    symbol: str
    instrument: Instrument
    ts: np.ndarray  # int64 ns
    bid: np.ndarray
    ask: np.ndarray
    conversion: Conversion | None = None  # one mid per tick

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def from_frame(cls, symbol: str, instrument: Instrument, frame: pl.DataFrame) -> TickSeries:
        ts = frame["ts"]
        ns = ts.dt.epoch("ns") if ts.dtype != pl.Int64 else ts
        return cls(
            symbol,
            instrument,
            np.asarray(ns.to_numpy(), dtype=np.int64),
            frame["bid"].to_numpy().astype(np.float64),
            frame["ask"].to_numpy().astype(np.float64),
        )

    def mids(self) -> np.ndarray:
        mids: np.ndarray = (self.bid + self.ask) * 0.5
        return mids

    def converted(self, conversion: Conversion | None) -> TickSeries:
        return replace(self, conversion=conversion)

    def bar_of(self, timeframe: Timeframe) -> np.ndarray:
        """Each tick's bar, counted from 0 over the bars that have ticks."""
        starts = self.ts - self.ts % timeframe.nanos
        index: np.ndarray = np.cumsum(np.diff(starts, prepend=starts[0]) != 0)
        return index

    def bars(self, timeframe: Timeframe) -> BarSeries:
        """The bars the engine builds from these ticks (periods aligned to the epoch, bids;
        the ask side from the same ticks), each converted at its last tick's rate."""
        frame = pl.DataFrame(
            {"ts": self.ts - self.ts % timeframe.nanos, "bid": self.bid, "ask": self.ask}
        )
        ohlc = frame.group_by("ts", maintain_order=True).agg(
            *(
                expr
                for side in ("bid", "ask")
                for expr in (
                    pl.col(side).first().alias(f"{side}_open"),
                    pl.col(side).max().alias(f"{side}_high"),
                    pl.col(side).min().alias(f"{side}_low"),
                    pl.col(side).last().alias(f"{side}_close"),
                )
            ),
            pl.len().alias("ticks"),
        )

        def side(name: str) -> pl.DataFrame:
            return ohlc.select(
                "ts",
                *(pl.col(f"{name}_{c}").alias(c) for c in ("open", "high", "low", "close")),
            )

        bars = BarSeries.from_frames(
            self.symbol, timeframe, self.instrument, side("bid"), side("ask")
        )
        if self.conversion is None:
            return bars
        last = np.cumsum(ohlc["ticks"].to_numpy()) - 1
        c = self.conversion
        return bars.converted(Conversion(c.account, c.symbol, c.mid[last], c.inverse))


class SeriesCache:
    """The last few series loaded, shared by a worker's threads: a grid's chunks and a
    walk-forward's windows read the same range again and again. Least recently used goes."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._series: OrderedDict[Hashable, BarSeries | TickSeries] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, key: Hashable, load: Callable[[], BarSeries | TickSeries]
    ) -> BarSeries | TickSeries:
        with self._lock:
            if key in self._series:
                self._series.move_to_end(key)
                return self._series[key]
        series = load()  # outside the lock: two threads may load the same range once each
        with self._lock:
            self._series[key] = series
            while len(self._series) > self._size:
                self._series.popitem(last=False)
        return series


def both_sides(bid: pl.DataFrame, ask: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Bid and ask bars at the same times: only the bars both sides have."""
    if ask.height == bid.height and ask["ts"].equals(bid["ts"]):
        return bid, ask
    both = bid.join(ask.select("ts"), on="ts", how="semi")
    return both, ask.join(both.select("ts"), on="ts", how="semi")


class ConversionError(ValueError):
    """No stored pair converts the instrument's profit currency to the account's."""


def conversion(
    instrument: Instrument,
    account: str,
    ts: np.ndarray,
    own_mids: np.ndarray,
    pair_bars: Callable[[str], pl.DataFrame | None] = lambda _: None,
) -> Conversion | None:
    """How profit becomes account money: not at all (the account is in the profit currency),
    at the instrument's own mids (the account is in its base currency: USDJPY for USD), or
    at another pair's, looked up by name (`pair_bars`: its bars over the range, if stored)."""
    profit = instrument.currency_profit
    if account == profit:
        return None
    if account == instrument.currency_base:
        return Conversion(account, instrument.symbol, own_mids, inverse=True)
    for pair, inverse in ((profit + account, False), (account + profit, True)):
        frame = pair_bars(pair)
        if frame is not None and frame.height:
            return Conversion(account, pair, mids_at(ts, frame), inverse)
    raise ConversionError(
        f"{instrument.symbol} makes its profit in {profit}; reporting it in {account} needs "
        f"{profit}{account} or {account}{profit} bars over the same range "
        f"(aitp data import ...), or an account in {profit} (--currency {profit})"
    )


def mids_at(ts: np.ndarray, frame: pl.DataFrame) -> np.ndarray:
    """A pair's closing price as of each time (its bar at or before it; the first bar for
    times before the data starts), as conversion rates are read."""
    other = frame.select(
        pl.col("ts").dt.epoch("ns") if frame["ts"].dtype != pl.Int64 else pl.col("ts"),
        pl.col("close").cast(pl.Float64),
    ).sort("ts")
    joined = pl.DataFrame({"ts": ts}).join_asof(other, on="ts", strategy="backward")
    mids: np.ndarray = joined["close"].fill_null(strategy="backward").to_numpy()
    return mids


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
