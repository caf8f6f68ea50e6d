"""`rsi_reversion`: buy oversold, sell overbought, leave when RSI is back to the middle.

- flat and RSI(period) < `lower`: enter long; long and RSI > `exit`: close;
- with `allow_short`, flat and RSI > `upper`: enter short; short and RSI < `exit`: cover;
- decided at the bar's close, one position at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from domain.indicators import RSI
from domain.market import Bar
from domain.orders import Side
from domain.strategies.base import (
    NO_INTENTS,
    OnePositionStrategy,
    OrderIntent,
    StrategyError,
)


class RsiReversion(OnePositionStrategy):
    kind = "rsi_reversion"

    def __init__(
        self,
        symbol: str,
        period: int = 14,
        lower: float = 30.0,
        upper: float = 70.0,
        exit: float = 50.0,
        allow_short: bool = False,
        volume: Decimal = Decimal("0.1"),
    ) -> None:
        if period < 2:
            raise StrategyError(f"period must be at least 2, not {period}")
        if not 0 <= lower < exit < upper <= 100:
            raise StrategyError(
                f"need 0 <= lower < exit < upper <= 100, got {lower}, {exit}, {upper}"
            )
        super().__init__(symbol, volume, f"rsi_reversion {period} {lower:g}/{exit:g}/{upper:g}")
        self.period = period
        self.lower, self.upper, self.exit = lower, upper, exit
        self.allow_short = allow_short
        self._rsi = RSI(period)

    def on_bar(self, bar: Bar) -> Sequence[OrderIntent]:
        rsi = self._rsi.update(bar.close)
        if rsi is None or self.pending:
            return NO_INTENTS
        features = {"rsi": rsi, "close": bar.close}
        if self.net > 0 and rsi > self.exit:
            return (self._exit(bar, "exit_long", features),)
        if self.net < 0 and rsi < self.exit:
            return (self._exit(bar, "exit_short", features),)
        if self.net == 0 and rsi < self.lower:
            return (self._enter(Side.BUY, bar, "entry_long", features=features),)
        if self.net == 0 and self.allow_short and rsi > self.upper:
            return (self._enter(Side.SELL, bar, "entry_short", features=features),)
        return NO_INTENTS
