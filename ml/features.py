"""The model's features: one definition, computed bar by bar for serving and over a whole
history for training.

Every feature is scale-free (log returns, ratios to the close, oscillators), so a model
trained on one symbol's prices reads another's. The engine's indicators are not re-derived:
`_Indicators` feeds the same `domain.indicators` classes the hot path runs, over history in
`frame_features` and bar by bar in `FeatureState`, so the two cannot drift apart. Returns,
volatility, the spread and the calendar are vectorised in polars for history; the per-bar path
computes them the same way from a short ring of closes. `FEATURES_HASH` names this definition:
a model records it, and a model trained on other features is refused at load time.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Sequence

import numpy as np
import polars as pl

from domain import indicators as ind

RETURN_HORIZONS = (1, 5, 15, 60)  # bars
VOLATILITY_WINDOWS = (20, 60)  # bars of one-bar log returns
# trading sessions by the bar's UTC hour: [start, end)
SESSIONS = (("asia", 0, 8), ("london", 7, 16), ("new_york", 12, 21))
DAY_NS = 86_400 * 10**9
HOUR_NS = 3_600 * 10**9

INDICATOR_FEATURES = (
    "sma10_gap",
    "sma30_gap",
    "ema20_gap",
    "wma20_gap",
    "rsi14",
    "macd",
    "macd_signal",
    "bb_position",
    "atr14",
    "stoch_k",
    "adx14",
)
FEATURE_NAMES: tuple[str, ...] = (
    *(f"ret_{h}" for h in RETURN_HORIZONS),
    *(f"vol_{w}" for w in VOLATILITY_WINDOWS),
    "range",
    "spread",
    *INDICATOR_FEATURES,
    "tod_sin",
    "tod_cos",
    "dow_sin",
    "dow_cos",
    *(f"session_{name}" for name, _, _ in SESSIONS),
)
# the row from which every feature has a value (the slowest: ret_60 and vol_60)
WARMUP = max(*RETURN_HORIZONS, *VOLATILITY_WINDOWS)
_DEFINITION = f"v1|{FEATURE_NAMES}|{RETURN_HORIZONS}|{VOLATILITY_WINDOWS}|{SESSIONS}"
FEATURES_HASH = hashlib.sha256(_DEFINITION.encode()).hexdigest()[:16]


class _Indicators:
    """The hot path's indicators, read as features relative to the close."""

    __slots__ = ("adx", "atr", "bb", "ema", "macd", "rsi", "sma_fast", "sma_slow", "stoch", "wma")

    def __init__(self) -> None:
        self.sma_fast, self.sma_slow = ind.SMA(10), ind.SMA(30)
        self.ema, self.wma = ind.EMA(20), ind.WMA(20)
        self.rsi, self.macd, self.bb = ind.RSI(14), ind.MACD(), ind.Bollinger(20)
        self.atr, self.stoch, self.adx = ind.ATR(14), ind.Stochastic(), ind.ADX(14)

    def update(self, high: float, low: float, close: float) -> tuple[float | None, ...]:
        self.sma_fast.update(close)
        self.sma_slow.update(close)
        self.ema.update(close)
        self.wma.update(close)
        self.rsi.update(close)
        self.macd.update(close)
        self.bb.update(close)
        self.atr.update(high, low, close)
        self.stoch.update(high, low, close)
        self.adx.update(high, low, close)
        upper, lower = self.bb.upper, self.bb.lower
        width = upper - lower if upper is not None and lower is not None else None
        return (
            _gap(self.sma_fast.value, close),
            _gap(self.sma_slow.value, close),
            _gap(self.ema.value, close),
            _gap(self.wma.value, close),
            self.rsi.value,
            _ratio(self.macd.value, close),
            _ratio(self.macd.signal, close),
            (close - lower) / width if width and lower is not None else None,
            _ratio(self.atr.value, close),
            self.stoch.k,
            self.adx.value,
        )


def _gap(level: float | None, close: float) -> float | None:
    return None if level is None else level / close - 1.0


def _ratio(value: float | None, close: float) -> float | None:
    return None if value is None else value / close


def _calendar(ts_ns: int) -> tuple[float, ...]:
    day_fraction = (ts_ns % DAY_NS) / DAY_NS
    weekday = (ts_ns // DAY_NS + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    week_fraction = (weekday + day_fraction) / 7
    hour = (ts_ns % DAY_NS) // HOUR_NS
    return (
        math.sin(2 * math.pi * day_fraction),
        math.cos(2 * math.pi * day_fraction),
        math.sin(2 * math.pi * week_fraction),
        math.cos(2 * math.pi * week_fraction),
        *(1.0 if start <= hour < end else 0.0 for _, start, end in SESSIONS),
    )


class FeatureState:
    """The features as of the last closed bar, kept up to date one bar at a time (the hot
    path's snapshot sent with every decision candidate)."""

    __slots__ = ("_closes", "_indicators", "_prices", "_returns", "_row")

    def __init__(self) -> None:
        self._indicators = _Indicators()
        self._closes: deque[float] = deque(maxlen=max(RETURN_HORIZONS) + 1)  # log closes
        self._prices: deque[float] = deque(maxlen=max(RETURN_HORIZONS) + 1)
        self._returns: deque[float] = deque(maxlen=max(VOLATILITY_WINDOWS))
        self._row: dict[str, float | None] = dict.fromkeys(FEATURE_NAMES)

    def update(
        self, ts_ns: int, high: float, low: float, close: float, spread: float | None
    ) -> None:
        """One closed bar: its open time, bid high/low/close and the spread at its close."""
        log_close = math.log(close)
        closes, returns = self._closes, self._returns
        if closes:
            returns.append(log_close - closes[-1])
        closes.append(log_close)
        self._prices.append(close)
        values: list[float | None] = [
            log_close - closes[-1 - h] if len(closes) > h else None for h in RETURN_HORIZONS
        ]
        values.extend(_stdev(returns, w) for w in VOLATILITY_WINDOWS)
        values.append((high - low) / close)
        values.append(None if spread is None else spread / close)
        values.extend(self._indicators.update(high, low, close))
        values.extend(_calendar(ts_ns))
        self._row = dict(zip(FEATURE_NAMES, values, strict=True))

    def snapshot(self) -> dict[str, float | None]:
        return dict(self._row)

    def closes(self) -> list[float]:
        """The last closes, oldest first (up to 61): the pattern validator's window."""
        return list(self._prices)


def _stdev(returns: deque[float], window: int) -> float | None:
    """The sample standard deviation of the last `window` returns, as polars' rolling_std."""
    if len(returns) < window:
        return None
    last = list(returns)[-window:]
    mean = math.fsum(last) / window
    return math.sqrt(math.fsum((r - mean) ** 2 for r in last) / (window - 1))


def frame_features(bars: pl.DataFrame) -> pl.DataFrame:
    """Every bar's features over a history: `bars` has ts (int64 ns or datetime), high, low,
    close, and `spread` (ask close - bid close, null where unknown), oldest first. The result
    has ts and the columns of FEATURE_NAMES, one row per bar, null where a feature needs more
    history."""
    missing = {"ts", "high", "low", "close", "spread"} - set(bars.columns)
    if missing:
        raise ValueError(f"bars need the columns {sorted(missing)} for features")
    ts = bars["ts"]
    ts_ns = ts.dt.epoch("ns") if ts.dtype != pl.Int64 else ts
    frame = bars.select(
        ts_ns.alias("ts"),
        pl.col("high").cast(pl.Float64),
        pl.col("low").cast(pl.Float64),
        pl.col("close").cast(pl.Float64),
        pl.col("spread").cast(pl.Float64),
    )
    log_close = pl.col("close").log()
    one_bar = log_close.diff()
    day_fraction = (pl.col("ts") % DAY_NS) / DAY_NS
    weekday = (pl.col("ts") // DAY_NS + 3) % 7
    hour = (pl.col("ts") % DAY_NS) // HOUR_NS
    tau = 2 * math.pi
    out = frame.select(
        "ts",
        *(log_close.diff(h).alias(f"ret_{h}") for h in RETURN_HORIZONS),
        *(one_bar.rolling_std(w, ddof=1).alias(f"vol_{w}") for w in VOLATILITY_WINDOWS),
        ((pl.col("high") - pl.col("low")) / pl.col("close")).alias("range"),
        (pl.col("spread") / pl.col("close")).alias("spread"),
        (day_fraction * tau).sin().alias("tod_sin"),
        (day_fraction * tau).cos().alias("tod_cos"),
        ((weekday + day_fraction) / 7 * tau).sin().alias("dow_sin"),
        ((weekday + day_fraction) / 7 * tau).cos().alias("dow_cos"),
        *(
            ((hour >= start) & (hour < end)).cast(pl.Float64).alias(f"session_{name}")
            for name, start, end in SESSIONS
        ),
    )
    indicators = _indicator_columns(
        frame["high"].to_numpy(), frame["low"].to_numpy(), frame["close"].to_numpy()
    )
    return out.with_columns(indicators).select("ts", *FEATURE_NAMES)


def _indicator_columns(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> list[pl.Series]:
    state = _Indicators()
    rows = [state.update(h, lo, c) for h, lo, c in zip(high, low, close, strict=True)]
    columns: Sequence[tuple[float | None, ...]] = list(zip(*rows, strict=True)) or [
        () for _ in INDICATOR_FEATURES
    ]
    return [
        pl.Series(name, values, dtype=pl.Float64)
        for name, values in zip(INDICATOR_FEATURES, columns, strict=True)
    ]


def feature_vector(snapshot: dict[str, float | None]) -> np.ndarray:
    """A snapshot as the model's input row: FEATURE_NAMES in order, NaN where unknown."""
    return np.array(
        [math.nan if (v := snapshot.get(name)) is None else v for name in FEATURE_NAMES],
        dtype=np.float64,
    )
