"""The paper broker: a matching engine over the price path, with the costs a real one has.

- Buys fill at the ask and sells at the bid. With bid bars only, the ask is the bid plus
  `spread_points`; with ask bars too (FX data comes in both), the real spread is charged.
- Market orders fill at the next price: the next tick, or the next bar's open. With one-sided
  bars and no costs, a market order decided at bar t's close fills exactly at bar t+1's open.
- Limit, stop and stop-limit orders trigger on the tick, or on the bar's range; a bar that
  opens through the price fills at the open (the gap), otherwise at the order's price.
- Stop-loss and take-profit close the position they were attached to; when one bar reaches
  both, the stop-loss is assumed first (the conservative reading of a bar).
- Partial fills: at most `max_fill_lots`, and at most `max_fill_fraction` of the bar's or
  tick's volume, per price event. IOC cancels what is left after the first chance; FOK is
  refused when it cannot fill whole.
- Slippage (adverse, in points), commission per lot per side, swap at the daily rollover
  (three days' worth on Wednesday), DAY orders expire at the rollover, GTD at their time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from domain.instruments import Instrument, InstrumentError
from domain.market import Bar, QuoteTick
from domain.orders import Fill, Order, OrderType, Side, TimeInForce
from domain.venue import (
    Accepted,
    Amended,
    BrokerEvent,
    Cancelled,
    Expired,
    Filled,
    Rejected,
    SwapCharged,
)

NANOS_PER_DAY = 86_400 * 1_000_000_000
ZERO = Decimal(0)


@dataclass(frozen=True)
class PaperConfig:
    spread_points: int = 0
    slippage_points: int = 0
    commission_per_lot: Decimal = ZERO  # account currency, per side
    max_fill_lots: Decimal | None = None
    max_fill_fraction: float | None = None  # of the bar's or tick's volume
    rollover_minute: int = 0  # minutes after midnight UTC
    triple_swap_weekday: int = 2  # Wednesday


@dataclass(slots=True)
class _Working:
    """The broker's own view of an order: it counts its fills, as a real venue would."""

    order: Order
    filled: Decimal = ZERO
    triggered: bool = False  # stop-limit: the stop was touched, now a limit

    @property
    def leaves(self) -> Decimal:
        return self.order.volume - self.filled


@dataclass(slots=True)
class _Bracket:
    position_id: str
    symbol: str
    side: Side  # of the position
    volume: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None


@dataclass(slots=True)
class _Prices:
    """One price event as the broker sees it: bid and ask path, and its volume."""

    ts: int
    bid_open: float
    bid_high: float
    bid_low: float
    ask_open: float
    ask_high: float
    ask_low: float
    volume: float


class PaperBroker:
    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        config: PaperConfig | None = None,
        hedging: bool = False,
        ids: Callable[[str], str] | None = None,
    ) -> None:
        self.instruments = instruments
        self.config = config or PaperConfig()
        self.hedging = hedging
        self._working: dict[str, _Working] = {}
        self._brackets: dict[str, _Bracket] = {}
        self._positions: dict[str, tuple[str, Side, Decimal]] = {}  # id -> symbol, side, volume
        self._counter = 0
        self._ids = ids or self._next_id
        self._last_day: int | None = None

    def _next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    # --- orders -----------------------------------------------------------------------
    def submit(self, order: Order, now: int) -> list[BrokerEvent]:
        instrument = self.instruments.get(order.symbol)
        if instrument is None:
            return [Rejected(order.client_order_id, f"unknown symbol {order.symbol}")]
        try:
            instrument.check_volume(order.volume)
        except InstrumentError as exc:
            return [Rejected(order.client_order_id, str(exc))]
        if order.client_order_id in self._working:
            return [Rejected(order.client_order_id, "duplicate client order id")]
        self._working[order.client_order_id] = _Working(order)
        return [Accepted(order.client_order_id, self._ids("T"))]

    def amend(
        self, client_order_id: str, price: Decimal | None, volume: Decimal | None
    ) -> list[BrokerEvent]:
        working = self._working.get(client_order_id)
        if working is None:
            return [Rejected(client_order_id, "no such working order")]
        order = working.order
        if volume is not None:
            try:
                self.instruments[order.symbol].check_volume(volume)
            except InstrumentError as exc:
                return [Rejected(client_order_id, str(exc))]
            if volume <= working.filled:
                return [Rejected(client_order_id, "volume must stay above what is filled")]
        return [Amended(client_order_id, price, volume)]

    def cancel(self, client_order_id: str) -> list[BrokerEvent]:
        if self._working.pop(client_order_id, None) is None:
            return [Rejected(client_order_id, "no such working order")]
        return [Cancelled(client_order_id, "cancelled")]

    @property
    def active(self) -> bool:
        """Anything for a price to act on: working orders or brackets."""
        return bool(self._working) or bool(self._brackets)

    # --- recovery ---------------------------------------------------------------------------
    def restore_order(self, order: Order) -> None:
        """Put back a working order recorded before a restart (no events: nothing new happened)."""
        self._working[order.client_order_id] = _Working(order)
        self._skip_ids(order.broker_order_id)

    def restore_fill(self, fill: Fill, symbol: str, order: Order | None) -> None:
        """Re-apply a fill recorded before a restart: working quantities, positions, brackets."""
        working = self._working.get(fill.client_order_id)
        if working is not None:
            working.filled += fill.volume
            if working.leaves == 0:
                del self._working[fill.client_order_id]
        if order is not None:
            self._book(order, fill)
        else:  # a bracket's close: the position it closed is gone
            key = fill.position_id if self.hedging and fill.position_id else symbol
            self._positions.pop(key, None)
            self._brackets.pop(key, None)
        self._skip_ids(fill.fill_id)

    def restore_removed(self, client_order_id: str) -> None:
        """A recorded cancel, expiry or rejection."""
        self._working.pop(client_order_id, None)

    def recall(self, client_order_id: str) -> tuple[Order, list[BrokerEvent]] | None:
        """Nothing to find: the journal restored every order this venue ever took."""
        return None

    def _skip_ids(self, seen: str | None) -> None:
        digits = "".join(ch for ch in seen or "" if ch.isdigit())
        if digits:
            self._counter = max(self._counter, int(digits))

    def statement(self, since_ns: int) -> None:
        """Every deal of this broker passes through the engine: its record is the venue's."""
        return None

    def working(self) -> list[Order]:
        return [w.order for w in self._working.values()]

    def has_order(self, client_order_id: str) -> bool:
        return client_order_id in self._working

    # --- prices -----------------------------------------------------------------------
    def on_tick(self, tick: QuoteTick) -> list[BrokerEvent]:
        volume = tick.bid_volume + tick.ask_volume
        prices = _Prices(
            tick.ts, tick.bid, tick.bid, tick.bid, tick.ask, tick.ask, tick.ask, volume
        )
        return self._on_prices(tick.symbol, prices)

    def on_bar(self, bar: Bar, ask: Bar | None = None) -> list[BrokerEvent]:
        """A bid bar (and the matching ask bar when the data has one)."""
        if ask is None:
            spread = self.config.spread_points * float(self.instruments[bar.symbol].point)
            ask_open, ask_high, ask_low = bar.open + spread, bar.high + spread, bar.low + spread
        else:
            ask_open, ask_high, ask_low = ask.open, ask.high, ask.low
        prices = _Prices(
            bar.ts, bar.open, bar.high, bar.low, ask_open, ask_high, ask_low, bar.volume
        )
        return self._on_prices(bar.symbol, prices)

    def _on_prices(self, symbol: str, p: _Prices) -> list[BrokerEvent]:
        events: list[BrokerEvent] = []
        self._rollover(p.ts, events)
        for cid in [c for c, w in self._working.items() if w.order.symbol == symbol]:
            working = self._working.get(cid)
            if working is not None:
                self._work(working, p, events)
        self._check_brackets(symbol, p, events)
        return events

    def _work(self, w: _Working, p: _Prices, events: list[BrokerEvent]) -> None:
        order = w.order
        tif = order.time_in_force
        if tif is TimeInForce.GTD and order.expire_at is not None and p.ts >= order.expire_at:
            del self._working[order.client_order_id]
            events.append(Expired(order.client_order_id))
            return
        price = self._execution_price(w, p)
        if price is not None:
            cap = self._cap(w, p.volume)
            if tif is TimeInForce.FOK and cap < w.leaves:
                del self._working[order.client_order_id]
                events.append(Rejected(order.client_order_id, "FOK: cannot fill in full"))
                return
            if cap > 0:
                self._fill(w, cap, price, p.ts, events)
        if order.client_order_id in self._working and tif is TimeInForce.IOC:
            del self._working[order.client_order_id]
            events.append(Cancelled(order.client_order_id, "IOC: rest cancelled"))

    def _execution_price(self, w: _Working, p: _Prices) -> float | None:
        order = w.order
        buy = order.side is Side.BUY
        open_, high, low = (
            (p.ask_open, p.ask_high, p.ask_low) if buy else (p.bid_open, p.bid_high, p.bid_low)
        )
        kind = order.order_type
        if kind is OrderType.MARKET:
            return open_
        if kind in (OrderType.STOP, OrderType.STOP_LIMIT) and not w.triggered:
            assert order.stop_price is not None  # Order refuses stop orders without one
            stop = float(order.stop_price)
            touched = high >= stop if buy else low <= stop
            if not touched:
                return None
            if kind is OrderType.STOP:
                return max(open_, stop) if buy else min(open_, stop)
            w.triggered = True
            # within one bar we cannot tell whether the limit price came after the stop:
            # the limit works from the next price event on
            return None
        assert order.price is not None  # Order refuses limit orders without one
        limit = float(order.price)
        if buy and low <= limit:
            return min(open_, limit)
        if not buy and high >= limit:
            return max(open_, limit)
        return None

    def _cap(self, w: _Working, event_volume: float) -> Decimal:
        cfg = self.config
        cap = w.leaves
        if cfg.max_fill_lots is not None:
            cap = min(cap, cfg.max_fill_lots)
        if cfg.max_fill_fraction is not None:
            cap = min(cap, Decimal(str(event_volume * cfg.max_fill_fraction)))
        step = self.instruments[w.order.symbol].volume_step
        return (cap / step).quantize(Decimal(1), ROUND_DOWN) * step

    def _fill(
        self, w: _Working, volume: Decimal, raw: float, ts: int, events: list[BrokerEvent]
    ) -> None:
        order = w.order
        instrument = self.instruments[order.symbol]
        slip = self.config.slippage_points * float(instrument.point)
        price = instrument.round_price(raw + slip if order.side is Side.BUY else raw - slip)
        fill = Fill(
            self._ids("D"),
            order.client_order_id,
            order.side,
            volume,
            price,
            ts,
            self.config.commission_per_lot * volume,
        )
        w.filled += volume
        done = w.leaves == 0
        if done:
            del self._working[order.client_order_id]
        events.append(Filled(fill, order.symbol, done))
        self._book(order, fill)

    # --- positions the broker keeps for SL/TP and swap ------------------------------------
    def _book(self, order: Order, fill: Fill) -> None:
        key = fill.client_order_id if self.hedging else order.symbol
        symbol, side, volume = self._positions.get(key, (order.symbol, fill.side, ZERO))
        signed = (volume if side is Side.BUY else -volume) + (
            fill.volume if fill.side is Side.BUY else -fill.volume
        )
        if signed == 0:
            self._positions.pop(key, None)
            self._brackets.pop(key, None)
            return
        new_side = Side.BUY if signed > 0 else Side.SELL
        self._positions[key] = (symbol, new_side, abs(signed))
        bracket = self._brackets.get(key)
        if order.stop_loss is not None or order.take_profit is not None:
            self._brackets[key] = _Bracket(
                key, symbol, new_side, abs(signed), order.stop_loss, order.take_profit
            )
        elif bracket is not None:
            bracket.volume, bracket.side = abs(signed), new_side

    def _check_brackets(self, symbol: str, p: _Prices, events: list[BrokerEvent]) -> None:
        for key, b in list(self._brackets.items()):
            if b.symbol != symbol:
                continue
            long = b.side is Side.BUY
            # a long closes by selling at the bid; a short by buying at the ask
            open_, high, low = (
                (p.bid_open, p.bid_high, p.bid_low) if long else (p.ask_open, p.ask_high, p.ask_low)
            )
            hit: tuple[str, float] | None = None
            if b.stop_loss is not None:
                sl = float(b.stop_loss)
                if (low <= sl) if long else (high >= sl):
                    hit = ("sl", min(open_, sl) if long else max(open_, sl))
            if hit is None and b.take_profit is not None:
                tp = float(b.take_profit)
                if (high >= tp) if long else (low <= tp):
                    hit = ("tp", max(open_, tp) if long else min(open_, tp))
            if hit is None:
                continue
            reason, raw = hit
            instrument = self.instruments[symbol]
            fill = Fill(
                self._ids("D"),
                self._ids(reason.upper()),
                b.side.opposite,
                b.volume,
                instrument.round_price(raw),
                p.ts,
                self.config.commission_per_lot * b.volume,
                key if self.hedging else None,
                reason,
            )
            del self._brackets[key]
            self._positions.pop(key, None)
            events.append(Filled(fill, symbol, True))

    def _rollover(self, ts: int, events: list[BrokerEvent]) -> None:
        shifted = ts - self.config.rollover_minute * 60 * 1_000_000_000
        day = shifted // NANOS_PER_DAY
        if self._last_day is None:
            self._last_day = day
            return
        if day == self._last_day:
            return
        for rolled in range(self._last_day, day):
            weekday = (rolled + 3) % 7  # the day that ends at this rollover
            days = 3 if weekday == self.config.triple_swap_weekday else 1
            for key, (symbol, side, volume) in self._positions.items():
                ins = self.instruments[symbol]
                points = ins.swap_long if side is Side.BUY else ins.swap_short
                amount = points * ins.point * ins.contract_size * volume * days
                if amount:
                    events.append(SwapCharged(key, symbol, amount))
        for cid in [
            c for c, w in self._working.items() if w.order.time_in_force is TimeInForce.DAY
        ]:
            del self._working[cid]
            events.append(Expired(cid))
        self._last_day = day
