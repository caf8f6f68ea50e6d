"""MT5 as the engine's venue: every call to the terminal runs on a worker thread.

`order_send` blocks on IPC for milliseconds, which the tick loop must never wait for. The
engine hands orders over (`submit` returns at once), the worker sends them through
`Mt5Broker` (sent once; reconciled when the outcome is unknown; re-sent once only when proved
absent; retried after a requote or a busy reply, which prove it was not placed) and reads the
resulting state and deals back by reconciliation. Its findings queue up as broker events that
the engine collects on its next tick. Resting orders are reconciled every `poll_s` for fills, and
the deals the broker makes on its own (server-side SL/TP, stop-outs, manual trades) reported.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from decimal import Decimal
from typing import Any

from adapters.mt5.broker import (
    DuplicateSubmissionError,
    History,
    Mt5Broker,
    Reconciliation,
    unbidden,
)
from adapters.mt5.retcodes import Outcome
from domain import venue
from domain.market import Bar, QuoteTick
from domain.orders import Fill, Order, OrderState, OrderType, Side
from domain.positions import Position
from domain.replies import VenueReport

log = logging.getLogger("aitp.hotpath.mt5")


class Mt5Venue:
    def __init__(
        self,
        broker: Mt5Broker,
        max_attempts: int = 3,
        backoff_s: float = 0.5,
        poll_s: float = 0.5,
        threaded: bool = True,
        precheck: bool = True,
    ) -> None:
        self._broker = broker
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._poll_s = poll_s
        # appended by the worker, taken by the loop
        self._events: deque[venue.BrokerEvent] = deque()
        self._requests: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._working: dict[str, Order] = {}
        self._broker_ids: dict[str, str] = {}
        self._deals: set[str] = set()  # reported to the engine
        # After a restart: what the broker held when the positions were taken over. An order
        # found there was sent by the previous process and is never sent again; its deals are
        # already in the adopted positions.
        self._prior: History | None = None
        self._magics: dict[int, str] = {}
        self._booked: set[str] = set()
        self._threaded = threaded
        self._precheck = precheck
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._serve, name="mt5-venue", daemon=True)
            self._thread.start()

    # --- the engine's side (tick loop) ----------------------------------------------------
    @property
    def active(self) -> bool:
        return bool(self._working) or bool(self._events)

    def submit(self, order: Order, now: int) -> list[venue.BrokerEvent]:
        self._working[order.client_order_id] = order
        self._request("submit", order)
        return self._take()

    def cancel(self, client_order_id: str) -> list[venue.BrokerEvent]:
        order = self._working.get(client_order_id)
        if order is None:
            return [venue.Rejected(client_order_id, "no such working order")]
        self._request("cancel", order)
        return self._take()

    def amend(
        self, client_order_id: str, price: Decimal | None, volume: Decimal | None
    ) -> list[venue.BrokerEvent]:
        order = self._working.get(client_order_id)
        if order is None:
            return [venue.Rejected(client_order_id, "no such working order")]
        if volume is not None:
            return [
                venue.Rejected(
                    client_order_id,
                    "MT5 cannot change an order's volume: cancel it and place a new one",
                )
            ]
        self._request("amend", order, price)
        return self._take()

    def on_tick(self, tick: QuoteTick) -> list[venue.BrokerEvent]:
        return self._take()

    def on_bar(self, bar: Bar, ask: Bar | None = None) -> list[venue.BrokerEvent]:
        return self._take()

    def working(self) -> list[Order]:
        return list(self._working.values())

    def restore_order(self, order: Order) -> None:
        self._working[order.client_order_id] = order

    def restore_fill(self, fill: Fill, symbol: str, order: Order | None) -> None:
        self._deals.add(fill.fill_id)
        if order is not None and order.leaves == 0:
            self._working.pop(order.client_order_id, None)

    def restore_removed(self, client_order_id: str) -> None:
        self._working.pop(client_order_id, None)

    def recover(
        self, strategy_of_magic: dict[int, str]
    ) -> tuple[list[tuple[Position, str | None]], list[Order]]:
        """After a restart: the broker's open positions and resting orders of our magic numbers,
        as the engine's own types. Resting orders are watched again from here on."""
        positions, resting = self._broker.snapshot(set(strategy_of_magic))
        # A kill -9 mid-order_send leaves the call to finish in the terminal within
        # milliseconds; a restart takes seconds, so this copy already shows its outcome.
        self._prior = self._broker.history()
        self._magics = dict(strategy_of_magic)
        self._booked = self._prior.deal_ids
        adopted = [
            (
                Position(
                    p.ticket, p.symbol, p.volume if p.side is Side.BUY else -p.volume, p.price_open
                ),
                strategy_of_magic.get(p.magic),
            )
            for p in positions
        ]
        orders = []
        for r in resting:
            stop = r.order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
            order = Order(
                r.client_order_id,
                r.symbol,
                r.side,
                r.volume,
                r.order_type,
                price=None if stop else r.price,
                stop_price=r.price if stop else None,
                strategy=strategy_of_magic.get(r.magic),
            )
            self._working[order.client_order_id] = order
            self._broker_ids[order.client_order_id] = r.ticket
            orders.append(order)
        return adopted, orders

    def recall(self, client_order_id: str) -> tuple[Order, list[venue.BrokerEvent]] | None:
        """An order this process never saw, found in what the broker held at the restart: the
        previous process sent it and died before anyone heard the outcome."""
        if self._prior is None:
            return None
        found = self._broker.find(client_order_id, self._prior, self._magics)
        if found is None:
            return None
        order, reconciliation = found
        self._working[client_order_id] = order
        self._apply(order, reconciliation)
        return order, self._take()

    def statement(self, since_ns: int) -> Future[VenueReport]:
        """The broker's own statement of the account (deals since `since_ns`, positions,
        balance), read on the worker: the terminal is asked nothing from the tick loop."""
        future: Future[VenueReport] = Future()
        ids = {ticket: cid for cid, ticket in self._broker_ids.items()}

        def read() -> None:
            if not future.set_running_or_notify_cancel():  # the asker gave up waiting
                return
            try:
                future.set_result(self._broker.statement(since_ns, self._magics, ids))
            except Exception as exc:  # the asker hears of it; the worker carries on
                future.set_exception(exc)

        self._call(read)
        return future

    def close(self) -> None:
        if self._thread is not None:
            self._requests.put(None)
            self._thread.join(10)

    def _request(self, kind: str, order: Order, price: Decimal | None = None) -> None:
        self._call(lambda: self._handle(kind, order, price))

    def _call(self, work: Callable[[], None]) -> None:
        if self._threaded:
            self._requests.put(work)
        else:
            work()

    def _take(self) -> list[venue.BrokerEvent]:
        events = []
        while self._events:
            events.append(self._events.popleft())
        return events

    # --- the worker's side ------------------------------------------------------------------
    def _serve(self) -> None:
        while True:
            try:
                item = self._requests.get(timeout=self._poll_s)
            except queue.Empty:
                item = self.poll
            if item is None:
                return
            try:
                item()
            except Exception:  # one failure (a lost bridge, say) must not stop every later order
                log.exception("the MT5 worker's request failed")
                time.sleep(self._backoff_s)

    def _handle(self, kind: str, order: Order, price: Decimal | None) -> None:
        if kind == "submit":
            self._send(order)
        elif kind == "amend":
            assert price is not None
            self._modify(order, price)
        else:
            self._remove(order)

    def _modify(self, order: Order, price: Decimal) -> None:
        cid = order.client_order_id
        ticket = self._broker_ids.get(cid)
        if ticket is None:
            self._events.append(venue.Rejected(cid, "not yet placed at the broker"))
            return
        result = self._broker.modify(ticket, price)
        if result.outcome is Outcome.UNKNOWN:  # look at what the broker holds now
            taken = self._broker.resting_price(ticket) == price
        else:
            taken = result.outcome is Outcome.DONE
        self._events.append(
            venue.Amended(cid, price, None) if taken else venue.Rejected(cid, result.detail)
        )

    def _send(self, order: Order) -> None:
        cid = order.client_order_id
        if self._prior is not None and self._prior.mentions(cid):
            earlier = self._broker.match(order, self._prior)
            if earlier.found:  # sent before the restart: report what it became, never resend
                self._apply(order, earlier)
                return
        if self._precheck:
            checked = self._broker.check(order)
            if checked.outcome is Outcome.REJECT:  # refused by the terminal: nothing was sent
                self._finish(cid, venue.Rejected(cid, checked.detail))
                return
        for attempt in range(1, self._max_attempts + 1):
            try:
                result = self._broker.submit(order)
            except DuplicateSubmissionError as exc:
                self._finish(cid, venue.Rejected(cid, str(exc)))
                return
            if result.outcome in (Outcome.RETRY_PRICE, Outcome.BACK_OFF):
                if attempt == self._max_attempts:
                    self._finish(cid, venue.Rejected(cid, f"{result.detail}, {attempt} attempts"))
                    return
                self._broker.allow_retry(order, result)
                if result.outcome is Outcome.BACK_OFF:
                    time.sleep(self._backoff_s * attempt)
                continue
            if result.outcome is Outcome.REJECT:
                self._finish(cid, venue.Rejected(cid, result.detail))
                return
            if result.outcome is Outcome.UNKNOWN:
                self._events.append(venue.Unresolved(cid, result.detail))
            found = self._broker.reconcile(order)
            if found.found:
                self._apply(order, found)
                return
            if result.outcome is Outcome.DONE:  # done, yet not in its history: look again later
                self._events.append(venue.Accepted(cid, result.broker_order_id or ""))
                return
            try:
                self._broker.allow_resend(order, found)
            except DuplicateSubmissionError as exc:
                self._finish(cid, venue.Rejected(cid, f"lost twice, not sent a third time: {exc}"))
                return
            self._events.append(venue.Resubmitted(cid))
        self._finish(cid, venue.Rejected(cid, f"no outcome after {self._max_attempts} attempts"))

    def _remove(self, order: Order) -> None:
        ticket = self._broker_ids.get(order.client_order_id)
        if ticket is None:
            self._events.append(
                venue.Rejected(order.client_order_id, "not yet placed at the broker")
            )
            return
        result = self._broker.cancel(ticket)
        if result.outcome is Outcome.DONE:
            self._finish(order.client_order_id, venue.Cancelled(order.client_order_id, "cancelled"))
        elif result.outcome is Outcome.UNKNOWN:
            self._apply(order, self._broker.reconcile(order))
        else:
            self._events.append(venue.Rejected(order.client_order_id, result.detail))

    def poll(self) -> None:
        """Reconcile resting orders (new deals become fills, final states end them), and
        report every deal the broker made on its own: its stop-losses and take-profits, a
        stop-out, a trade typed into the terminal."""
        history = self._broker.history()  # one look at the terminal for all of it
        for order in [o for o in self._working.values() if o.client_order_id in self._broker_ids]:
            self._apply(order, self._broker.match(order, history))
        for fill, symbol in unbidden(history, self._deals | self._booked):
            self._deals.add(fill.fill_id)
            self._events.append(venue.Filled(fill, symbol, True))

    def _apply(self, order: Order, found: Reconciliation) -> None:
        cid = order.client_order_id
        if not found.found:
            return
        if cid not in self._broker_ids and found.broker_order_id:
            self._broker_ids[cid] = found.broker_order_id
            self._events.append(venue.Accepted(cid, found.broker_order_id))
        filled = sum((f.volume for f in found.fills), start=Decimal(0))
        for fill in found.fills:
            if fill.fill_id not in self._deals:
                self._deals.add(fill.fill_id)
                booked = fill.fill_id in self._booked
                self._events.append(
                    venue.Filled(fill, order.symbol, filled >= order.volume, booked)
                )
        final: dict[OrderState, Any] = {
            OrderState.CANCELLED: venue.Cancelled(cid, "cancelled at the broker"),
            OrderState.EXPIRED: venue.Expired(cid),
            OrderState.REJECTED: venue.Rejected(cid, "rejected at the broker"),
        }
        if found.state in final:
            self._finish(cid, final[found.state])
        elif found.state is OrderState.FILLED or filled >= order.volume:
            self._working.pop(cid, None)

    def _finish(self, cid: str, event: venue.BrokerEvent) -> None:
        self._working.pop(cid, None)
        self._events.append(event)
