"""Accounts, positions, orders and fills as clients see them. Money and sizes are decimal
strings in JSON ("1.10250"), never floats, so no client rounds a price."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from api.schemas.base import Input, Output

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop", "stop_limit"]
TimeInForce = Literal["gtc", "day", "gtd", "ioc", "fok"]


class Account(Output):
    id: str = Field(description="the account's code, used in every other route")
    name: str
    broker: str
    currency: str
    leverage: int
    hedging: bool
    created_at: datetime


class Position(Output):
    account: str
    symbol: str
    position_id: str
    side: Side
    volume: Decimal = Field(description="lots, always positive; see side")
    avg_price: Decimal
    commission: Decimal
    swap: Decimal
    updated_at: datetime


class PlaceOrder(Input):
    account: str = Field(min_length=1, max_length=64, examples=["demo"])
    symbol: str = Field(min_length=1, max_length=32, examples=["EURUSD"])
    side: Side
    volume: Decimal = Field(gt=0, le=1_000_000, description="lots", examples=["0.10"])
    type: OrderType = "market"
    time_in_force: TimeInForce = "gtc"
    price: Decimal | None = Field(default=None, gt=0, description="limit price")
    stop_price: Decimal | None = Field(default=None, gt=0, description="trigger price")
    expire_at: datetime | None = Field(default=None, description="for time_in_force gtd")
    stop_loss: Decimal | None = Field(default=None, gt=0)
    take_profit: Decimal | None = Field(default=None, gt=0)


class Order(Output):
    id: str = Field(description="the client order id, fixed before the first submission")
    account: str
    symbol: str
    side: Side
    type: str | None = None
    volume: Decimal
    filled_volume: Decimal
    avg_fill_price: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    state: str
    reason: str | None = None
    strategy: str | None = None
    broker_order_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class CancelOrder(Input):
    reason: str = Field(default="cancelled by request", max_length=200)


class AmendOrder(Input):
    price: Decimal | None = Field(default=None, gt=0)
    volume: Decimal | None = Field(default=None, gt=0, le=1_000_000)


class UpdateOutcome(Output):
    accepted: bool
    reason: str = ""
    order: Order | None = None


class Fill(Output):
    id: uuid.UUID
    account: str
    order_id: str = Field(description="the client order id the venue gave the deal")
    broker_fill_id: str
    symbol: str
    side: Side
    volume: Decimal
    price: Decimal
    commission: Decimal
    swap: Decimal
    profit: Decimal = Field(description="realised by the deal, account currency, before costs")
    source: Literal["order", "strategy", "stop_loss", "take_profit", "kill_switch", "broker"] = (
        Field(description="who caused the deal")
    )
    repaired: bool = Field(description="found by reconciliation with the venue, not by its event")
    time: datetime


class KillRequest(Input):
    flatten: bool = Field(False, description="also close every open position at market")


class KillSwitch(Output):
    account: str
    engaged: bool
    cancelled: list[str] = Field(default_factory=list, description="working orders cancelled")
    flattened: list[str] = Field(
        default_factory=list, description="the orders that close the open positions"
    )


class Reconciliation(Output):
    account: str
    checked_at: datetime | None = Field(description="null until the books were first compared")
    status: str = Field(description="equal | repaired | different | venue unreachable | never")
    venue_fills: int = 0
    book_fills: int = 0
    repaired_fills: list[str] = Field(default_factory=list)
    differences: list[str] = Field(default_factory=list)
    repairs_total: int = Field(0, description="deals recorded by repairs since the account began")


class Balance(Output):
    account: str
    currency: str
    balance: Decimal = Field(description="cash after realised profit, commission and swap")
    equity: Decimal | None = Field(
        description="balance plus open profit at the prices positions would close at; "
        "null while a position has no quote or conversion rate"
    )
    positions: int
    working_orders: int


ParamValue = bool | int | float | str


class Strategy(Output):
    id: str = Field(description="URL-safe form of the name, used in the strategy's routes")
    name: str
    kind: str = Field(examples=["ma_cross"])
    symbol: str
    params: dict[str, ParamValue] = Field(
        description="as the strategy was built; a new set of parameters is a new strategy"
    )
    enabled: bool = Field(description="false: its signals are ignored; positions stay as they are")
