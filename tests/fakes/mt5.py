"""A MetaTrader5 module for tests, following the documented API: function names, the
TradeRequest / OrderSendResult / TradeOrder / TradeDeal / TradePosition field names, retcodes
and last_error codes. Tests queue the next outcomes of order_send, including the one that
matters most: the order is executed but the reply is lost.
"""

from __future__ import annotations

import itertools
from collections import deque
from datetime import datetime
from typing import Any, NamedTuple

TRADE_RETCODE_DONE = 10009
TRADE_RETCODE_PLACED = 10008
RES_S_OK = 1
RES_E_INTERNAL_FAIL_TIMEOUT = -10005


class TradeRequest(NamedTuple):
    action: int
    magic: int
    order: int
    symbol: str
    volume: float
    price: float
    stoplimit: float
    sl: float
    tp: float
    deviation: int
    type: int
    type_filling: int
    type_time: int
    expiration: int
    comment: str
    position: int
    position_by: int


def trade_request(request: dict[str, Any]) -> TradeRequest:
    """The request dict as the terminal echoes it back, absent fields zero as documented."""
    return TradeRequest(
        request["action"],
        request.get("magic", 0),
        request.get("order", 0),
        request.get("symbol", ""),
        request.get("volume", 0.0),
        request.get("price", 0.0),
        request.get("stoplimit", 0.0),
        request.get("sl", 0.0),
        request.get("tp", 0.0),
        request.get("deviation", 0),
        request.get("type", 0),
        request.get("type_filling", 0),
        request.get("type_time", 0),
        request.get("expiration", 0),
        request.get("comment", ""),
        request.get("position", 0),
        request.get("position_by", 0),
    )


class OrderSendResult(NamedTuple):
    retcode: int
    deal: int
    order: int
    volume: float
    price: float
    bid: float
    ask: float
    comment: str
    request_id: int
    retcode_external: int
    request: TradeRequest


class TradeOrder(NamedTuple):
    ticket: int
    time_setup: int
    time_setup_msc: int
    time_done: int
    time_done_msc: int
    time_expiration: int
    type: int
    type_time: int
    type_filling: int
    state: int
    magic: int
    position_id: int
    position_by_id: int
    reason: int
    volume_initial: float
    volume_current: float
    price_open: float
    sl: float
    tp: float
    price_current: float
    price_stoplimit: float
    symbol: str
    comment: str
    external_id: str


class TradeDeal(NamedTuple):
    ticket: int
    order: int
    time: int
    time_msc: int
    type: int
    entry: int
    magic: int
    position_id: int
    reason: int
    volume: float
    price: float
    commission: float
    swap: float
    profit: float
    fee: float
    symbol: str
    comment: str
    external_id: str


class TradePosition(NamedTuple):
    ticket: int
    time: int
    time_msc: int
    time_update: int
    time_update_msc: int
    type: int
    magic: int
    identifier: int
    reason: int
    volume: float
    price_open: float
    sl: float
    tp: float
    price_current: float
    swap: float
    profit: float
    symbol: str
    comment: str
    external_id: str


class SymbolInfo(NamedTuple):  # the fields the adapter reads, by their documented names
    name: str
    description: str
    digits: int
    point: float
    trade_tick_size: float
    trade_tick_value: float
    trade_contract_size: float
    volume_min: float
    volume_step: float
    volume_max: float
    trade_stops_level: int
    trade_mode: int
    currency_base: str
    currency_profit: str
    currency_margin: str
    margin_initial: float
    swap_long: float
    swap_short: float


class OrderCheckResult(NamedTuple):
    retcode: int
    balance: float
    equity: float
    profit: float
    margin: float
    margin_free: float
    margin_level: float
    comment: str
    request: TradeRequest


EURUSD_INFO = SymbolInfo(
    "EURUSD",
    "Euro vs US Dollar",
    5,
    1e-05,
    1e-05,
    1.0,
    100000.0,
    0.01,
    0.01,
    500.0,
    10,
    4,
    "EUR",
    "USD",
    "EUR",
    0.0,
    -6.9,
    1.2,
)


class Tick(NamedTuple):
    time: int
    bid: float
    ask: float
    last: float
    volume: int
    time_msc: int
    flags: int
    volume_real: float


class AccountInfo(NamedTuple):  # the documented fields the platform reads, and their peers
    login: int
    trade_mode: int
    leverage: int
    margin_mode: int  # 0 retail netting, 2 retail hedging
    balance: float
    credit: float
    profit: float
    equity: float
    margin: float
    margin_free: float
    currency: str
    server: str


CONTRACT_SIZE = EURUSD_INFO.trade_contract_size


class FakeMT5:
    """One account at one broker. `outcomes` holds what the next order_send calls do:
    "done", "reply_lost" (executed, no reply), "lost" (not executed, no reply), or a retcode
    (not executed, that reply)."""

    def __init__(
        self,
        bid: float = 1.1,
        ask: float = 1.1002,
        comment_limit: int = 31,
        netting: bool = False,
        balance: float = 10_000.0,
    ) -> None:
        self.bid, self.ask = bid, ask
        self.netting = netting  # one position per symbol, as on a netting account
        self.balance = balance
        self.comment_limit = comment_limit
        self.outcomes: deque[str | int] = deque()
        self.check_retcodes: deque[int] = deque()  # the next order_check answers; 0 = correct
        self.rates: list[tuple[int, float, float, float, float, int, int, int]] = []
        self.sent: list[dict[str, Any]] = []
        self.orders: list[TradeOrder] = []  # history
        self.working: list[TradeOrder] = []  # resting pending orders
        self.positions: list[TradePosition] = []  # hedging: one per opening deal
        self.deals: list[TradeDeal] = []
        self._last_error = (RES_S_OK, "Success")
        self._tickets = itertools.count(1000)
        self.now_ms = 1_700_000_000_000

    # --- the documented functions used by the adapter ----------------------------------
    def initialize(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def last_error(self) -> tuple[int, str]:
        return self._last_error

    def account_info(self) -> AccountInfo:
        floating = sum(_profit(p, self.bid if p.type == 0 else self.ask) for p in self.positions)
        equity = self.balance + floating + sum(p.swap for p in self.positions)
        return AccountInfo(
            5001, 0, 100, 0 if self.netting else 2, round(self.balance, 2), 0.0,
            round(floating, 2), round(equity, 2), 0.0, round(equity, 2), "USD", "Fake-Demo",
        )  # fmt: skip

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        return EURUSD_INFO if symbol == "EURUSD" else None

    def order_check(self, request: dict[str, Any]) -> OrderCheckResult:
        code = self.check_retcodes.popleft() if self.check_retcodes else 0
        comment = "Done" if code == 0 else "No money"
        req = trade_request(request)
        return OrderCheckResult(code, 10000.0, 10000.0, 0.0, 100.0, 9900.0, 10000.0, comment, req)

    def copy_rates_range(
        self, symbol: str, timeframe: int, date_from: datetime, date_to: datetime
    ) -> Any:
        import numpy as np

        start, end = date_from.timestamp(), date_to.timestamp()
        rows = [r for r in self.rates if start <= r[0] <= end]
        dtype = [
            ("time", "<i8"),
            ("open", "<f8"),
            ("high", "<f8"),
            ("low", "<f8"),
            ("close", "<f8"),
            ("tick_volume", "<u8"),
            ("spread", "<i4"),
            ("real_volume", "<u8"),
        ]
        return np.array(rows, dtype=dtype)

    def symbol_info_tick(self, symbol: str) -> Tick:
        return Tick(self.now_ms // 1000, self.bid, self.ask, 0.0, 0, self.now_ms, 6, 0.0)

    def order_send(self, request: dict[str, Any]) -> OrderSendResult | None:
        self.sent.append(dict(request))
        if request["action"] == 8:  # TRADE_ACTION_REMOVE
            return self._remove(int(request["order"]))
        if request["action"] == 7:  # TRADE_ACTION_MODIFY
            return self._modify(int(request["order"]), float(request["price"]))
        outcome = self.outcomes.popleft() if self.outcomes else "done"
        req = trade_request(request)
        if outcome in ("done", "reply_lost") and req.action == 5:  # TRADE_ACTION_PENDING
            order = self._place(req)
            if outcome == "reply_lost":
                self._last_error = (RES_E_INTERNAL_FAIL_TIMEOUT, "IPC timeout")
                return None
            return OrderSendResult(
                TRADE_RETCODE_PLACED,
                0,
                order,
                req.volume,
                req.price,
                self.bid,
                self.ask,
                "Request placed",
                1,
                0,
                req,
            )
        if outcome in ("done", "reply_lost"):
            order, deal, price = self._execute(req)
            if outcome == "reply_lost":
                self._last_error = (RES_E_INTERNAL_FAIL_TIMEOUT, "IPC timeout")
                return None
            self._last_error = (RES_S_OK, "Success")
            return OrderSendResult(
                TRADE_RETCODE_DONE,
                deal,
                order,
                req.volume,
                price,
                self.bid,
                self.ask,
                "Request executed",
                1,
                0,
                req,
            )
        if outcome == "lost":
            self._last_error = (RES_E_INTERNAL_FAIL_TIMEOUT, "IPC timeout")
            return None
        assert isinstance(outcome, int)
        self._last_error = (RES_S_OK, "Success")
        return OrderSendResult(outcome, 0, 0, 0.0, 0.0, self.bid, self.ask, "", 1, 0, req)

    def orders_get(self, symbol: str | None = None, **kwargs: Any) -> tuple[TradeOrder, ...]:
        return tuple(o for o in self.working if symbol is None or o.symbol == symbol)

    def fill_pending(self, ticket: int, price: float) -> None:
        """The market reached a resting order: it fills whole at `price`."""
        order = next(o for o in self.working if o.ticket == ticket)
        self.working.remove(order)
        secs = self.now_ms // 1000
        self.orders.append(order._replace(state=4, time_done=secs, time_done_msc=self.now_ms))
        side = 0 if order.type in (2, 4, 6) else 1
        self._deal(
            order.ticket, side, order.volume_initial, price, order.symbol, order.magic, 3,
            order.comment,
        )  # fmt: skip

    def close_by_broker(self, position_ticket: int, reason: int) -> TradeDeal:
        """The broker closes a position on its own: its stop-loss (reason 4) or take-profit
        (5) hit at the server, or a stop-out (6). The deal has no order of the client's."""
        position = next(p for p in self.positions if p.ticket == position_ticket)
        side = 1 if position.type == 0 else 0  # a long is closed by a sale at the bid
        price = self.bid if side == 1 else self.ask
        return self._deal(
            next(self._tickets), side, position.volume, price, position.symbol, position.magic,
            reason, "", closes=position,
        )  # fmt: skip

    def trade_by_hand(self, symbol: str, side: int, volume: float) -> TradeDeal:
        """A trader types an order into the terminal (reason 0, client): magic 0, no comment."""
        price = self.ask if side == 0 else self.bid
        return self._deal(next(self._tickets), side, volume, price, symbol, 0, 0, "")

    def quote(self, bid: float, ask: float) -> None:
        self.bid, self.ask = bid, ask

    def rollover(self, swap_per_lot: float) -> None:
        """The day's swap on every open position (negative: charged); MT5 keeps it on the
        position and books it to the balance on the deal that closes it."""
        self.positions = [
            p._replace(swap=round(p.swap + swap_per_lot * p.volume, 2)) for p in self.positions
        ]

    def _deal(
        self,
        order: int,
        side: int,
        volume: float,
        price: float,
        symbol: str,
        magic: int,
        reason: int,
        comment: str,
        closes: TradePosition | None = None,
    ) -> TradeDeal:
        """One deal, and what it does to the positions and the balance: on a netting account
        it adds to, reduces, closes or reverses the symbol's position; on a hedging account
        it opens its own unless it closes a given one. Profit, commission and the closed
        share of the position's swap are booked to the balance, rounded to cents."""
        if closes is None and self.netting:
            closes = next((p for p in self.positions if p.symbol == symbol), None)

        def open_position(volume: float, comment: str = "") -> None:  # ticketed as the order
            secs = self.now_ms // 1000
            self.positions.append(
                TradePosition(
                    order, secs, self.now_ms, secs, self.now_ms, side, magic, order, reason,
                    volume, price, 0.0, 0.0, price, 0.0, 0.0, symbol, comment, "",
                )
            )  # fmt: skip

        entry, profit, swap, position_id = 0, 0.0, 0.0, order  # DEAL_ENTRY_IN
        if closes is not None and closes.type == side:  # adds to it: the average price moves
            total = closes.volume + volume
            average = (closes.price_open * closes.volume + price * volume) / total
            self._replace(closes, closes._replace(volume=total, price_open=average))
            position_id = closes.ticket
        elif closes is not None:
            closed = min(volume, closes.volume)
            profit = round(_profit(closes, price, closed), 2)
            swap = round(closes.swap * closed / closes.volume, 2)
            position_id = closes.ticket
            left = round(closes.volume - closed, 8)
            entry = 1 if volume <= closes.volume else 2  # DEAL_ENTRY_OUT, or INOUT: reversed
            if left > 0:
                self._replace(closes, closes._replace(volume=left, swap=closes.swap - swap))
            else:
                self.positions.remove(closes)
            if volume > closed:
                open_position(round(volume - closed, 8))
        else:
            open_position(volume, comment)
        commission = round(-3.5 * volume, 2)  # brokers report money rounded to cents
        secs = self.now_ms // 1000
        deal = TradeDeal(
            next(self._tickets), order, secs, self.now_ms, side, entry, magic, position_id,
            reason, volume, price, commission, swap, profit, 0.0, symbol, comment, "",
        )  # fmt: skip
        self.deals.append(deal)
        self.balance = round(self.balance + profit + commission + swap, 2)
        return deal

    def _replace(self, old: TradePosition, new: TradePosition) -> None:
        self.positions[self.positions.index(old)] = new

    def _place(self, req: TradeRequest) -> int:
        ticket = next(self._tickets)
        secs = self.now_ms // 1000
        self.working.append(
            TradeOrder(
                ticket,
                secs,
                self.now_ms,
                0,
                0,
                0,
                req.type,
                req.type_time,
                req.type_filling,
                1,
                req.magic,
                0,
                0,
                3,
                req.volume,
                req.volume,
                req.price,
                req.sl,
                req.tp,
                req.price,
                req.stoplimit,
                req.symbol,
                req.comment[: self.comment_limit],
                "",
            )
        )
        return ticket

    def _modify(self, ticket: int, price: float) -> OrderSendResult:
        req = trade_request({"action": 7, "order": ticket, "price": price})
        for i, order in enumerate(self.working):
            if order.ticket == ticket:
                self.working[i] = order._replace(price_open=price)
                return OrderSendResult(
                    10009, 0, ticket, 0.0, price, self.bid, self.ask, "Request executed", 1, 0, req
                )
        return OrderSendResult(
            10013, 0, ticket, 0.0, 0.0, self.bid, self.ask, "Invalid request", 1, 0, req
        )

    def _remove(self, ticket: int) -> OrderSendResult:
        req = trade_request({"action": 8, "order": ticket})
        order = next((o for o in self.working if o.ticket == ticket), None)
        if order is None:
            return OrderSendResult(
                10013, 0, ticket, 0.0, 0.0, self.bid, self.ask, "Invalid request", 1, 0, req
            )
        self.working.remove(order)
        self.orders.append(order._replace(state=2, time_done=self.now_ms // 1000))
        return OrderSendResult(
            10009, 0, ticket, 0.0, 0.0, self.bid, self.ask, "Request executed", 1, 0, req
        )

    def positions_get(self, **kwargs: Any) -> tuple[TradePosition, ...]:
        return tuple(self.positions)

    def history_orders_get(
        self, date_from: datetime, date_to: datetime, **kw: Any
    ) -> tuple[TradeOrder, ...]:
        return tuple(o for o in self.orders if _within(o.time_setup, date_from, date_to))

    def history_deals_get(
        self, date_from: datetime, date_to: datetime, **kw: Any
    ) -> tuple[TradeDeal, ...]:
        return tuple(d for d in self.deals if _within(d.time, date_from, date_to))

    # --- the broker's side ----------------------------------------------------------------
    def _execute(self, req: TradeRequest) -> tuple[int, int, float]:
        order = next(self._tickets)
        price = self.ask if req.type == 0 else self.bid
        comment = req.comment[: self.comment_limit]
        secs = self.now_ms // 1000
        self.orders.append(
            TradeOrder(
                order, secs, self.now_ms, secs, self.now_ms, 0, req.type, req.type_time,
                req.type_filling, 4, req.magic, order, 0, 3, req.volume, 0.0, price, req.sl,
                req.tp, price, 0.0, req.symbol, comment, "",
            )
        )  # fmt: skip
        deal = self._deal(order, req.type, req.volume, price, req.symbol, req.magic, 3, comment)
        for p in self.positions:  # the order's protection rides on the position it opened
            if p.ticket == order:
                self._replace(p, p._replace(sl=req.sl, tp=req.tp))
        return order, deal.ticket, price


def _profit(position: TradePosition, price: float, volume: float | None = None) -> float:
    """What closing `volume` of the position at `price` makes, in the account currency (USD:
    EURUSD's profit currency)."""
    move = price - position.price_open if position.type == 0 else position.price_open - price
    return move * (position.volume if volume is None else volume) * CONTRACT_SIZE


def _within(seconds: int, start: datetime, end: datetime) -> bool:
    moment = datetime.utcfromtimestamp(seconds)
    return start <= moment <= end


TICK_DTYPE = [
    ("time", "<i8"),
    ("bid", "<f8"),
    ("ask", "<f8"),
    ("last", "<f8"),
    ("volume", "<u8"),
    ("time_msc", "<i8"),
    ("flags", "<u4"),
    ("volume_real", "<f8"),
]


class FakeTickSource:
    """copy_ticks_from as documented: a numpy structured array of ticks from a time on."""

    def __init__(self, ticks: list[tuple[int, float, float]]) -> None:
        self.ticks = ticks  # (time_msc, bid, ask)
        self.calls = 0

    def copy_ticks_from(self, symbol: str, date_from: float, count: int, flags: int) -> Any:
        import numpy as np

        self.calls += 1
        start_ms = int(date_from * 1000)
        rows = [
            (ms // 1000, bid, ask, 0.0, 0, ms, 6, 0.0)
            for ms, bid, ask in self.ticks
            if ms >= start_ms
        ][:count]
        return np.array(rows, dtype=TICK_DTYPE)
