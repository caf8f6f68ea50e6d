"""Positions and PnL, for netting accounts (one position per symbol) and hedging accounts
(one per opening order), booked in `Decimal` in the account currency.

Profit arises in the instrument's profit currency and is converted with the latest quotes
(`QuoteRates`): directly, through the inverse pair, or through USD.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from domain.instruments import Instrument
from domain.market import QuoteTick
from domain.orders import Fill, Side

ZERO = Decimal(0)


def net(
    volume: Decimal, avg: Decimal, signed: Decimal, price: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """Average-cost netting of one fill into a position.

    Returns the new signed volume, the new average price, and the volume the fill closed
    (0 when it added to the position). A fill through zero opens the rest at its price.
    """
    if volume == 0 or volume * signed > 0:
        total = volume + signed
        return total, (avg * volume + price * signed) / total, ZERO
    closing = min(abs(signed), abs(volume))
    remainder = volume + signed
    if remainder == 0 or remainder * volume > 0:
        return remainder, avg, closing
    return remainder, price, closing


class RateError(LookupError):
    pass


class Rates(Protocol):
    def rate(self, from_ccy: str, to_ccy: str) -> Decimal: ...


class QuoteRates:
    """Conversion rates from the latest mid quotes of currency pairs (EURUSD, USDJPY, ...)."""

    def __init__(self, mids: Mapping[str, Decimal] | None = None) -> None:
        self._mids: dict[str, Decimal] = dict(mids or {})

    def update(self, symbol: str, mid: Decimal) -> None:
        self._mids[symbol] = mid

    def _mid(self, symbol: str) -> Decimal | None:
        return self._mids.get(symbol)

    def rate(self, from_ccy: str, to_ccy: str) -> Decimal:
        if from_ccy == to_ccy:
            return Decimal(1)
        direct = self._mid(from_ccy + to_ccy)
        if direct:
            return direct
        inverse = self._mid(to_ccy + from_ccy)
        if inverse:
            return Decimal(1) / inverse
        if "USD" not in (from_ccy, to_ccy):
            return self.rate(from_ccy, "USD") * self.rate("USD", to_ccy)
        raise RateError(f"no quote converts {from_ccy} to {to_ccy}")


class LiveQuoteRates(QuoteRates):
    """Rates read at the moment they are asked for, from a live map of the latest quotes."""

    def __init__(self, quotes: Mapping[str, QuoteTick]) -> None:
        super().__init__()
        self._quotes = quotes

    def _mid(self, symbol: str) -> Decimal | None:
        quote = self._quotes.get(symbol)
        return Decimal(repr((quote.bid + quote.ask) * 0.5)) if quote is not None else None


@dataclass(slots=True)
class Position:
    position_id: str
    symbol: str
    volume: Decimal  # signed: + long, - short
    avg_price: Decimal
    realised: Decimal = ZERO  # account currency, before costs
    commission: Decimal = ZERO
    swap: Decimal = ZERO

    @property
    def side(self) -> Side | None:
        if self.volume > 0:
            return Side.BUY
        return Side.SELL if self.volume < 0 else None

    @property
    def net_realised(self) -> Decimal:
        return self.realised - self.commission + self.swap


@dataclass
class Book:
    """An account's positions and cash; every fill goes through `apply` exactly once."""

    currency: str
    instruments: Mapping[str, Instrument]
    rates: Rates
    hedging: bool = False
    balance: Decimal = ZERO
    positions: dict[str, Position] = field(default_factory=dict)
    closed: list[Position] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def apply(self, fill: Fill, symbol: str) -> Decimal:
        """Book a fill; return what it did to the balance (account currency): the PnL it
        realised, less its commission, plus its swap."""
        if fill.fill_id in self._seen:
            return ZERO
        self._seen.add(fill.fill_id)
        instrument = self.instruments[symbol]
        signed = fill.volume if fill.side is Side.BUY else -fill.volume
        # netting: one position per symbol; hedging: one per opening order, closed by ticket
        key = (fill.position_id or fill.client_order_id) if self.hedging else symbol
        pos = self.positions.get(key)
        realised = ZERO
        if pos is None:
            if self.hedging and fill.position_id is not None:
                raise KeyError(f"fill {fill.fill_id} closes unknown position {fill.position_id}")
            pos = self.positions[key] = Position(key, symbol, signed, fill.price)
        else:
            long = pos.volume > 0
            entry = pos.avg_price
            pos.volume, pos.avg_price, closed = net(pos.volume, pos.avg_price, signed, fill.price)
            if closed:
                profit = instrument.profit(closed, entry, fill.price, long=long)
                realised = profit * self.rates.rate(instrument.currency_profit, self.currency)
        if fill.profit is not None:  # the venue's own figure: its balance is the truth
            realised = fill.profit
        pos.realised += realised
        pos.commission += fill.commission
        pos.swap += fill.swap
        change = realised - fill.commission + fill.swap
        self.balance += change
        if pos.volume == 0:
            self.closed.append(self.positions.pop(key))
        return change

    def net(self, symbol: str) -> Decimal:
        """The account's net volume in `symbol` (hedged tickets added up)."""
        return sum((p.volume for p in self.positions.values() if p.symbol == symbol), ZERO)

    def adopt(self, position: Position) -> None:
        """Take over a position the broker reports (a restart against a real broker)."""
        key = position.position_id if self.hedging else position.symbol
        held = self.positions.get(key)
        if held is None:
            self.positions[key] = position
            return
        total = held.volume + position.volume  # a netting book over a hedging broker account
        if total == 0:
            self.closed.append(self.positions.pop(key))
            return
        held.avg_price = (
            held.avg_price * held.volume + position.avg_price * position.volume
        ) / total
        held.volume = total

    def charge_swap(self, position_id: str, amount: Decimal) -> None:
        self.positions[position_id].swap += amount
        self.balance += amount

    def unrealised(self, bids_asks: Mapping[str, tuple[Decimal, Decimal]]) -> Decimal:
        """Open PnL at the prices the positions would close at: bid for longs, ask for shorts."""
        total = ZERO
        for pos in self.positions.values():
            instrument = self.instruments[pos.symbol]
            bid, ask = bids_asks[pos.symbol]
            mark = bid if pos.volume > 0 else ask
            profit = instrument.profit(abs(pos.volume), pos.avg_price, mark, long=pos.volume > 0)
            total += profit * self.rates.rate(instrument.currency_profit, self.currency)
        return total

    def equity(self, bids_asks: Mapping[str, tuple[Decimal, Decimal]]) -> Decimal:
        return self.balance + self.unrealised(bids_asks)

    def net_volume(self, symbol: str) -> Decimal:
        return sum((p.volume for p in self.positions.values() if p.symbol == symbol), ZERO)

    def __iter__(self) -> Iterator[Position]:
        return iter(self.positions.values())
