"""The strategy interface, and the position bookkeeping every one-position strategy shares.

A strategy decides on a bar's close; the engine turns its intents into orders, which fill
later (a market order at the next bar's open in bar replay). Until its order is filled or
refused the strategy waits, so it never stacks a second entry on a pending one.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Protocol, Self, get_type_hints

from domain.market import Bar, QuoteTick
from domain.orders import Fill, OrderType, Side

NO_INTENTS: tuple[OrderIntent, ...] = ()


class StrategyError(ValueError):
    """Bad parameters; the message names the parameter and what it accepts."""


@dataclass(frozen=True, slots=True)
class OrderIntent:
    strategy: str
    symbol: str
    side: Side
    volume: Decimal
    ts: int  # when it was decided (the bar's close)
    reason: str  # "entry_long", "exit_long", ...
    order_type: OrderType = OrderType.MARKET
    price: float | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    closes: bool = False  # reduces an open position rather than opening one
    features: Mapping[str, float] = field(default_factory=dict)


class Strategy(Protocol):
    kind: ClassVar[str]
    name: str
    symbol: str

    def params(self) -> dict[str, Any]:
        """The parameters it was built with, as `create(kind, symbol, params)` takes them."""
        ...

    def on_bar(self, bar: Bar) -> Sequence[OrderIntent]: ...

    def on_tick(self, tick: QuoteTick) -> Sequence[OrderIntent]: ...

    def on_fill(self, fill: Fill) -> None: ...

    def on_reject(self, intent: OrderIntent) -> None: ...


class OnePositionStrategy:
    """Flat, long or short, one position at a time; subclasses decide on bars."""

    kind: ClassVar[str]
    PARAMS: ClassVar[tuple[str, ...]]

    def __init__(self, symbol: str, volume: Decimal, name: str) -> None:
        if volume <= 0:
            raise StrategyError(f"volume must be positive, not {volume}")
        self.symbol = symbol
        self.volume = volume
        self.name = name
        self.net = Decimal(0)  # filled position, signed
        self.target = Decimal(0)  # where the intents in flight will take it

    @property
    def pending(self) -> bool:
        return self.net != self.target

    def params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.parameters()}

    def on_tick(self, tick: QuoteTick) -> Sequence[OrderIntent]:
        return NO_INTENTS

    def on_fill(self, fill: Fill) -> None:
        signed = fill.volume if fill.side is Side.BUY else -fill.volume
        before, self.net = self.net, self.net + signed
        if (self.target - before) * signed <= 0:
            # nobody here asked for this fill (stop-loss, take-profit, a broker close):
            # follow the books instead of fighting them
            self.target = self.net

    def on_reject(self, intent: OrderIntent) -> None:
        self.target = self.net

    def _enter(self, side: Side, bar: Bar, reason: str, **extra: Any) -> OrderIntent:
        self.target += self.volume if side is Side.BUY else -self.volume
        return OrderIntent(self.name, self.symbol, side, self.volume, bar.end_ts, reason, **extra)

    def _exit(self, bar: Bar, reason: str, features: Mapping[str, float]) -> OrderIntent:
        side = Side.SELL if self.net > 0 else Side.BUY
        volume = abs(self.net)
        self.target = Decimal(0)
        return OrderIntent(
            self.name, self.symbol, side, volume, bar.end_ts, reason, closes=True, features=features
        )

    @classmethod
    def parameters(cls) -> dict[str, tuple[Any, type]]:
        """Each parameter's default and type, read from `__init__`: the one definition of
        what a strategy takes, for a run's parameters and for the message naming them."""
        hints = get_type_hints(cls.__init__)
        signature = inspect.signature(cls.__init__).parameters
        return {
            name: (p.default, hints[name])
            for name, p in signature.items()
            if name not in ("self", "symbol")
        }

    @classmethod
    def from_params(cls, symbol: str, params: dict[str, Any]) -> Self:
        """The strategy from a run's parameters (text, numbers or booleans), each checked."""
        p = dict(params)
        known = cls.parameters()
        made = cls(symbol, **{name: take(p, name, d, kind) for name, (d, kind) in known.items()})
        no_leftovers(cls.kind, p, tuple(known))
        return made


def take(params: dict[str, Any], name: str, default: Any, kind: type) -> Any:
    """Pop one parameter, converted to `kind`, or raise naming it."""
    raw = params.pop(name, default)
    try:
        if kind is bool and isinstance(raw, str):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1")
        if kind is int and isinstance(raw, float) and not raw.is_integer():
            raise ValueError(raw)
        return kind(str(raw)) if kind is Decimal else kind(raw)
    except (ValueError, ArithmeticError):
        raise StrategyError(f"parameter {name}={raw!r} is not a {kind.__name__}") from None


def no_leftovers(kind: str, params: dict[str, Any], known: Sequence[str]) -> None:
    if params:
        raise StrategyError(
            f"{kind} has no parameter(s) {', '.join(sorted(params))}; it takes {', '.join(known)}"
        )
