"""The pre-trade risk gate: every order passes here, and a refusal carries a reason code.

Rules run cheapest first and the first refusal wins. Orders that only reduce a position are
let through the limits that exist to stop risk growing (size of position, exposure, margin,
the daily-loss reduce-only stage), so a trader can always get out; the kill switch's own
flattening orders pass even when trading is halted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from domain.instruments import Instrument, InstrumentError, TradeMode
from domain.market import QuoteTick
from domain.order_checks import refusals
from domain.orders import Order, OrderType, Side
from domain.positions import Book, RateError

KILL_SWITCH = "kill_switch"  # the strategy name of the kill switch's flattening orders
GLOBAL = "*"
NANOS_PER_MINUTE = 60 * 1_000_000_000
NANOS_PER_DAY = 1440 * NANOS_PER_MINUTE


class Reason(StrEnum):
    KILL_SWITCH = "kill_switch"
    UNKNOWN_SYMBOL = "unknown_symbol"
    HALTED = "halted_daily_loss"
    REDUCE_ONLY = "reduce_only_daily_loss"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"
    RESTRICTED_SYMBOL = "restricted_symbol"
    TRADE_DISABLED = "trade_disabled"
    OUTSIDE_SESSION = "outside_session"
    NO_QUOTE = "no_quote"
    STALE_QUOTE = "stale_quote"
    MAX_SPREAD = "max_spread"
    PRICE_COLLAR = "price_collar"
    INVALID_VOLUME = "invalid_volume"
    INVALID_ORDER = "invalid_order"  # off the tick, stops on the wrong side, a bad expiry
    MAX_ORDER_SIZE = "max_order_size"
    MAX_NOTIONAL = "max_order_notional"
    MAX_POSITION = "max_position"
    MAX_GROSS_EXPOSURE = "max_gross_exposure"
    INSUFFICIENT_MARGIN = "insufficient_margin"
    ORDER_RATE = "order_rate"
    REPEATED_ORDER = "repeated_order"
    BACKLOG = "backlog"  # the events of the account wait for the bus past their bound


@dataclass(frozen=True, slots=True)
class TradingWindow:
    """Open from `start` to `end` minutes after midnight UTC on the given weekdays (Mon=0)."""

    weekdays: frozenset[int]
    start_minute: int
    end_minute: int

    def contains(self, ts: int) -> bool:
        day = ts // NANOS_PER_DAY
        weekday = (day + 3) % 7  # 1970-01-01 was a Thursday
        minute = (ts % NANOS_PER_DAY) // NANOS_PER_MINUTE
        return weekday in self.weekdays and self.start_minute <= minute < self.end_minute


@dataclass(frozen=True)
class RiskLimits:
    max_order_volume: Decimal = Decimal(10)
    max_order_notional: Decimal = Decimal(2_000_000)  # account currency
    max_position_volume: Decimal = Decimal(20)  # net lots per symbol
    max_gross_exposure: Decimal = Decimal(10_000_000)  # account currency
    daily_loss_reduce_only: Decimal = Decimal(5_000)  # loss that leaves only reducing orders
    daily_loss_halt: Decimal = Decimal(10_000)  # loss that stops trading
    collar_fraction: Decimal = Decimal("0.02")  # priced orders within 2% of the quote
    quote_max_age_ns: int = 10 * 1_000_000_000
    max_spread_points: int | None = None
    max_orders_per_window: int = 50
    rate_window_ns: int = 1_000_000_000
    max_repeats: int = 5  # the same symbol, side and volume...
    repeat_window_ns: int = 10 * 1_000_000_000  # ...within this window
    restricted: frozenset[str] = frozenset()
    sessions: Mapping[str, tuple[TradingWindow, ...]] = field(default_factory=dict)
    leverage: Decimal = Decimal(100)


@dataclass(slots=True)
class AccountState:
    """What the gate needs to know about the account, kept current by the engine."""

    equity: Decimal
    currency: str = "USD"
    daily_pnl: Decimal = Decimal(0)  # realised + open since the day began, account currency
    used_margin: Decimal = Decimal(0)
    gross_exposure: Decimal = Decimal(0)
    net_volume: dict[str, Decimal] = field(default_factory=dict)
    to_account: dict[str, Decimal] = field(default_factory=dict)  # profit ccy -> account ccy

    @property
    def free_margin(self) -> Decimal:
        return self.equity - self.used_margin


class DailyPnl:
    """The net realised P&L of the account's day (00:00 UTC), for the daily-loss limits: every
    deal and swap charge of the day adds to it, and a new day starts it afresh."""

    __slots__ = ("day", "realised")

    def __init__(self) -> None:
        self.day = 0  # days since the epoch, UTC
        self.realised = Decimal(0)

    def roll(self, ts: int) -> None:
        day = ts // NANOS_PER_DAY
        if day > self.day:
            self.day, self.realised = day, Decimal(0)

    def add(self, ts: int, amount: Decimal) -> None:
        self.roll(ts)
        if ts // NANOS_PER_DAY == self.day:  # a late deal of a day gone by counts for none
            self.realised += amount


def margin_needed(
    instrument: Instrument, volume: Decimal, price: Decimal, rate: Decimal, leverage: Decimal
) -> Decimal:
    """Initial margin of `volume` lots in the account currency: the instrument's own figure
    when the broker gives one, else the notional over the account's leverage."""
    if instrument.margin_initial:
        return instrument.margin_initial * volume * rate
    return instrument.notional(volume, price) * rate / leverage


def account_state(
    book: Book,
    instruments: Mapping[str, Instrument],
    quotes: Mapping[str, QuoteTick],
    realised_today: Decimal,
    leverage: Decimal,
) -> AccountState:
    """The account as the gate must see it, from the book and the latest quotes.

    Equity is the balance plus every position marked where it would close (bid for a long,
    ask for a short). The daily P&L is the net realised P&L of the deals since the day began
    (00:00 UTC) plus the open P&L now: a position carried over from yesterday counts its whole
    open loss against today, the cautious reading. Margin and gross exposure are valued at
    the marks and converted to the account currency; a position with no quote yet is valued
    at its entry price.
    """
    net: dict[str, Decimal] = {}
    rates: dict[str, Decimal] = {}
    for instrument in instruments.values():
        try:
            rates[instrument.currency_profit] = book.rates.rate(
                instrument.currency_profit, book.currency
            )
        except RateError:
            continue  # the gate refuses orders it cannot value
    open_pnl = used = gross = Decimal(0)
    for pos in book:
        net[pos.symbol] = net.get(pos.symbol, Decimal(0)) + pos.volume
        spec = instruments.get(pos.symbol)
        rate = None if spec is None else rates.get(spec.currency_profit)
        if spec is None or rate is None:
            continue  # cannot be valued here: the gate judges what it can
        instrument = spec
        quote = quotes.get(pos.symbol)
        long = pos.volume > 0
        mark = pos.avg_price if quote is None else Decimal(repr(quote.bid if long else quote.ask))
        size = abs(pos.volume)
        open_pnl += instrument.profit(size, pos.avg_price, mark, long=long) * rate
        used += margin_needed(instrument, size, mark, rate, leverage)
        gross += instrument.notional(size, mark) * rate
    return AccountState(
        equity=book.balance + open_pnl,
        currency=book.currency,
        daily_pnl=realised_today + open_pnl,
        used_margin=used,
        gross_exposure=gross,
        net_volume=net,
        to_account=rates,
    )


@dataclass(frozen=True, slots=True)
class RiskDecision:
    accepted: bool
    reason: Reason | None = None
    detail: str = ""


ACCEPTED = RiskDecision(True)


class KillSwitch:
    """Per account and global: while engaged, only the switch's own flattening passes."""

    def __init__(self) -> None:
        self._engaged: dict[str, bool] = {}  # scope -> flatten

    def engage(self, scope: str = GLOBAL, flatten: bool = False) -> None:
        self._engaged[scope] = flatten

    def rearm(self, scope: str = GLOBAL) -> None:
        self._engaged.pop(scope, None)

    def engaged(self, account: str) -> bool:
        return GLOBAL in self._engaged or account in self._engaged

    def flatten(self, account: str) -> bool:
        return self._engaged.get(account, False) or self._engaged.get(GLOBAL, False)


def closes_only(order: Order, net: Decimal) -> bool:
    """Whether the order only reduces the `net` position it trades against (it may close
    it, never reverse it): what stays allowed when new risk is not."""
    signed = order.volume if order.side is Side.BUY else -order.volume
    return net * signed < 0 and order.volume <= abs(net)


class RiskGate:
    def __init__(
        self, account: str, limits: RiskLimits, kill_switch: KillSwitch | None = None
    ) -> None:
        self.account = account
        self.limits = limits
        self.kill_switch = kill_switch or KillSwitch()
        self._client_ids: set[str] = set()
        self._recent: deque[int] = deque()
        self._repeats: dict[tuple[str, Side, Decimal], deque[int]] = {}

    def check(
        self,
        order: Order,
        instrument: Instrument,
        quote: QuoteTick | None,
        account: AccountState,
        now: int,
    ) -> RiskDecision:
        """Every check in turn; the first refusal stands. Only an accepted order is counted
        towards the order-rate and repeat limits."""
        lim = self.limits
        net = account.net_volume.get(order.symbol, Decimal(0))
        signed = order.volume if order.side is Side.BUY else -order.volume
        reduces = closes_only(order, net)
        flattening = order.strategy == KILL_SWITCH and reduces
        if self.kill_switch.engaged(self.account) and not flattening:
            return _no(Reason.KILL_SWITCH, "the kill switch is engaged; re-arm it to trade")
        if order.client_order_id in self._client_ids:
            return _no(Reason.DUPLICATE_CLIENT_ID, f"{order.client_order_id} was already sent")
        if account.daily_pnl <= -lim.daily_loss_halt and not flattening:
            return _no(Reason.HALTED, f"daily loss {-account.daily_pnl} reached the halt limit")
        if account.daily_pnl <= -lim.daily_loss_reduce_only and not reduces:
            return _no(Reason.REDUCE_ONLY, "daily loss limit reached: only reducing orders")
        if order.symbol in lim.restricted:
            return _no(Reason.RESTRICTED_SYMBOL, f"{order.symbol} is restricted")
        mode = instrument.trade_mode
        if (
            mode is TradeMode.DISABLED
            or (mode is TradeMode.CLOSE_ONLY and not reduces)
            or (mode is TradeMode.LONG_ONLY and order.side is Side.SELL and not reduces)
            or (mode is TradeMode.SHORT_ONLY and order.side is Side.BUY and not reduces)
        ):
            return _no(Reason.TRADE_DISABLED, f"{order.symbol} trade mode is {mode.name}")
        windows = lim.sessions.get(order.symbol)
        if windows and not any(w.contains(now) for w in windows):
            return _no(Reason.OUTSIDE_SESSION, f"{order.symbol} is outside its trading session")
        if quote is None:
            return _no(Reason.NO_QUOTE, f"no quote for {order.symbol} yet")
        if now - quote.ts > lim.quote_max_age_ns:
            age = (now - quote.ts) / 1e9
            return _no(Reason.STALE_QUOTE, f"the last {order.symbol} quote is {age:.1f}s old")
        if lim.max_spread_points is not None:
            spread = instrument.price_in_points(quote.ask - quote.bid)
            if spread > lim.max_spread_points:
                return _no(Reason.MAX_SPREAD, f"spread {spread} points > {lim.max_spread_points}")
        reference = Decimal(str(quote.ask if order.side is Side.BUY else quote.bid))
        for name, price in (("price", order.price), ("stop price", order.stop_price)):
            if price is not None and abs(price - reference) > reference * lim.collar_fraction:
                return _no(
                    Reason.PRICE_COLLAR,
                    f"{name} {price} is more than {lim.collar_fraction:%} from {reference}",
                )
        try:
            instrument.check_volume(order.volume)
        except InstrumentError as exc:
            return _no(Reason.INVALID_VOLUME, str(exc))
        if order.priced:  # a plain market order has nothing more a broker could refuse
            bid_ask = (Decimal(repr(quote.bid)), Decimal(repr(quote.ask)))
            wrong = [r for r in refusals(order, instrument, bid_ask, now) if r.field != "volume"]
            if wrong:
                return _no(Reason.INVALID_ORDER, f"{wrong[0].field}: {wrong[0].message}")
        if order.volume > lim.max_order_volume:
            return _no(Reason.MAX_ORDER_SIZE, f"{order.volume} lots > {lim.max_order_volume}")
        price = (
            order.price if order.order_type is not OrderType.MARKET and order.price else reference
        )
        ccy = instrument.currency_profit
        rate = Decimal(1) if ccy == account.currency else account.to_account.get(ccy)
        if rate is None:
            return _no(Reason.NO_QUOTE, f"no quote converts {ccy} to {account.currency}")
        notional = instrument.notional(order.volume, price) * rate
        if notional > lim.max_order_notional:
            return _no(Reason.MAX_NOTIONAL, f"notional {notional:.0f} > {lim.max_order_notional}")
        if not reduces:
            after = abs(net + signed)
            if after > lim.max_position_volume:
                return _no(Reason.MAX_POSITION, f"{order.symbol} would be {after} lots")
            if account.gross_exposure + notional > lim.max_gross_exposure:
                return _no(Reason.MAX_GROSS_EXPOSURE, "gross exposure limit reached")
            margin = margin_needed(instrument, order.volume, price, rate, lim.leverage)
            if margin > account.free_margin:
                return _no(
                    Reason.INSUFFICIENT_MARGIN,
                    f"needs {margin:.2f} margin, {account.free_margin:.2f} free",
                )
        recent = self._recent
        while recent and recent[0] <= now - lim.rate_window_ns:
            recent.popleft()
        if len(recent) >= lim.max_orders_per_window:
            return _no(
                Reason.ORDER_RATE, f"more than {lim.max_orders_per_window} orders in the window"
            )
        same = self._repeats.get((order.symbol, order.side, order.volume))
        if same is not None:
            while same and same[0] <= now - lim.repeat_window_ns:
                same.popleft()
            if len(same) >= lim.max_repeats:
                return _no(Reason.REPEATED_ORDER, "the same order repeats too often")
        self._record(order, now)  # an accepted order counts towards the rate limits
        return ACCEPTED

    def remember(self, client_order_id: str) -> None:
        """A client order id sent before a restart: never accept it again."""
        self._client_ids.add(client_order_id)

    def _record(self, order: Order, now: int) -> None:
        self._client_ids.add(order.client_order_id)
        self._recent.append(now)
        key = (order.symbol, order.side, order.volume)
        self._repeats.setdefault(key, deque()).append(now)


def _no(reason: Reason, detail: str) -> RiskDecision:
    return RiskDecision(False, reason, detail)
