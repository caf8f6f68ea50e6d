"""The order workflow's I/O: commands to the hot path, and the books in PostgreSQL.

Activities receive ports, never concrete adapters. A command carries an id fixed by the
workflow, so a retried activity re-sends the same command and the hot path answers it again
without acting twice; the reply is read back by that id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.lineage import record_fill_lineage
from domain.messages import UnreadableMessageError, read
from domain.orders import OrderSeen
from domain.ports import BooksUnavailableError, GraphStore, HotpathLink, OrderBook
from temporal.orders import FillRecord, HotpathCommand, HotpathReply, OrderRecord

T = TypeVar("T")


class HotpathTimeoutError(Exception):
    """No reply in time; retryable (the same command id is sent again)."""


class OrderActivities:
    def __init__(
        self, hotpath: HotpathLink, book: OrderBook, graph: GraphStore | None = None
    ) -> None:
        self._hotpath = hotpath
        self._book = book
        self._graph = graph  # the lineage graph, where the platform keeps one

    @activity.defn(name="hotpath_command")
    async def hotpath_command(self, command: HotpathCommand) -> HotpathReply:
        local = activity.info().is_local  # a local activity has no heartbeat to send
        try:  # the workflow's command, read against the contract before it leaves
            typed = read(command.kind, command.version, command.data)
        except UnreadableMessageError as exc:
            raise ApplicationError(str(exc), type="BadInput", non_retryable=True) from None
        reply = await self._hotpath.ask(
            command.account,
            command.command_id,
            typed,  # type: ignore[arg-type]
            command.timeout_s,
            None if local else activity.heartbeat,
        )
        if reply is None:
            raise HotpathTimeoutError(
                f"the hot path of {command.account} did not answer {command.command_id} "
                f"within {command.timeout_s}s"
            )
        return HotpathReply.model_validate(
            {"ok": reply.ok, "error": reply.error, **_fields(reply.data)}
        )

    @activity.defn(name="record_order")
    async def record_order(self, record: OrderRecord) -> None:
        r = record.request
        await books_write(self._book.ensure_account(r.account, r.tenant), "the order's account")
        # the workflow runs the order's state machine; the books record the state it saw
        seen = OrderSeen(record.state, record.broker_order_id)
        await books_write(
            self._book.record_order(r.account, r.to_order(), seen), f"order {r.client_order_id}"
        )

    @activity.defn(name="record_fill")
    async def record_fill(self, record: FillRecord) -> bool:
        fill = record.fill()
        new = await books_write(
            self._book.record_fill(record.account, fill), f"deal {fill.fill_id}"
        )
        await record_fill_lineage(self._graph, record.account, fill)
        return new


async def books_write(write: Awaitable[T], what: str) -> T:
    """A write to the books: a store that is away raises on (the activity is retried with
    back-off until it is back); any other failure is bad data, final at once, so no workflow
    retries a hopeless write forever."""
    try:
        return await write
    except BooksUnavailableError:
        raise
    except Exception as exc:
        raise ApplicationError(
            f"{what} cannot be written to the books: {exc}", type="BadInput", non_retryable=True
        ) from None


def _fields(data: Mapping[str, object]) -> dict[str, object]:
    keys = ("state", "reason", "filled", "broker_order_id", "amended", "cancelled", "fills")
    return {k: data[k] for k in keys if data.get(k) is not None}
