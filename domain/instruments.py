"""Instruments as MT5's `symbol_info` describes them, and the rounding every order obeys.

Prices travel as floats in the tick loop; anything that goes to a broker or into the books is
rounded here to the instrument's tick size and volume step, in `Decimal`, so that 0.1 + 0.2
never becomes a price or a lot size.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from enum import IntEnum


class TradeMode(IntEnum):
    """MT5's SYMBOL_TRADE_MODE_*."""

    DISABLED = 0
    LONG_ONLY = 1
    SHORT_ONLY = 2
    CLOSE_ONLY = 3
    FULL = 4


class InstrumentError(ValueError):
    """A price or volume the instrument cannot take; the message says what it can."""


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    digits: int
    point: Decimal
    tick_size: Decimal
    tick_value: Decimal  # profit currency per tick per lot
    contract_size: Decimal
    volume_min: Decimal
    volume_step: Decimal
    volume_max: Decimal
    currency_base: str
    currency_profit: str
    currency_margin: str
    stops_level: int = 0  # points between price and SL/TP, minimum
    trade_mode: TradeMode = TradeMode.FULL
    margin_initial: Decimal = Decimal(0)  # 0: contract size x price / leverage
    swap_long: Decimal = Decimal(0)  # points per lot per day
    swap_short: Decimal = Decimal(0)
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("point", "tick_size", "contract_size", "volume_step"):
            if getattr(self, name) <= 0:
                raise InstrumentError(f"{self.symbol}: {name} must be positive")
        if not self.volume_min <= self.volume_max:
            raise InstrumentError(f"{self.symbol}: volume_min above volume_max")

    def round_price(self, price: float | Decimal) -> Decimal:
        """The nearest price on the tick grid (ties to even), with the instrument's digits."""
        ticks = (Decimal(str(price)) / self.tick_size).quantize(Decimal(1), ROUND_HALF_EVEN)
        return (ticks * self.tick_size).quantize(self.point)

    def price_in_points(self, distance: float | Decimal) -> int:
        return int((Decimal(str(distance)) / self.point).quantize(Decimal(1), ROUND_HALF_EVEN))

    def normalise_volume(self, volume: float | Decimal) -> Decimal:
        """Round down to the volume step, then check min and max; never rounds up a risk."""
        lots = Decimal(str(volume))
        steps = (lots / self.volume_step).quantize(Decimal(1), ROUND_DOWN)
        normalised = steps * self.volume_step
        if normalised < self.volume_min:
            raise InstrumentError(
                f"{self.symbol}: volume {lots} is below the minimum {self.volume_min}"
            )
        if normalised > self.volume_max:
            raise InstrumentError(
                f"{self.symbol}: volume {lots} is above the maximum {self.volume_max}"
            )
        return normalised

    def check_volume(self, volume: Decimal) -> None:
        """Refuse a volume that is off the step grid instead of silently changing it."""
        if volume % self.volume_step != 0:
            raise InstrumentError(
                f"{self.symbol}: volume {volume} is not a multiple of the step {self.volume_step}"
            )
        self.normalise_volume(volume)

    def notional(self, volume: Decimal, price: Decimal) -> Decimal:
        """Value of a position in the profit currency."""
        return volume * self.contract_size * price

    def profit(self, volume: Decimal, entry: Decimal, exit_: Decimal, long: bool) -> Decimal:
        """Profit of closing `volume` lots, in the profit currency."""
        move = exit_ - entry if long else entry - exit_
        return move * volume * self.contract_size


def fx_major(symbol: str, digits: int = 5) -> Instrument:
    """A standard FX contract (100,000 units, 0.01 lot step), as most MT5 brokers list it."""
    point = Decimal(1).scaleb(-digits)
    return Instrument(
        symbol=symbol,
        digits=digits,
        point=point,
        tick_size=point,
        tick_value=point * 100_000,
        contract_size=Decimal(100_000),
        volume_min=Decimal("0.01"),
        volume_step=Decimal("0.01"),
        volume_max=Decimal(100),
        currency_base=symbol[:3],
        currency_profit=symbol[3:6],
        currency_margin=symbol[:3],
    )


CURRENCIES = frozenset(
    [
        "AUD",
        "CAD",
        "CHF",
        "CNH",
        "CZK",
        "DKK",
        "EUR",
        "GBP",
        "HKD",
        "HUF",
        "JPY",
        "MXN",
        "NOK",
        "NZD",
        "PLN",
        "SEK",
        "SGD",
        "TRY",
        "USD",
        "ZAR",
    ]
)


def standard(symbol: str) -> Instrument:
    """The instrument a symbol names when no broker is asked: an FX pair of two known
    currencies (JPY pairs with 3 digits, others 5), as `fx_major` lists it. Anything else
    needs the broker's `symbol_info`; the message says what is understood here."""
    name = symbol.upper()
    if len(name) == 6 and name[:3] in CURRENCIES and name[3:] in CURRENCIES:
        return fx_major(name, 3 if name.endswith("JPY") else 5)
    raise InstrumentError(
        f"{symbol}: no contract specification known; FX pairs of two currencies "
        f"({', '.join(sorted(CURRENCIES))}) are, e.g. EURUSD, USDJPY"
    )
