"""Incremental indicators: O(1) work per update, equal to TA-Lib once warmed up.

Each one follows TA-Lib's own arithmetic, its seeding (EMA and Wilder averages start from a
simple mean of the first period) and its running sums (SMA, variance), so that a value here
equals TA-Lib's on the same series to the last bits rather than only approximately. That
includes TA-Lib's variance from running sums of x and x², which loses precision on prices far
from zero; matching it is the point, since backtests are checked against TA-Lib.

`update` returns the new value, or None while the indicator is still warming up. Plain
classes with __slots__ and float arithmetic: the hot path pays for every allocation.
"""

from __future__ import annotations

import math
from collections import deque

_ZERO_VARIANCE = 1e-14  # TA-Lib's TA_IS_ZERO_OR_NEG: below this a deviation is reported as 0


def _deviation(variance: float) -> float:
    return math.sqrt(variance) if variance >= _ZERO_VARIANCE else 0.0


def _check_period(period: int, minimum: int = 1) -> None:
    if period < minimum:
        raise ValueError(f"period must be at least {minimum}, not {period}")


class SMA:
    __slots__ = ("_total", "_window", "period", "value")

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._window: deque[float] = deque()
        self._total = 0.0
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        self._total += x
        self._window.append(x)
        if len(self._window) < self.period:
            return None
        self.value = self._total / self.period
        self._total -= self._window.popleft()
        return self.value


class _Seeded:
    """An average seeded with the mean of its first `period` values, then smoothed by
    `_next`; EMA and Wilder's average differ only in that step."""

    __slots__ = ("_count", "_seed", "period", "value")

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._seed = 0.0
        self._count = 0
        self.value: float | None = None

    def _next(self, value: float, x: float) -> float:
        raise NotImplementedError

    def update(self, x: float) -> float | None:
        if self.value is not None:
            self.value = self._next(self.value, x)
            return self.value
        self._seed += x
        self._count += 1
        if self._count == self.period:
            self.value = self._seed / self.period
        return self.value


class EMA(_Seeded):
    """Seeded with the SMA of the first `period` values, as TA-Lib does."""

    __slots__ = ("_k",)

    def __init__(self, period: int) -> None:
        super().__init__(period)
        self._k = 2.0 / (period + 1)

    def _next(self, value: float, x: float) -> float:
        return (x - value) * self._k + value


class WMA:
    """Linearly weighted: the newest value weighs `period`, the oldest 1."""

    __slots__ = ("_divider", "_sum", "_weighted", "_window", "period", "value")

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._divider = period * (period + 1) / 2.0
        self._window: deque[float] = deque()
        self._sum = 0.0
        self._weighted = 0.0
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        self._window.append(x)
        n = len(self._window)
        if n <= self.period:
            self._weighted += x * n
            self._sum += x
            if n < self.period:
                return None
        else:
            # shift every weight down by one and drop the oldest: O(1) with the running sum
            oldest = self._window.popleft()
            self._weighted += x * self.period - self._sum
            self._sum += x - oldest
        self.value = self._weighted / self._divider
        return self.value


class _Wilder(_Seeded):
    """Wilder's average: the mean of the first `period` values, then (prev*(n-1) + x) / n."""

    __slots__ = ()

    def _next(self, value: float, x: float) -> float:
        return (value * (self.period - 1) + x) / self.period


class RSI:
    """Wilder's RSI; the first value comes after `period` price changes."""

    __slots__ = ("_gain", "_loss", "_prev", "period", "value")

    def __init__(self, period: int = 14) -> None:
        _check_period(period, 2)
        self.period = period
        self._gain = _Wilder(period)
        self._loss = _Wilder(period)
        self._prev: float | None = None
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        if self._prev is None:
            self._prev = x
            return None
        change = x - self._prev
        self._prev = x
        gain = self._gain.update(change if change > 0 else 0.0)
        loss = self._loss.update(-change if change < 0 else 0.0)
        if gain is None or loss is None:
            return None
        total = gain + loss
        self.value = 100.0 * gain / total if total != 0.0 else 0.0
        return self.value


class MACD:
    """MACD line, signal and histogram; both EMAs start on the slow EMA's first bar."""

    __slots__ = (
        "_fast",
        "_history",
        "_signal",
        "_slow",
        "fast",
        "histogram",
        "signal",
        "slow",
        "value",
    )

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        _check_period(fast, 2)
        _check_period(slow, 2)
        _check_period(signal)
        if fast > slow:
            fast, slow = slow, fast  # TA-Lib swaps them too
        self.fast, self.slow = fast, slow
        self._fast = EMA(fast)
        self._slow = EMA(slow)
        self._signal = EMA(signal)
        # the fast EMA is seeded from the `fast` values ending where the slow one is seeded
        self._history: deque[float] = deque(maxlen=fast)
        self.value: float | None = None
        self.signal: float | None = None
        self.histogram: float | None = None

    def update(self, x: float) -> float | None:
        if self._slow.value is None:
            self._history.append(x)
            slow = self._slow.update(x)
            if slow is None:
                return None
            for past in self._history:
                self._fast.update(past)
        else:
            slow = self._slow.update(x)
            self._fast.update(x)
        fast = self._fast.value
        assert fast is not None
        assert slow is not None
        line = fast - slow
        signal = self._signal.update(line)
        if signal is None:
            return None
        self.value, self.signal, self.histogram = line, signal, line - signal
        return self.value


class Variance:
    """Population variance over `period` values, O(1) amortised and free of cancellation.

    Raw running sums of x and x² lose most digits on prices far from zero (1.3 ± 0.0005), so
    the sums are kept of x - anchor, and every `period` updates the anchor moves to the
    window's mean and the sums are rebuilt from the window: drift never accumulates, and the
    result agrees with a two-pass variance (and TA-Lib's VAR) to ~1e-10.
    """

    __slots__ = ("_anchor", "_since_anchor", "_sum", "_sum_sq", "_window", "period", "value")

    def __init__(self, period: int) -> None:
        _check_period(period)
        self.period = period
        self._window: deque[float] = deque()
        self._anchor: float | None = None
        self._since_anchor = 0
        self._sum = 0.0
        self._sum_sq = 0.0
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        if self._anchor is None:
            self._anchor = x
        window = self._window
        window.append(x)
        d = x - self._anchor
        self._sum += d
        self._sum_sq += d * d
        if len(window) > self.period:
            old = window.popleft() - self._anchor
            self._sum -= old
            self._sum_sq -= old * old
        elif len(window) < self.period:
            return None
        self._since_anchor += 1
        if self._since_anchor >= self.period:
            self._reanchor()
        n = self.period
        mean = self._sum / n
        var = self._sum_sq / n - mean * mean
        self.value = var if var > 0.0 else 0.0
        return self.value

    def _reanchor(self) -> None:
        anchor = math.fsum(self._window) / len(self._window)
        total = total_sq = 0.0
        for v in self._window:
            d = v - anchor
            total += d
            total_sq += d * d
        self._anchor, self._sum, self._sum_sq, self._since_anchor = anchor, total, total_sq, 0


class RollingStdev:
    """Population standard deviation times `k` (TA-Lib's STDDEV)."""

    __slots__ = ("_var", "k", "period", "value")

    def __init__(self, period: int, k: float = 1.0) -> None:
        self.period = period
        self.k = k
        self._var = Variance(period)
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        var = self._var.update(x)
        if var is None:
            return None
        self.value = _deviation(var) * self.k
        return self.value


class Bollinger:
    """Middle band = SMA, upper/lower = middle ± k standard deviations (population)."""

    __slots__ = (
        "_sma",
        "_var",
        "k_lower",
        "k_upper",
        "lower",
        "middle",
        "period",
        "upper",
        "value",
    )

    def __init__(self, period: int = 20, k_upper: float = 2.0, k_lower: float = 2.0) -> None:
        _check_period(period, 2)
        self.period = period
        self.k_upper, self.k_lower = k_upper, k_lower
        self._sma = SMA(period)
        self._var = Variance(period)
        self.upper: float | None = None
        self.middle: float | None = None
        self.lower: float | None = None
        self.value: float | None = None

    def update(self, x: float) -> float | None:
        middle = self._sma.update(x)
        var = self._var.update(x)
        if middle is None or var is None:
            return None
        dev = _deviation(var)
        self.middle = self.value = middle
        self.upper = middle + self.k_upper * dev
        self.lower = middle - self.k_lower * dev
        return self.value


def _true_range(high: float, low: float, prev_close: float) -> float:
    return max(high, prev_close) - min(low, prev_close)


class ATR:
    """Wilder's average of the true range; the first bar has no previous close and is skipped."""

    __slots__ = ("_avg", "_prev_close", "period", "value")

    def __init__(self, period: int = 14) -> None:
        _check_period(period)
        self.period = period
        self._avg = _Wilder(period)
        self._prev_close: float | None = None
        self.value: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        prev, self._prev_close = self._prev_close, close
        if prev is None:
            return None
        self.value = self._avg.update(_true_range(high, low, prev))
        return self.value


class _RollingExtreme:
    """Max (or min) over the last `period` values, amortised O(1) with a monotonic deque."""

    __slots__ = ("_count", "_queue", "_sign", "period")

    def __init__(self, period: int, highest: bool) -> None:
        self.period = period
        self._queue: deque[tuple[int, float]] = deque()
        self._count = 0
        self._sign = 1.0 if highest else -1.0  # a minimum is the maximum of the negated values

    def update(self, x: float) -> float:
        queue, key = self._queue, x * self._sign
        while queue and queue[-1][1] <= key:
            queue.pop()
        queue.append((self._count, key))
        if queue[0][0] <= self._count - self.period:
            queue.popleft()
        self._count += 1
        return queue[0][1] * self._sign

    @property
    def full(self) -> bool:
        return self._count >= self.period


class Stochastic:
    """Slow stochastic (TA-Lib STOCH with SMA smoothing): %K and %D."""

    __slots__ = ("_high", "_low", "_slow_d", "_slow_k", "d", "k", "value")

    def __init__(self, fastk: int = 5, slowk: int = 3, slowd: int = 3) -> None:
        _check_period(fastk)
        self._high = _RollingExtreme(fastk, highest=True)
        self._low = _RollingExtreme(fastk, highest=False)
        self._slow_k = SMA(slowk)
        self._slow_d = SMA(slowd)
        self.k: float | None = None
        self.d: float | None = None
        self.value: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        highest = self._high.update(high)
        lowest = self._low.update(low)
        if not self._high.full:
            return None
        span = highest - lowest
        fast_k = (close - lowest) / span * 100.0 if span != 0.0 else 0.0
        slow_k = self._slow_k.update(fast_k)
        if slow_k is None:
            return None
        slow_d = self._slow_d.update(slow_k)
        if slow_d is None:
            return None
        self.k, self.d, self.value = slow_k, slow_d, slow_k
        return self.value


class ADX:
    """Wilder's ADX: smoothed directional movement, DX, then Wilder's average of DX."""

    __slots__ = (
        "_count",
        "_dm_minus",
        "_dm_plus",
        "_dx",
        "_prev",
        "_tr",
        "minus_di",
        "period",
        "plus_di",
        "value",
    )

    def __init__(self, period: int = 14) -> None:
        _check_period(period, 2)
        self.period = period
        self._prev: tuple[float, float, float] | None = None
        self._count = 0  # price changes seen
        self._dm_plus = 0.0
        self._dm_minus = 0.0
        self._tr = 0.0
        self._dx = _Wilder(period)
        self.plus_di: float | None = None
        self.minus_di: float | None = None
        self.value: float | None = None

    def update(self, high: float, low: float, close: float) -> float | None:
        prev, self._prev = self._prev, (high, low, close)
        if prev is None:
            return None
        prev_high, prev_low, prev_close = prev
        up, down = high - prev_high, prev_low - low
        plus = up if up > 0.0 and up > down else 0.0
        minus = down if down > 0.0 and down > up else 0.0
        tr = _true_range(high, low, prev_close)
        self._count += 1
        n = self.period
        if self._count < n:  # TA-Lib sums the first period-1 movements as the seed
            self._dm_plus += plus
            self._dm_minus += minus
            self._tr += tr
            return None
        self._dm_plus = self._dm_plus - self._dm_plus / n + plus
        self._dm_minus = self._dm_minus - self._dm_minus / n + minus
        self._tr = self._tr - self._tr / n + tr
        if self._tr == 0.0:
            return self._feed_dx(0.0)
        self.plus_di = 100.0 * self._dm_plus / self._tr
        self.minus_di = 100.0 * self._dm_minus / self._tr
        total = self.plus_di + self.minus_di
        return self._feed_dx(100.0 * abs(self.plus_di - self.minus_di) / total if total else 0.0)

    def _feed_dx(self, dx: float) -> float | None:
        self.value = self._dx.update(dx)
        return self.value


class VWAP:
    """Volume-weighted average of the typical price, restarted at each session boundary."""

    __slots__ = ("_pv", "_session", "_session_ns", "_volume", "value")

    def __init__(self, session_ns: int = 86_400 * 1_000_000_000) -> None:
        self._session_ns = session_ns
        self._session = -1
        self._pv = 0.0
        self._volume = 0.0
        self.value: float | None = None

    def update(self, ts: int, high: float, low: float, close: float, volume: float) -> float | None:
        session = ts // self._session_ns
        if session != self._session:
            self._session, self._pv, self._volume = session, 0.0, 0.0
        self._pv += (high + low + close) / 3.0 * volume
        self._volume += volume
        self.value = self._pv / self._volume if self._volume > 0.0 else None
        return self.value
