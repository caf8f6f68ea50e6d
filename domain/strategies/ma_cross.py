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
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Self

from domain.indicators import ATR, SMA
from domain.market import Bar
from domain.orders import Side
from domain.strategies.base import (
    NO_INTENTS,
    OnePositionStrategy,
    OrderIntent,
    StrategyError,
    no_leftovers,
    take,
)

ATR_PERIOD = 14


class MaCross(OnePositionStrategy):
    kind = "ma_cross"
    PARAMS = ("fast", "slow", "allow_short", "sl_atr", "tp_atr", "volume")

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
        self._atr = ATR(ATR_PERIOD) if sl_atr or tp_atr else None
        self._prev: tuple[float, float] | None = None

    @classmethod
    def from_params(cls, symbol: str, params: dict[str, Any]) -> Self:
        p = dict(params)
        made = cls(
            symbol,
            fast=take(p, "fast", 10, int),
            slow=take(p, "slow", 30, int),
            allow_short=take(p, "allow_short", False, bool),
            sl_atr=take(p, "sl_atr", 0.0, float),
            tp_atr=take(p, "tp_atr", 0.0, float),
            volume=take(p, "volume", "0.1", Decimal),
        )
        no_leftovers(cls.kind, p, cls.PARAMS)
        return made

    def on_bar(self, bar: Bar) -> Sequence[OrderIntent]:
        fast = self._fast.update(bar.close)
        slow = self._slow.update(bar.close)
        atr = self._atr.update(bar.high, bar.low, bar.close) if self._atr else None
        prev, self._prev = (
            self._prev,
            (fast, slow) if fast is not None and slow is not None else None,
        )
        if prev is None or self._prev is None or self.pending:
            return NO_INTENTS
        fast_prev, slow_prev = prev
        assert fast is not None
        assert slow is not None
        above = fast > slow and fast_prev <= slow_prev
        below = fast < slow and fast_prev >= slow_prev
        if not (above or below):
            return NO_INTENTS
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
