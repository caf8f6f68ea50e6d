"""Orders through the MetaTrader5 API, sent once and reconciled whenever the outcome is unknown.

The adapter refuses a second submission of a client order id. When order_send gives no reply,
a time-out, a generic error or a lost connection, the order is UNRESOLVED: `reconcile` looks
for it at the broker (working orders, positions, order and deal history, by magic number and
the client order id carried in the comment, over a day either side in server time), and only
an order proved absent may be sent again, once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from adapters.mt5.retcodes import Outcome, classify, describe
from domain.messages import FillReported, FillSource
from domain.orders import Fill, Order, OrderState, OrderType, Side, TimeInForce
from domain.replies import VenuePosition, VenueReport

# MT5 constants from the MQL5 reference (the MetaTrader5 package exports the same values)
TRADE_ACTION_DEAL = 1
TRADE_ACTION_PENDING = 5
TRADE_ACTION_MODIFY = 7
TRADE_ACTION_REMOVE = 8
ORDER_TYPES = {
    (Side.BUY, OrderType.MARKET): 0,
    (Side.SELL, OrderType.MARKET): 1,
    (Side.BUY, OrderType.LIMIT): 2,
    (Side.SELL, OrderType.LIMIT): 3,
    (Side.BUY, OrderType.STOP): 4,
    (Side.SELL, OrderType.STOP): 5,
    (Side.BUY, OrderType.STOP_LIMIT): 6,
    (Side.SELL, OrderType.STOP_LIMIT): 7,
}
ORDER_FILLING_FOK, ORDER_FILLING_IOC, ORDER_FILLING_RETURN = 0, 1, 2
ORDER_TIME_GTC, ORDER_TIME_DAY, ORDER_TIME_SPECIFIED = 0, 1, 2
DEAL_TYPE_BUY = 0
DEAL_TYPE_SELL = 1
DEAL_REASON_EXPERT = 3  # placed through the API: one of the platform's own orders
# why the broker made a deal of its own, as the books name its provenance (Fill.reason)
_BROKER_REASONS = {4: "sl", 5: "tp", 6: "so"}
ORDER_STATES = {
    0: OrderState.SUBMITTED,  # started
    1: OrderState.ACCEPTED,  # placed
    2: OrderState.CANCELLED,
    3: OrderState.PARTIALLY_FILLED,
    4: OrderState.FILLED,
    5: OrderState.REJECTED,
    6: OrderState.EXPIRED,
    7: OrderState.SUBMITTED,  # request_add
    8: OrderState.ACCEPTED,  # request_modify
    9: OrderState.CANCEL_REQUESTED,  # request_cancel
}
_MIN_COMMENT_MATCH = 8  # some brokers cut the comment; a prefix this long still identifies it
_HISTORY_START = datetime(2000, 1, 1)  # before any account's first deal; 1970 fails on Windows


class DuplicateSubmissionError(RuntimeError):
    pass


@dataclass(frozen=True)
class SubmitResult:
    outcome: Outcome
    detail: str
    broker_order_id: str | None = None
    deal_id: str | None = None


@dataclass(frozen=True)
class BrokerPosition:
    ticket: str
    symbol: str
    side: Side
    volume: Decimal
    price_open: Decimal
    magic: int
    comment: str


@dataclass(frozen=True)
class BrokerOrder:
    ticket: str
    client_order_id: str  # from the comment, as far as the broker kept it
    symbol: str
    side: Side
    order_type: OrderType
    volume: Decimal  # still to fill
    price: Decimal
    magic: int


@dataclass(frozen=True)
class Reconciliation:
    found: bool
    state: OrderState | None = None
    broker_order_id: str | None = None
    fills: list[Fill] = field(default_factory=list)


@dataclass(frozen=True)
class History:
    """What the terminal holds: working orders, order history and deal history."""

    working: tuple[Any, ...]
    orders: tuple[Any, ...]
    deals: tuple[Any, ...]

    @property
    def deal_ids(self) -> set[str]:
        return {str(d.ticket) for d in self.deals}

    @functools.cached_property
    def _comments(self) -> frozenset[str]:
        return frozenset(o.comment for o in (*self.working, *self.orders) if o.comment)

    def mentions(self, client_order_id: str) -> bool:
        """Whether any order here may carry this id (whole, or cut to a prefix by the broker):
        a set look-up, so asking about every new order costs nothing against a day's history."""
        cuts = range(_MIN_COMMENT_MATCH, len(client_order_id))
        ids = self._comments
        return client_order_id in ids or any(client_order_id[:k] in ids for k in cuts)


@dataclass(frozen=True)
class Opening:
    """The account as the broker keeps it, which the books start from."""

    balance: Decimal
    currency: str
    deposit: Decimal  # paid in and out: the balance less what every trade in its history did


class AccountUnavailableError(RuntimeError):
    pass


class Mt5Broker:
    def __init__(
        self,
        mt5: Any,
        magic_for: Callable[[str | None], int],
        server_now: Callable[[], datetime],
        deviation_points: int = 10,
        filling: int = ORDER_FILLING_IOC,
    ) -> None:
        self._mt5 = mt5
        self._magic_for = magic_for
        self._server_now = server_now
        self._deviation = deviation_points
        self._filling = filling
        self._sent: set[str] = set()
        self._resent: set[str] = set()

    def submit(self, order: Order) -> SubmitResult:
        cid = order.client_order_id
        if cid in self._sent:
            raise DuplicateSubmissionError(f"order {cid} was already sent to MT5")
        self._sent.add(cid)
        result = self._mt5.order_send(self.request(order))
        if result is None:
            code = self._mt5.last_error()[0]
            return SubmitResult(Outcome.UNKNOWN, describe(None, code))
        outcome = classify(result.retcode)
        return SubmitResult(
            outcome,
            describe(result.retcode),
            str(result.order) if result.order else None,
            str(result.deal) if result.deal else None,
        )

    def check(self, order: Order) -> SubmitResult:
        """order_check: margin, volume and price checked by the terminal, nothing sent."""
        result = self._mt5.order_check(self.request(order))
        if result is None:
            return SubmitResult(Outcome.UNKNOWN, describe(None, self._mt5.last_error()[0]))
        if result.retcode == 0:  # order_check's "all correct"
            return SubmitResult(Outcome.DONE, "checked")
        return SubmitResult(
            classify(result.retcode), f"{describe(result.retcode)}: {result.comment}"
        )

    def allow_retry(self, order: Order, result: SubmitResult) -> None:
        """After a reply that proves the order was not placed (requote, busy, rejected)."""
        if result.outcome is Outcome.UNKNOWN or result.outcome is Outcome.DONE:
            raise DuplicateSubmissionError(
                f"order {order.client_order_id}: {result.outcome} is no proof it was not placed"
            )
        self._sent.discard(order.client_order_id)

    def cancel(self, broker_order_id: str) -> SubmitResult:
        """Remove a resting order (TRADE_ACTION_REMOVE); unknown outcomes are reconciled too."""
        result = self._mt5.order_send(
            {"action": TRADE_ACTION_REMOVE, "order": int(broker_order_id)}
        )
        if result is None:
            return SubmitResult(Outcome.UNKNOWN, describe(None, self._mt5.last_error()[0]))
        return SubmitResult(classify(result.retcode), describe(result.retcode), broker_order_id)

    def modify(self, broker_order_id: str, price: Decimal) -> SubmitResult:
        """A resting order's new price (TRADE_ACTION_MODIFY); MT5 cannot change its volume."""
        request = {
            "action": TRADE_ACTION_MODIFY,
            "order": int(broker_order_id),
            "price": float(price),
        }
        result = self._mt5.order_send(request)
        if result is None:
            return SubmitResult(Outcome.UNKNOWN, describe(None, self._mt5.last_error()[0]))
        return SubmitResult(classify(result.retcode), describe(result.retcode), broker_order_id)

    def resting_price(self, broker_order_id: str) -> Decimal | None:
        """The price a resting order has at the broker now, or None if it is not resting."""
        for order in self._mt5.orders_get() or ():
            if str(order.ticket) == broker_order_id:
                return Decimal(str(order.price_open))
        return None

    def request(self, order: Order) -> dict[str, Any]:
        market = order.order_type is OrderType.MARKET
        request: dict[str, Any] = {
            "action": TRADE_ACTION_DEAL if market else TRADE_ACTION_PENDING,
            "symbol": order.symbol,
            "volume": float(order.volume),
            "type": ORDER_TYPES[(order.side, order.order_type)],
            "magic": self._magic_for(order.strategy),
            "comment": order.client_order_id,
            "deviation": self._deviation,
            "type_filling": {
                TimeInForce.FOK: ORDER_FILLING_FOK,
                TimeInForce.IOC: ORDER_FILLING_IOC,
            }.get(order.time_in_force, self._filling if market else ORDER_FILLING_RETURN),
            "type_time": {
                TimeInForce.DAY: ORDER_TIME_DAY,
                TimeInForce.GTD: ORDER_TIME_SPECIFIED,
            }.get(order.time_in_force, ORDER_TIME_GTC),
        }
        if market:
            tick = self._mt5.symbol_info_tick(order.symbol)
            request["price"] = tick.ask if order.side is Side.BUY else tick.bid
        else:
            # Order guarantees the prices its type needs; MT5 wants the trigger in `price`
            trigger = order.stop_price if order.stop_price is not None else order.price
            assert trigger is not None
            request["price"] = float(trigger)
            if order.order_type is OrderType.STOP_LIMIT:
                assert order.price is not None
                request["stoplimit"] = float(order.price)
        if order.stop_loss is not None:
            request["sl"] = float(order.stop_loss)
        if order.take_profit is not None:
            request["tp"] = float(order.take_profit)
        if order.expire_at is not None:
            request["expiration"] = order.expire_at // 1_000_000_000
        return request

    def reconcile(self, order: Order) -> Reconciliation:
        """Find the order at the broker by magic number and comment."""
        return self.match(order, self.history(order.symbol))

    def history(self, symbol: str | None = None) -> History:
        """Working orders, and order and deal history a day either side of now (server time)."""
        now = self._server_now()
        start, end = now - timedelta(days=1), now + timedelta(days=1)
        working = self._mt5.orders_get(symbol=symbol) if symbol else self._mt5.orders_get()
        return History(
            tuple(working or ()),
            tuple(self._mt5.history_orders_get(start, end, group="*") or ()),
            tuple(self._mt5.history_deals_get(start, end, group="*") or ()),
        )

    def match(self, order: Order, history: History) -> Reconciliation:
        """What `history` holds of this order; pure, so one fetch serves many orders."""
        mine = _matcher(order.client_order_id, self._magic_for(order.strategy))
        working = [o for o in history.working if o.symbol == order.symbol and mine(o)]
        orders = [o for o in history.orders if mine(o)]
        tickets = {o.ticket for o in (*working, *orders)}
        deals = [d for d in history.deals if d.order in tickets or mine(d)]
        if not working and not orders and not deals:
            return Reconciliation(found=False)
        fills = [_fill(d, order.client_order_id) for d in sorted(deals, key=lambda d: d.time_msc)]
        if working:
            state = ORDER_STATES.get(working[-1].state, OrderState.ACCEPTED)
            ticket = working[-1].ticket
        elif orders:
            state = ORDER_STATES.get(orders[-1].state, OrderState.FILLED)
            ticket = orders[-1].ticket
        else:
            state, ticket = OrderState.FILLED, deals[-1].order
        return Reconciliation(True, state, str(ticket), fills)

    def find(
        self, client_order_id: str, history: History, strategy_of_magic: Mapping[int, str]
    ) -> tuple[Order, Reconciliation] | None:
        """An order of ours known by its client id alone (no symbol, no strategy): the order
        as it was sent, rebuilt from the broker's record of it, and what became of it."""
        if not history.mentions(client_order_id):  # a new order: no scan of the history
            return None
        kinds = {code: kind for kind, code in ORDER_TYPES.items()}
        for magic, strategy in strategy_of_magic.items():
            mine = _matcher(client_order_id, magic)
            record = next((o for o in (*history.working, *history.orders) if mine(o)), None)
            if record is None or record.type not in kinds:
                continue
            side, order_type = kinds[record.type]
            price = Decimal(str(record.price_open)) if order_type is not OrderType.MARKET else None
            stop = order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
            order = Order(
                client_order_id,
                record.symbol,
                side,
                Decimal(str(record.volume_initial)),
                order_type,
                price=None if stop else price,
                stop_price=price if stop else None,
                strategy=strategy,
            )
            return order, self.match(order, history)
        return None

    def snapshot(self, magics: set[int]) -> tuple[list[BrokerPosition], list[BrokerOrder]]:
        """Open positions and resting orders of these magic numbers: the truth after a restart."""
        positions = [
            BrokerPosition(
                str(p.ticket),
                p.symbol,
                Side.BUY if p.type == 0 else Side.SELL,
                Decimal(str(p.volume)),
                Decimal(str(p.price_open)),
                p.magic,
                p.comment or "",
            )
            for p in (self._mt5.positions_get() or ())
            if p.magic in magics
        ]
        kinds = {code: kind for kind, code in ORDER_TYPES.items()}
        orders = [
            BrokerOrder(
                str(o.ticket),
                o.comment or f"mt5-{o.ticket}",
                o.symbol,
                *kinds[o.type],
                Decimal(str(o.volume_current)),
                Decimal(str(o.price_open)),
                o.magic,
            )
            for o in (self._mt5.orders_get() or ())
            if o.magic in magics and o.type in kinds
        ]
        return positions, orders

    def opening(self) -> Opening:
        """Balance and currency from `account_info`; the deposit is the balance less what every
        trade in the account's history did to it, so that the books, which record those
        trades as deals, come to the broker's balance."""
        info = self._mt5.account_info()
        if info is None:
            raise AccountUnavailableError(f"account_info failed: {self._mt5.last_error()}")
        end = self._server_now() + timedelta(days=1)
        deals = self._mt5.history_deals_get(_HISTORY_START, end, group="*") or ()
        traded = sum((_cash(d) for d in deals if _trade(d)), start=Decimal(0))
        balance = Decimal(str(info.balance))
        return Opening(balance, str(info.currency), balance - traded)

    def statement(
        self, since_ns: int, strategy_of_magic: Mapping[int, str], ids: Mapping[str, str]
    ) -> VenueReport:
        """The account as the broker states it: every trade deal from `since_ns` (the deals'
        own server-time clock), every open position and the balance. Positions and balance
        are read first: a deal made meanwhile is then among the deals, never only in a
        position. `ids`: our client order ids by the broker's order ticket."""
        info = self._mt5.account_info()
        if info is None:
            raise AccountUnavailableError(f"account_info failed: {self._mt5.last_error()}")
        positions = [
            VenuePosition(
                position_id=str(p.ticket),
                symbol=str(p.symbol),
                volume=Decimal(str(p.volume)) * (1 if p.type == 0 else -1),
                avg_price=Decimal(str(p.price_open)),
            )
            for p in (self._mt5.positions_get() or ())
        ]
        start = max(datetime(1970, 1, 1) + timedelta(microseconds=since_ns // 1000), _HISTORY_START)
        end = self._server_now() + timedelta(days=1)
        deals = self._mt5.history_deals_get(start, end, group="*") or ()
        fills = []
        for deal in sorted((d for d in deals if _trade(d)), key=lambda d: d.time_msc):
            ours = deal.reason == DEAL_REASON_EXPERT
            strategy = strategy_of_magic.get(deal.magic) if ours else None
            reason = _BROKER_REASONS.get(deal.reason, "order" if ours else "broker")
            named = deal.comment if ours and deal.comment else f"mt5-{deal.order}"
            cid = ids.get(str(deal.order), named)
            source = FillSource.of(reason, strategy, known=ours, direct=False)
            fill = _fill(deal, cid, reason)
            fills.append(FillReported.of(fill, str(deal.symbol), source=source, strategy=strategy))
        return VenueReport(
            fills=fills,
            positions=positions,
            balance=Decimal(str(info.balance)),
            currency=str(info.currency),
        )

    def allow_resend(self, order: Order, reconciliation: Reconciliation) -> None:
        """After the broker proved it never got the order: it may be sent once more."""
        cid = order.client_order_id
        if reconciliation.found:
            raise DuplicateSubmissionError(f"order {cid} exists at the broker; not re-sending")
        if cid in self._resent:
            raise DuplicateSubmissionError(f"order {cid} was already re-sent once")
        self._resent.add(cid)
        self._sent.discard(cid)


def _matcher(client_order_id: str, magic: int) -> Callable[[Any], bool]:
    def mine(item: Any) -> bool:
        comment = getattr(item, "comment", "") or ""
        if item.magic != magic or not comment:
            return False
        return comment == client_order_id or (
            len(comment) >= _MIN_COMMENT_MATCH and client_order_id.startswith(comment)
        )

    return mine


def unbidden(history: History, known: set[str]) -> list[tuple[Fill, str]]:
    """Deals the platform did not place, with their symbols: a stop-loss or take-profit the
    server triggered, a stop-out, a trade typed into the terminal (by its reason, not its
    magic: a position's own magic number stays on its server-side close). `known`: deal
    tickets already reported, or held at the start."""
    found = []
    for deal in history.deals:
        ticket = str(deal.ticket)
        if ticket in known or deal.reason == DEAL_REASON_EXPERT or not _trade(deal):
            continue
        fill = _fill(deal, f"mt5-{deal.order}", _BROKER_REASONS.get(deal.reason, "broker"))
        found.append((fill, str(deal.symbol)))
    return found


def _trade(deal: Any) -> bool:
    """A buy or a sell; not a balance operation, credit, charge or correction."""
    return deal.type in (DEAL_TYPE_BUY, DEAL_TYPE_SELL)


def _cash(deal: Any) -> Decimal:
    """What a deal did to the balance."""
    figures = (deal.profit, deal.commission, deal.swap, deal.fee)
    return sum((Decimal(str(x)) for x in figures), start=Decimal(0))


def _fill(deal: Any, client_order_id: str, reason: str = "order") -> Fill:
    """A deal as the books take it: the money as the broker reports it. MT5 books commission
    and fee as negative amounts, swap as the amount credited, profit in the account currency."""
    return Fill(
        fill_id=str(deal.ticket),
        client_order_id=client_order_id,
        side=Side.BUY if deal.type == DEAL_TYPE_BUY else Side.SELL,
        volume=Decimal(str(deal.volume)),
        price=Decimal(str(deal.price)),
        ts=int(deal.time_msc) * 1_000_000,
        commission=-(Decimal(str(deal.commission)) + Decimal(str(deal.fee))),
        position_id=str(deal.position_id) if deal.position_id else None,
        reason=reason,
        swap=Decimal(str(deal.swap)),
        profit=Decimal(str(deal.profit)),
    )


def server_clock(offset_hours: float = 0.0) -> Callable[[], datetime]:
    """Broker server time is often UTC+2/+3; history queries are made in it."""

    def now() -> datetime:
        return datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=offset_hours)

    return now


def magic_numbers(mapping: Mapping[str, int], default: int = 1) -> Callable[[str | None], int]:
    """Each strategy has its own MT5 magic number."""

    def magic_for(strategy: str | None) -> int:
        return mapping.get(strategy or "", default)

    return magic_for
