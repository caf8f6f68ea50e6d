"""The order workflow's contract: its input, signals, updates and query, as frozen models.

One model per message so a field can be added without breaking running histories: new
fields get defaults, and readers ignore fields they do not know.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field

from domain.messages import (
    SUBMITTED,
    Command,
    FillReported,
    FillSource,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    SubmitOrder,
    as_dict,
)
from domain.orders import Order, OrderState, OrderType, Side, TimeInForce
from temporal.messages import Message

ORDER_WORKFLOW = "OrderLifecycleWorkflow"


def order_workflow_id(client_order_id: str) -> str:
    return f"order-{client_order_id}"


class OrderRequest(Message):
    """What to trade; the client order id is fixed here, before the first submission."""

    account: str
    tenant: str = "default"
    client_order_id: str = Field(min_length=1, max_length=24)
    symbol: str
    side: Side
    volume: Decimal = Field(gt=0)
    order_type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.GTC
    price: Decimal | None = None
    stop_price: Decimal | None = None
    expire_at: int | None = None  # ns, GTD
    strategy: str | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    ack_timeout_s: float = 30.0
    reconcile_s: float = 10.0  # a working order is checked at the hot path this often
    carried: CarriedState | None = None  # state handed over by continue-as-new

    def command(self) -> SubmitOrder:
        """The submission the account's hot path receives for this request."""
        return SubmitOrder(**{name: getattr(self, name) for name in SUBMITTED})

    def to_order(self) -> Order:
        """The domain's order for this request, in state NEW."""
        return self.command().order()


class CarriedState(Message):
    state: OrderState
    filled: Decimal
    avg_fill_price: Decimal | None = None
    broker_order_id: str | None = None
    reason: str | None = None
    fill_ids: list[str] = Field(default_factory=list)
    volume: Decimal
    price: Decimal | None = None


class DealTerms(Message):
    """What a deal carries besides its size and price: when, its costs and profit in the
    account currency, its position and who caused it."""

    commission: Decimal = Decimal(0)
    ts: int = 0
    swap: Decimal = Decimal(0)
    profit: Decimal = Decimal(0)
    position_id: str | None = None
    source: FillSource = FillSource.ORDER


class OrderEvent(DealTerms):
    """An event of the hot path about this order, signalled by the bridge."""

    kind: str  # accepted | rejected | cancelled | expired | fill | amended
    broker_order_id: str | None = None
    reason: str | None = None
    fill_id: str | None = None
    volume: Decimal | None = None
    price: Decimal | None = None

    @classmethod
    def of(
        cls,
        event: FillReported
        | OrderAccepted
        | OrderRejected
        | OrderCancelled
        | OrderExpired
        | OrderAmended,
    ) -> OrderEvent:
        """The order workflow's signal for one of the hot path's events."""
        if isinstance(event, FillReported):
            return cls(
                kind="fill",
                fill_id=event.fill_id,
                volume=event.volume,
                price=event.price,
                ts=event.ts,
                commission=event.commission,
                swap=event.swap,
                profit=event.profit,
                position_id=event.position_id,
                source=event.source,
            )
        if isinstance(event, OrderAccepted):
            return cls(kind="accepted", broker_order_id=event.broker_order_id)
        if isinstance(event, OrderRejected):
            return cls(kind="rejected", reason=event.reason)
        if isinstance(event, OrderCancelled):
            return cls(kind="cancelled", reason=event.reason)
        if isinstance(event, OrderExpired):
            return cls(kind="expired")
        return cls(kind="amended", price=event.price, volume=event.volume)


class CancelRequest(Message):
    reason: str = "cancelled by request"


class AmendRequest(Message):
    price: Decimal | None = None
    volume: Decimal | None = None


class UpdateResult(Message):
    accepted: bool
    reason: str = ""


class OrderStart(Message):
    """An approved decision's order, started by id; the summary is what the UI lists."""

    request: OrderRequest
    summary: str


class OrderView(Message):
    client_order_id: str
    account: str
    symbol: str
    side: Side
    volume: Decimal
    state: OrderState
    filled: Decimal
    avg_fill_price: Decimal | None = None
    broker_order_id: str | None = None
    reason: str | None = None
    fills: int = 0

    @classmethod
    def of(cls, account: str, o: Order) -> OrderView:
        """The order as its workflow holds it now."""
        return cls(
            client_order_id=o.client_order_id,
            account=account,
            symbol=o.symbol,
            side=o.side,
            volume=o.volume,
            state=o.state,
            filled=o.filled,
            avg_fill_price=o.avg_fill_price,
            broker_order_id=o.broker_order_id,
            reason=o.reason,
            fills=len(o.fill_ids),
        )


class HotpathCommand(Message):
    """A command for the account's hot path, as `domain.messages` defines it (its type,
    version and fields); the id makes a retried activity harmless."""

    account: str
    command_id: str
    kind: str  # the command's TYPE: submit | cancel | amend | query_order | ...
    data: dict[str, Any]
    version: int = 1
    timeout_s: float = 10.0

    @classmethod
    def of(cls, account: str, command_id: str, command: Command) -> HotpathCommand:
        return cls(
            account=account,
            command_id=command_id,
            kind=command.TYPE,
            data=as_dict(command),
            version=command.VERSION,
        )


class FillInfo(Message):
    """A deal as a query of the hot path reports it."""

    fill_id: str
    volume: Decimal
    price: Decimal
    ts: int = 0
    commission: Decimal = Decimal(0)
    swap: Decimal = Decimal(0)
    profit: Decimal = Decimal(0)
    position_id: str | None = None
    source: FillSource = FillSource.ORDER


class HotpathReply(Message):
    ok: bool
    error: str | None = None
    state: str | None = None
    reason: str | None = None
    filled: Decimal = Decimal(0)
    broker_order_id: str | None = None
    amended: bool | None = None
    cancelled: bool | None = None
    fills: list[FillInfo] = Field(default_factory=list)  # a query's answer: every deal so far


class OrderRecord(Message):
    """The workflow's view of the order, written to the books."""

    request: OrderRequest
    state: OrderState
    broker_order_id: str | None = None


class FillRecord(DealTerms):
    """A deal for the books, with its costs, the profit it realised and who caused it."""

    account: str
    symbol: str
    client_order_id: str
    side: Side
    fill_id: str
    volume: Decimal
    price: Decimal
    strategy: str | None = None

    def fill(self) -> FillReported:
        """The deal, as the books record it."""
        return FillReported(**self.model_dump(exclude={"account"}))

    @classmethod
    def of(cls, account: str, fill: FillReported) -> FillRecord:
        booked = {name: getattr(fill, name) for name in cls.model_fields if name != "account"}
        return cls(account=account, **booked)
