"""`ma_cross`: trade the crossing of a fast and a slow simple moving average.

Semantics that backtests and parity tests rely on, exactly:
- a cross above at bar t: SMA_fast(t) > SMA_slow(t) and SMA_fast(t-1) <= SMA_slow(t-1),
  both defined at t-1 and t; a cross below mirrors it;
- the decision is taken at bar t's close and filled at bar t+1's open (a market order);
- long only by default: enter on a cross above, exit on a cross below; with `allow_short`
  also enter short on a cross below and cover on a cross above (a cross reverses);
- one position at a time; a position still open when the data ends stays open;
- `sl_atr` / `tp_atr` (0 = off) set stop-loss and take-profit at that many ATR(14) from the
  decision bar's close.

Crosses are decided exactly: prices become integers of 1e-8 and the averages are compared as
sum_fast x slow against sum_slow x fast, so two SMAs that are equal are equal, whatever order
floating-point sums would have taken. Any other engine (a vectorised sweep, vectorbt) that
decides on the same integers takes the same trades.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from decimal import Decimal

from domain.indicators import ATR, SMA
from domain.market import Bar
from domain.orders import Side
from domain.strategies.base import (
    NO_INTENTS,
    OnePositionStrategy,
    OrderIntent,
    StrategyError,
)

ATR_PERIOD = 14
PRICE_SCALE = 10**8  # prices as integers of 1e-8: exact for every instrument's tick grid


class ExactSum:
    """Sum of the last `period` prices, in integers of 1e-8."""

    __slots__ = ("_window", "period", "total")

    def __init__(self, period: int) -> None:
        self.period = period
        self._window: deque[int] = deque()
        self.total = 0

    def update(self, price: float) -> int | None:
        units = round(price * PRICE_SCALE)
        self._window.append(units)
        self.total += units
        if len(self._window) > self.period:
            self.total -= self._window.popleft()
        return self.total if len(self._window) == self.period else None


class MaCross(OnePositionStrategy):
    kind = "ma_cross"

    def __init__(
        self,
        symbol: str,
        fast: int = 10,
        slow: int = 30,
        allow_short: bool = False,
        sl_atr: float = 0.0,
        tp_atr: float = 0.0,
        volume: Decimal = Decimal("0.1"),
    ) -> None:
        if not 1 <= fast < slow:
            raise StrategyError(f"need 1 <= fast < slow, got fast={fast} slow={slow}")
        if sl_atr < 0 or tp_atr < 0:
            raise StrategyError("sl_atr and tp_atr are ATR multiples: 0 (off) or more")
        super().__init__(symbol, volume, f"ma_cross {fast}/{slow}")
        self.fast, self.slow = fast, slow
        self.allow_short = allow_short
        self.sl_atr, self.tp_atr = sl_atr, tp_atr
        self._fast = SMA(fast)
        self._slow = SMA(slow)
        self._fast_sum = ExactSum(fast)
        self._slow_sum = ExactSum(slow)
        self._atr = ATR(ATR_PERIOD) if sl_atr or tp_atr else None
        self._prev: int | None = None  # sign of fast - slow at the previous bar

    def on_bar(self, bar: Bar) -> Sequence[OrderIntent]:
        fast = self._fast.update(bar.close)
        slow = self._slow.update(bar.close)
        fast_sum = self._fast_sum.update(bar.close)
        slow_sum = self._slow_sum.update(bar.close)
        atr = self._atr.update(bar.high, bar.low, bar.close) if self._atr else None
        if fast_sum is None or slow_sum is None:
            return NO_INTENTS
        diff = fast_sum * self.slow - slow_sum * self.fast  # sign of SMA_fast - SMA_slow
        now = (diff > 0) - (diff < 0)
        prev, self._prev = self._prev, now
        if prev is None or self.pending:
            return NO_INTENTS
        above = now > 0 and prev <= 0
        below = now < 0 and prev >= 0
        if not (above or below):
            return NO_INTENTS
        assert fast is not None
        assert slow is not None
        features = {"sma_fast": fast, "sma_slow": slow, "close": bar.close}
        if atr is not None:
            features["atr"] = atr
        intents: list[OrderIntent] = []
        if self.net != 0 and (above if self.net < 0 else below):
            intents.append(self._exit(bar, "exit_short" if self.net < 0 else "exit_long", features))
        if self.net == 0 or intents:
            if above:
                intents.append(self._entry(Side.BUY, bar, atr, features))
            elif self.allow_short:
                intents.append(self._entry(Side.SELL, bar, atr, features))
        return intents

    def _entry(
        self, side: Side, bar: Bar, atr: float | None, features: dict[str, float]
    ) -> OrderIntent:
        sl = tp = None
        if atr is not None:
            direction = 1.0 if side is Side.BUY else -1.0
            sl = bar.close - direction * self.sl_atr * atr if self.sl_atr else None
            tp = bar.close + direction * self.tp_atr * atr if self.tp_atr else None
        reason = "entry_long" if side is Side.BUY else "entry_short"
        return self._enter(side, bar, reason, stop_loss=sl, take_profit=tp, features=features)
