"""Every message that crosses a process boundary: events, commands and replies, with their
stream names and the one codec that writes and reads them.

The hot path, the bridge, the workflows' activities, the API's fan-out and the tests all
speak these classes; nobody builds a money message as a dict. Each class has a wire `TYPE`
and a `VERSION`; on the wire it travels in an envelope (type, version, id, time, headers for
a trace context) whose body is the message's fields as JSON. Reading is strict about what
matters and lenient about what is new: a field a newer writer added is ignored, a missing or
malformed field, an unknown type or an unknown version raises `UnreadableMessageError`, and
the consumer moves the message to the stream's dead-letter stream with an alarm instead of
half-reading it or retrying it forever.

The classes are slotted dataclasses, not validating models: the engine builds them on the
tick loop, where construction cost is paid per event. Validation happens once, on decode.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, TypeAlias, TypeVar

import orjson
from pydantic import TypeAdapter, ValidationError

from domain.orders import Fill, Order, OrderType, Side, TimeInForce
from domain.risk import KILL_SWITCH


class _Wire:
    """What every message has besides its fields: a wire type (each class sets `TYPE`) and a
    version, raised when a field changes meaning (readers of an older one then need it)."""

    __slots__ = ()
    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1


# --- streams ---------------------------------------------------------------------------------


def events_stream(account: str) -> str:
    """What an account's hot path emits: quotes, bars, candidates, order events, fills."""
    return f"events:{account}"


def commands_stream(account: str) -> str:
    """What is asked of an account's hot path."""
    return f"commands:{account}"


def replies_stream(account: str) -> str:
    """The hot path's answers, each under the id of its command."""
    return f"replies:{account}"


def dead_letter_stream(stream: str) -> str:
    """Where a message nobody can read goes, with the reason, for a person to look at."""
    return f"dead:{stream}"


def account_of(stream: str) -> str:
    return stream.split(":", 1)[1]


# --- events ----------------------------------------------------------------------------------


class FillSource(StrEnum):
    """Who caused a fill: its provenance in the books."""

    ORDER = "order"  # an order a workflow placed (API, decision)
    STRATEGY = "strategy"  # a strategy's own order on the direct route
    STOP_LOSS = "stop_loss"  # a bracket leg the venue triggered
    TAKE_PROFIT = "take_profit"
    KILL_SWITCH = "kill_switch"  # the kill switch's flattening
    BROKER = "broker"  # the broker on its own: stop-out, its own SL/TP, a trade typed by hand

    @classmethod
    def of(cls, reason: str, strategy: str | None, known: bool, direct: bool) -> FillSource:
        """Who caused a fill: `reason` is the venue's ("sl", "tp" for a bracket leg), `known`
        whether the order is one of ours, `direct` whether a strategy sent it itself."""
        if reason == "sl":
            return cls.STOP_LOSS
        if reason == "tp":
            return cls.TAKE_PROFIT
        if not known:
            return cls.BROKER
        if strategy == KILL_SWITCH:
            return cls.KILL_SWITCH
        return cls.STRATEGY if direct else cls.ORDER


@dataclass(frozen=True, slots=True, kw_only=True)
class QuoteSampled(_Wire):
    TYPE: ClassVar[str] = "quote"
    symbol: str
    ts: int
    bid: float
    ask: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BarClosed(_Wire):
    TYPE: ClassVar[str] = "bar"
    symbol: str
    timeframe: str
    ts: int
    o: float
    h: float
    l: float  # noqa: E741  (the bar's low, as every chart names it)
    c: float
    v: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionCandidate(_Wire):
    """A strategy's intent with the feature snapshot a decision needs, and the protection
    (order type, price, stop-loss, take-profit) the order must carry if approved."""

    TYPE: ClassVar[str] = "decision_candidate"
    account: str
    symbol: str
    strategy: str
    bar_ts: int
    side: Side
    volume: Decimal
    reason: str = ""
    features: dict[str, float | None] = field(default_factory=dict)
    closes: list[float] = field(default_factory=list)
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    decide: bool = True  # False: the hot path traded it itself (direct route); for screens only
    # The decision is worth making until one bar after the candidate went out (ns, wall
    # time): one that could not be started by then (Temporal away) is dropped and counted,
    # its strategy released. 0: no limit (a replay, on the data's own time).
    expires_ns: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAccepted(_Wire):
    TYPE: ClassVar[str] = "order_accepted"
    client_order_id: str
    broker_order_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected(_Wire):
    TYPE: ClassVar[str] = "order_rejected"
    client_order_id: str
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelled(_Wire):
    TYPE: ClassVar[str] = "order_cancelled"
    client_order_id: str
    reason: str = "cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderExpired(_Wire):
    TYPE: ClassVar[str] = "order_expired"
    client_order_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAmended(_Wire):
    TYPE: ClassVar[str] = "order_amended"
    client_order_id: str
    price: Decimal | None
    volume: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUnresolved(_Wire):
    TYPE: ClassVar[str] = "order_unresolved"
    client_order_id: str
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderResubmitted(_Wire):
    TYPE: ClassVar[str] = "order_resubmitted"
    client_order_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FillReported(_Wire):
    """A deal at the venue, whoever caused it, with everything the books need: its costs in
    the account currency and the profit it realised there (as MT5 reports a deal's profit)."""

    TYPE: ClassVar[str] = "fill"
    fill_id: str
    client_order_id: str
    symbol: str
    side: Side
    volume: Decimal
    price: Decimal
    ts: int
    commission: Decimal = Decimal(0)  # a cost, positive
    swap: Decimal = Decimal(0)  # credited (+) or charged (-)
    profit: Decimal = Decimal(0)  # realised by this deal, before costs
    position_id: str | None = None
    source: FillSource = FillSource.ORDER
    strategy: str | None = None
    # what the fill left behind, for screens that show orders and positions live
    order_state: str | None = None
    net_volume: Decimal | None = None

    @classmethod
    def of(cls, fill: Fill, symbol: str, **context: Any) -> FillReported:
        """The domain's fill as reported: the venue's figures, and what else is known of it
        (`source`, `strategy`, the `profit` the books computed, what it left behind)."""
        figures: dict[str, Any] = {
            "fill_id": fill.fill_id,
            "client_order_id": fill.client_order_id,
            "symbol": symbol,
            "side": fill.side,
            "volume": fill.volume,
            "price": fill.price,
            "ts": fill.ts,
            "commission": fill.commission,
            "swap": fill.swap,
            "profit": fill.profit or Decimal(0),
            "position_id": fill.position_id,
            "source": _SOURCE_OF_REASON.get(fill.reason, FillSource.ORDER),
        }
        return cls(**(figures | context))

    def fill(self) -> Fill:
        """The domain's fill, as the books apply it."""
        return Fill(
            self.fill_id,
            self.client_order_id,
            self.side,
            self.volume,
            self.price,
            self.ts,
            self.commission,
            self.position_id,
            _FILL_REASON.get(self.source, "order"),
            self.swap,
        )


_FILL_REASON = {FillSource.STOP_LOSS: "sl", FillSource.TAKE_PROFIT: "tp"}
_SOURCE_OF_REASON = {reason: source for source, reason in _FILL_REASON.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class SwapCharged(_Wire):
    TYPE: ClassVar[str] = "swap"
    position_id: str
    symbol: str
    amount: Decimal  # account currency; negative is a charge
    ts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class KillSwitchEngaged(_Wire):
    TYPE: ClassVar[str] = "kill_switch"
    account: str
    flatten: bool
    cancelled: list[str] = field(default_factory=list)
    flattened: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionStarted(_Wire):
    """A hot path came up for the account: its books are compared with the venue at once."""

    TYPE: ClassVar[str] = "session_started"
    account: str
    ts: int
    orders: int = 0  # restored from the venue
    positions: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class BooksRepaired(_Wire):
    """The books differed from the venue and were repaired: traders see it, ops count it."""

    TYPE: ClassVar[str] = "books_repaired"
    account: str
    fills: list[str]  # deal ids recorded by the repair
    symbols: list[str]


# --- commands --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitOrder(_Wire):
    TYPE: ClassVar[str] = "submit"
    client_order_id: str
    symbol: str
    side: Side
    volume: Decimal
    order_type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.GTC
    price: Decimal | None = None
    stop_price: Decimal | None = None
    expire_at: int | None = None
    strategy: str | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None

    def order(self) -> Order:
        """The domain's order, in state NEW; raises `OrderError` for a malformed one."""
        return Order(**{name: getattr(self, name) for name in SUBMITTED})  # the same names

    @classmethod
    def of(cls, order: Order) -> SubmitOrder:
        return cls(**{name: getattr(order, name) for name in SUBMITTED})


SUBMITTED: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(SubmitOrder))


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder(_Wire):
    TYPE: ClassVar[str] = "cancel"
    client_order_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AmendOrder(_Wire):
    TYPE: ClassVar[str] = "amend"
    client_order_id: str
    price: Decimal | None = None
    volume: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryOrder(_Wire):
    TYPE: ClassVar[str] = "query_order"
    client_order_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryPositions(_Wire):
    TYPE: ClassVar[str] = "positions"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryBalance(_Wire):
    TYPE: ClassVar[str] = "balance"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueryVenue(_Wire):
    """Every deal the venue reports for the account and its positions: the books' truth for
    reconciliation."""

    TYPE: ClassVar[str] = "venue"
    since_ns: int = 0  # deals from this time on; positions and cash always whole


@dataclass(frozen=True, slots=True, kw_only=True)
class IntentRejected(_Wire):
    TYPE: ClassVar[str] = "intent_rejected"
    strategy: str
    bar_ts: int = 0  # the candidate's bar: only its intent is released (0: whatever waits)


@dataclass(frozen=True, slots=True, kw_only=True)
class Kill(_Wire):
    TYPE: ClassVar[str] = "kill"
    flatten: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Rearm(_Wire):
    TYPE: ClassVar[str] = "rearm"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetStrategy(_Wire):
    TYPE: ClassVar[str] = "strategy"
    name: str
    enabled: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ListStrategies(_Wire):
    TYPE: ClassVar[str] = "strategies"


Event: TypeAlias = (
    QuoteSampled
    | BarClosed
    | DecisionCandidate
    | OrderAccepted
    | OrderRejected
    | OrderCancelled
    | OrderExpired
    | OrderAmended
    | OrderUnresolved
    | OrderResubmitted
    | FillReported
    | SwapCharged
    | KillSwitchEngaged
    | SessionStarted
    | BooksRepaired
)
Command: TypeAlias = (
    SubmitOrder
    | CancelOrder
    | AmendOrder
    | QueryOrder
    | QueryPositions
    | QueryBalance
    | QueryVenue
    | IntentRejected
    | Kill
    | Rearm
    | SetStrategy
    | ListStrategies
)
AnyMessage: TypeAlias = Event | Command

EVENTS: tuple[type[Any], ...] = typing.get_args(Event)
COMMANDS: tuple[type[Any], ...] = typing.get_args(Command)
_R = TypeVar("_R")
_REGISTRY: dict[tuple[str, int], type[Any]] = {(c.TYPE, c.VERSION): c for c in EVENTS + COMMANDS}


# --- the envelope and the codec ----------------------------------------------------------------


class UnreadableMessageError(ValueError):
    """A message that cannot be read as sent: it goes to the dead-letter stream, never retried."""


@dataclass(frozen=True, slots=True)
class Envelope:
    message: AnyMessage
    id: str = ""  # the sender's id: a command's id is how its reply is found
    ts: int = 0  # ns, when it was written
    headers: Mapping[str, str] = field(default_factory=dict)  # a trace context, later

    @property
    def type(self) -> str:
        return self.message.TYPE


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not part of a message")


def body(message: object) -> bytes:
    """The message's fields as JSON (decimals as strings, exactly as held)."""
    return orjson.dumps(message, default=_default)


def encode(
    message: AnyMessage, id: str = "", ts: int = 0, headers: Mapping[str, str] | None = None
) -> dict[str, bytes]:
    """The fields of one stream entry."""
    fields = {
        "type": message.TYPE.encode(),
        "v": b"%d" % message.VERSION,
        "id": id.encode(),
        "ts": b"%d" % ts,
        "data": body(message),
    }
    if headers:
        fields["h"] = orjson.dumps(dict(headers))
    return fields


def decode(fields: Mapping[Any, bytes]) -> Envelope:
    """A stream entry read back (keys as bytes or str); raises `UnreadableMessageError`."""
    get: Callable[[str], bytes | None] = lambda key: fields.get(key, fields.get(key.encode()))  # noqa: E731
    kind = _text(get("type"))
    version = _text(get("v")) or "1"
    if not (version.isascii() and version.isdigit() and len(version) <= 6):
        raise UnreadableMessageError(f"version {version[:20]!r} is not a number")
    raw = get("data")
    try:
        headers = orjson.loads(get("h") or b"{}")
        data = orjson.loads(raw if raw is not None else b"{}")
    except orjson.JSONDecodeError as exc:
        raise UnreadableMessageError(f"{kind or 'message'} is not JSON: {exc}") from None
    ts = _text(get("ts")) or "0"
    return Envelope(
        read(kind, int(version), data),
        _text(get("id")),
        int(ts) if ts.isascii() and ts.isdigit() and len(ts) <= 20 else 0,
        {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {},
    )


def read(kind: str, version: int, data: object) -> AnyMessage:
    """One message from its type, version and fields; raises `UnreadableMessageError`."""
    cls = _REGISTRY.get((kind, version))
    if cls is None:
        known = sorted({c.TYPE for c in EVENTS + COMMANDS})
        if any(kind == c.TYPE for c in EVENTS + COMMANDS):
            raise UnreadableMessageError(f"{kind} version {version} is not known here")
        raise UnreadableMessageError(f"unknown message type {kind!r}; known: {', '.join(known)}")
    if not isinstance(data, dict):
        raise UnreadableMessageError(f"{kind}: the body is not an object")
    try:
        message: AnyMessage = _adapter(cls).validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise UnreadableMessageError(f"{kind}: {problems}") from None
    return message


def read_reply(cls: type[_R], data: Mapping[str, Any]) -> _R:
    """A reply's data read as the shape it must have; raises `UnreadableMessageError`."""
    try:
        reply: _R = _adapter(cls).validate_python(data)
    except ValidationError as exc:
        raise UnreadableMessageError(f"{cls.__name__}: {exc.error_count()} bad fields") from None
    return reply


def as_dict(message: object) -> dict[str, Any]:
    """The message's fields as JSON values, for a reply or a document."""
    data: dict[str, Any] = orjson.loads(body(message))
    return data


def fields_of(message: AnyMessage) -> dict[str, Any]:
    """The message's fields as Python values (no copy of nested values)."""
    return {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:  # built on first use: each costs a few milliseconds
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def _text(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    return raw.decode(errors="replace") if isinstance(raw, bytes) else raw


# --- replies ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """The hot path's answer to one command: `data` when it was carried out, `error` when not."""

    ok: bool
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    def encode(self) -> bytes:
        if self.ok:
            return orjson.dumps({"ok": True, "data": self.data}, default=_default)
        return orjson.dumps({"ok": False, "error": self.error})

    @staticmethod
    def entry(command_id: bytes, encoded: bytes) -> dict[str, bytes]:
        """The reply stream's entry for an encoded reply: who asked, and the answer."""
        return {"id": command_id, "reply": encoded}

    @classmethod
    def decode(cls, raw: bytes) -> Reply:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UnreadableMessageError(f"a reply is not JSON: {exc}") from None
        if not isinstance(value, dict) or not isinstance(value.get("ok"), bool):
            raise UnreadableMessageError("a reply carries no ok")
        data = value.get("data") or {}
        if not isinstance(data, dict):
            raise UnreadableMessageError("a reply's data is not an object")
        error = value.get("error")
        return cls(value["ok"], data, None if error is None else str(error))
