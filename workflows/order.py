"""OrderLifecycleWorkflow: one order, from submission to a final state, durably.

The domain's state machine decides every transition. Submission is a command to the
account's hot path (an activity), acknowledgements and fills arrive as signals from the
bridge, cancel and amend are updates that answer accepted or refused with the reason. An
order that is not acknowledged in time is UNRESOLVED: it is looked up at the hot path before
anything is sent again, and sent again only if the hot path never saw it. Every state and
fill goes to the books in PostgreSQL through idempotent activities.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain.messages import AmendOrder, CancelOrder, Command, QueryOrder
    from domain.orders import Fill, IllegalTransition, OrderError, OrderState
    from temporal import retries
    from temporal import search_attributes as sa
    from temporal.hotpath_calls import ask_hotpath
    from temporal.orders import (
        ORDER_WORKFLOW,
        AmendRequest,
        CancelRequest,
        CarriedState,
        FillRecord,
        HotpathCommand,
        HotpathReply,
        OrderEvent,
        OrderRecord,
        OrderRequest,
        OrderView,
        UpdateResult,
    )

CONTINUE_AFTER_EVENTS = 1000  # long-lived GTC orders with many partial fills start afresh


MAX_SUBMISSIONS = 5  # an order the hot path keeps losing is rejected, never lost quietly


@workflow.defn(name=ORDER_WORKFLOW)
class OrderLifecycleWorkflow:
    @workflow.init
    def __init__(self, request: OrderRequest) -> None:
        self._request = request
        self._order = request.to_order()
        self._events: list[OrderEvent] = []
        self._handled = 0
        self._commands = 0
        self._submissions = 1
        if request.carried is not None:
            self._resume(request.carried)

    # --- the run ----------------------------------------------------------------------
    @workflow.run
    async def run(self, request: OrderRequest) -> OrderView:
        order = self._order
        workflow.upsert_search_attributes(
            [
                sa.ACCOUNT.value_set(request.account),
                sa.SYMBOL.value_set(request.symbol),
                sa.CLIENT_ORDER_ID.value_set(request.client_order_id),
                sa.TENANT.value_set(request.tenant),
            ]
        )
        if order.state is OrderState.NEW:
            # The history is the durable record: the books get the order with its first reply
            # rather than before the submission, one round trip off the decision's latency.
            if not workflow.patched("books-after-first-reply"):
                await self._record()
            await self._submit(f"submit-{order.client_order_id}")
        while not order.state.terminal:
            waiting_ack = order.state in (OrderState.SUBMITTED, OrderState.UNRESOLVED)
            timeout = self._timeout(waiting_ack)
            try:
                await workflow.wait_condition(
                    lambda: bool(self._events) or order.state.terminal, timeout=timeout
                )
            except TimeoutError:
                await self._on_timeout(waiting_ack)
                continue
            await self._drain()
            if self._handled >= CONTINUE_AFTER_EVENTS and workflow.all_handlers_finished():
                workflow.continue_as_new(self._carry())
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state()

    def _timeout(self, waiting_ack: bool) -> timedelta | None:
        if waiting_ack:
            return timedelta(seconds=self._request.ack_timeout_s)
        limit = None
        if self._order.expire_at is not None:
            left_ns = self._order.expire_at - workflow.time_ns()
            limit = timedelta(microseconds=max(left_ns, 0) / 1000)
        # An event lost on its way (a hot path killed before it published a fill) must not
        # leave the order waiting forever: a working order is looked up every reconcile_s.
        if workflow.patched("reconcile-working-orders"):
            every = timedelta(seconds=self._request.reconcile_s)
            limit = every if limit is None else min(limit, every)
        return limit

    async def _on_timeout(self, waiting_ack: bool) -> None:
        order = self._order
        expired = order.expire_at is not None and workflow.time_ns() >= order.expire_at
        if not waiting_ack and expired:  # GTD reached: ask the hot path to cancel it
            await self._command(CancelOrder(client_order_id=order.client_order_id))
            return
        if not waiting_ack:  # still working: catch up with anything that did not arrive
            await self._reconcile()
            return
        if order.state is OrderState.SUBMITTED:
            order.mark_unresolved(f"no acknowledgement in {self._request.ack_timeout_s:g}s")
            await self._record()
        seen = await self._command(QueryOrder(client_order_id=order.client_order_id))
        if seen.state in (None, "unknown"):
            # What the previous hot path said before it died comes first: an order it
            # rejected as lost twice is not sent a third time by its successor.
            if workflow.patched("events-before-resend"):
                await self._drain()
                if order.state.terminal:
                    return
            # The hot path answers from its journal (paper) or the broker's records (MT5): an
            # order it does not know never reached the venue, and sending it again cannot
            # double it. A hot path killed twice in a row can lose it twice, hence a budget.
            if workflow.patched("resend-while-unknown"):
                if self._submissions >= MAX_SUBMISSIONS:
                    order.reject(f"never reached the venue in {self._submissions} submissions")
                    await self._record()
                    return
            elif self._submissions > 1:
                return  # sent twice already: keep asking, never a third time
            self._submissions += 1
            order.submit()  # unresolved -> submitted: the hot path never saw it, send again
            await self._record()
            await self._submit(f"submit-{order.client_order_id}-{self._submissions}")
            return
        before = order.state
        self._apply_state(seen)
        # what the hot path answered (rejected, after a resend it lost) reaches the books too
        if order.state is not before and workflow.patched("record-state-seen-unresolved"):
            await self._record()

    async def _reconcile(self) -> HotpathReply:
        """What the hot path says of the order now, with the fills it holds, applied."""
        order = self._order
        before = order.state
        seen = await self._command(QueryOrder(client_order_id=order.client_order_id))
        for fill in seen.fills:
            if fill.fill_id not in order.fill_ids:  # a fill whose event never arrived
                await self._fill(
                    OrderEvent(
                        kind="fill",
                        fill_id=fill.fill_id,
                        volume=fill.volume,
                        price=fill.price,
                        ts=fill.ts,
                        commission=fill.commission,
                        swap=fill.swap,
                        profit=fill.profit,
                        position_id=fill.position_id,
                        source=fill.source,
                    )
                )
        self._apply_state(seen)
        if order.state is not before:
            await self._record()
        return seen

    async def _submit(self, command_id: str) -> None:
        order, r = self._order, self._request
        if order.state is OrderState.NEW:
            order.submit()
        reply = await self._command(r.command(), command_id)
        if not reply.ok:
            order.reject(reply.error or "refused by the hot path")
        else:
            self._apply_state(reply)
        await self._record()

    def _apply_state(self, reply: HotpathReply) -> None:
        """What the hot path says of the order; fills themselves come as signals."""
        order = self._order
        try:
            if reply.state == "rejected" and not order.state.terminal:
                order.reject(reply.reason or "rejected")
            elif reply.state in ("accepted", "partially_filled", "filled") and order.state in (
                OrderState.SUBMITTED,
                OrderState.UNRESOLVED,
            ):
                order.accept(reply.broker_order_id)
            elif reply.state == "cancelled" and not order.state.terminal:
                order.cancel(reply.reason or "cancelled")
            elif reply.state == "expired" and not order.state.terminal:
                order.expire()
        except IllegalTransition as exc:
            workflow.logger.warning("ignored: %s", exc)

    # --- events from the bridge -------------------------------------------------------------
    @workflow.signal(name="event")
    def event(self, event: OrderEvent) -> None:
        self._events.append(event)

    async def _drain(self) -> None:
        while self._events:
            event = self._events.pop(0)
            self._handled += 1
            if event.kind == "fill":
                await self._fill(event)
                continue
            if (
                event.kind == "rejected"
                and self._submissions > 1
                and workflow.patched("confirm-rejection-after-resend")
            ):
                # After a resend, a rejection may answer an earlier sending, from a hot path that
                # died since: the one running now says what became of the order.
                seen = await self._reconcile()
                if seen.state not in (None, "unknown"):
                    continue
            before = self._order.state
            self._apply_state(
                HotpathReply(
                    ok=True,
                    state=event.kind,
                    reason=event.reason,
                    broker_order_id=event.broker_order_id,
                )
            )
            if self._order.state is not before:
                await self._record()

    async def _fill(self, event: OrderEvent) -> None:
        order = self._order
        assert event.fill_id is not None, "a fill event carries its deal id"
        assert event.volume is not None, "a fill event carries its volume"
        assert event.price is not None, "a fill event carries its price"
        fill = Fill(
            event.fill_id,
            order.client_order_id,
            order.side,
            event.volume,
            event.price,
            event.ts,
            event.commission,
        )
        if order.state is OrderState.SUBMITTED:
            order.accept(event.broker_order_id)  # the fill overtook the acknowledgement
        try:
            if not order.apply_fill(fill):
                return  # a deal seen before
        except (IllegalTransition, OrderError) as exc:
            workflow.logger.error("fill %s refused: %s", event.fill_id, exc)
            return
        await workflow.execute_activity(
            "record_fill",
            FillRecord(
                account=self._request.account,
                symbol=order.symbol,
                client_order_id=order.client_order_id,
                side=order.side,
                fill_id=fill.fill_id,
                volume=fill.volume,
                price=fill.price,
                commission=fill.commission,
                ts=fill.ts,
                swap=event.swap,
                profit=event.profit,
                position_id=event.position_id,
                source=event.source,
                strategy=order.strategy,
            ),
            start_to_close_timeout=retries.BOOKS_TIMEOUT,
            retry_policy=retries.BOOKS,
        )
        await self._record()

    # --- updates and the query -----------------------------------------------------------------
    @workflow.update(name="cancel")
    async def cancel(self, request: CancelRequest) -> UpdateResult:
        order = self._order
        if order.state.terminal:
            return UpdateResult(accepted=False, reason=f"the order is already {order.state.value}")
        if order.state not in (OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED):
            return UpdateResult(accepted=False, reason=f"cannot cancel while {order.state.value}")
        order.request_cancel()
        reply = await self._command(CancelOrder(client_order_id=order.client_order_id))
        if reply.ok and reply.cancelled:
            if not order.state.terminal:
                order.cancel(request.reason)
            await self._record()
            return UpdateResult(accepted=True)
        if order.cancel_pending:  # unless a fill ended the order meanwhile
            order.cancel_refused()
        return UpdateResult(accepted=False, reason=reply.error or reply.reason or "refused")

    @workflow.update(name="amend")
    async def amend(self, request: AmendRequest) -> UpdateResult:
        order = self._order
        if order.state not in (OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED):
            return UpdateResult(accepted=False, reason=f"cannot amend while {order.state.value}")
        reply = await self._command(
            AmendOrder(
                client_order_id=order.client_order_id, price=request.price, volume=request.volume
            )
        )
        if not (reply.ok and reply.amended):
            return UpdateResult(accepted=False, reason=reply.error or reply.reason or "refused")
        order.amend(request.price, request.volume)
        await self._record()
        return UpdateResult(accepted=True)

    @workflow.query(name="state")
    def state(self) -> OrderView:
        return OrderView.of(self._request.account, self._order)

    # --- plumbing -----------------------------------------------------------------------------
    async def _command(self, message: Command, command_id: str | None = None) -> HotpathReply:
        self._commands += 1
        # a fresh id per question (queries must not get a stale answer); the same id on retries
        order_id, run = self._order.client_order_id, workflow.info().run_id[:8]
        fresh = f"{message.TYPE}-{order_id}-{run}-{self._commands}"
        command = HotpathCommand.of(self._request.account, command_id or fresh, message)
        try:
            # A local activity runs in this worker without a trip through the task queue: the
            # hot path answers in about a millisecond, and every order waits on this call.
            return await ask_hotpath(command, local=workflow.patched("hotpath-commands-local"))
        except ActivityError as exc:
            return HotpathReply(ok=False, error=f"the hot path did not answer: {exc.cause or exc}")

    async def _record(self) -> None:
        order = self._order
        workflow.upsert_search_attributes([sa.ORDER_STATE.value_set(order.state.value)])
        workflow.set_current_details(
            f"{order.symbol} {order.side.value} {order.volume}: {order.state.value}, "
            f"filled {order.filled}"
        )
        await workflow.execute_activity(
            "record_order",
            OrderRecord(
                request=self._request.model_copy(
                    update={"volume": order.volume, "price": order.price, "carried": None}
                ),
                state=order.state,
                broker_order_id=order.broker_order_id,
            ),
            start_to_close_timeout=retries.BOOKS_TIMEOUT,
            retry_policy=retries.BOOKS,
        )

    def _carry(self) -> OrderRequest:
        o = self._order
        carried = CarriedState(
            state=o.state,
            filled=o.filled,
            avg_fill_price=o.avg_fill_price,
            broker_order_id=o.broker_order_id,
            reason=o.reason,
            fill_ids=sorted(o.fill_ids),
            volume=o.volume,
            price=o.price,
        )
        return self._request.model_copy(update={"carried": carried})

    def _resume(self, carried: CarriedState) -> None:
        o = self._order
        o.state, o.filled, o.avg_fill_price = carried.state, carried.filled, carried.avg_fill_price
        o.broker_order_id, o.reason = carried.broker_order_id, carried.reason
        o.fill_ids, o.volume, o.price = set(carried.fill_ids), carried.volume, carried.price
