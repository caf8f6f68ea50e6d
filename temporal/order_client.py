"""Asking an order workflow to change, as the API and the CLI do.

An order whose workflow has finished can no longer take updates; its final state can still
be queried, so a cancel or amend of a finished order is answered "refused" with the reason,
instead of an error about workflows.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from temporal.orders import AmendRequest, CancelRequest, OrderView, UpdateResult, order_workflow_id


class OrderNotFoundError(LookupError):
    pass


async def order_state(client: Client, client_order_id: str) -> OrderView:
    handle = client.get_workflow_handle(order_workflow_id(client_order_id))
    try:
        view: OrderView = await handle.query("state", result_type=OrderView)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise OrderNotFoundError(f"no order {client_order_id}") from None
        raise
    return view


async def _update(client: Client, client_order_id: str, name: str, request: object) -> UpdateResult:
    handle = client.get_workflow_handle(order_workflow_id(client_order_id))
    try:
        result: UpdateResult = await handle.execute_update(name, request, result_type=UpdateResult)
    except RPCError as exc:
        if exc.status is not RPCStatusCode.NOT_FOUND:
            raise
        view = await order_state(client, client_order_id)  # finished: say what it became
        return UpdateResult(accepted=False, reason=f"the order is already {view.state.value}")
    return result


async def cancel_order(
    client: Client, client_order_id: str, request: CancelRequest | None = None
) -> UpdateResult:
    return await _update(client, client_order_id, "cancel", request or CancelRequest())


async def amend_order(client: Client, client_order_id: str, request: AmendRequest) -> UpdateResult:
    return await _update(client, client_order_id, "amend", request)
