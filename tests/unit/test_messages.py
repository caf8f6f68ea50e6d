"""The message contract: every message survives the codec unchanged, an unreadable one is
refused with a reason (never half-read), and no module builds a money message by hand."""

from __future__ import annotations

import ast
import dataclasses
import enum
import types
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.messages import (
    COMMANDS,
    EVENTS,
    FillReported,
    Reply,
    SubmitOrder,
    UnreadableMessageError,
    as_dict,
    decode,
    encode,
    read_reply,
)
from domain.orders import Side
from domain.replies import VenuePosition, VenueReport

REPO = Path(__file__).resolve().parents[2]
decimals = st.decimals(
    min_value=Decimal("-1e9"), max_value=Decimal("1e9"), allow_nan=False, allow_infinity=False
)
SCALARS: dict[Any, st.SearchStrategy[Any]] = {
    Decimal: decimals,
    str: st.text(min_size=1, max_size=30),
    float: st.floats(allow_nan=False, allow_infinity=False),
    int: st.integers(min_value=-(2**63), max_value=2**63 - 1),  # nanoseconds fit 64 bits
    bool: st.booleans(),
    type(None): st.none(),
}


def _values(kind: Any) -> st.SearchStrategy[Any]:
    """Any value of a field's type, decimals exact and integers within 64 bits."""
    if kind in SCALARS:
        return SCALARS[kind]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return st.sampled_from(list(kind))
    if dataclasses.is_dataclass(kind):
        return _instances(kind)  # type: ignore[arg-type]
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is list:
        return st.lists(_values(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(_values(args[0]), _values(args[1]), max_size=3)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(_values(a) for a in args))
    raise AssertionError(f"no values for {kind!r}")


def _instances(cls: type[Any]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: _values(hints[f.name]) for f in dataclasses.fields(cls)}
    return st.builds(cls, **fields)


@pytest.mark.parametrize("cls", EVENTS + COMMANDS, ids=lambda c: c.TYPE)
@given(data=st.data())
def test_every_message_comes_back_from_the_wire_equal(cls: type[Any], data: st.DataObject) -> None:
    message = data.draw(_instances(cls))
    fields = encode(message, id="m-1", ts=123, headers={"traceparent": "00-ab-cd-01"})
    envelope = decode(fields)
    assert envelope.message == message
    assert (envelope.id, envelope.ts, envelope.type) == ("m-1", 123, cls.TYPE)
    assert envelope.headers == {"traceparent": "00-ab-cd-01"}
    as_bytes = {k.encode(): v for k, v in fields.items()}  # as Redis hands them back
    assert decode(as_bytes).message == message


@given(fills=st.lists(_instances(FillReported), max_size=3), balance=decimals)
def test_a_venue_report_comes_back_equal(fills: list[FillReported], balance: Decimal) -> None:
    report = VenueReport(
        fills=fills,
        positions=[
            VenuePosition(
                position_id="EURUSD",
                symbol="EURUSD",
                volume=Decimal("-0.3"),
                avg_price=Decimal("1.1"),
            )
        ],
        balance=balance,
        currency="USD",
    )
    assert (
        read_reply(VenueReport, Reply.decode(Reply(True, as_dict(report)).encode()).data) == report
    )


def test_decimals_travel_exactly_as_held() -> None:
    order = SubmitOrder(
        client_order_id="o-1",
        symbol="EURUSD",
        side=Side.BUY,
        volume=Decimal("0.10"),
        price=Decimal("1.08500"),
    )
    back = decode(encode(order)).message
    assert isinstance(back, SubmitOrder)
    assert (str(back.volume), str(back.price)) == ("0.10", "1.08500")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"type": b"teleport", "data": b"{}"}, "unknown message type 'teleport'"),
        ({"type": b"submit", "v": b"9", "data": b"{}"}, "submit version 9 is not known here"),
        ({"type": b"submit", "v": b"x", "data": b"{}"}, "version 'x' is not a number"),
        ({"type": b"fill", "data": b"{not json"}, "fill is not JSON"),
        ({"type": b"fill", "data": b"[1, 2]"}, "fill: the body is not an object"),
        (
            {
                "type": b"submit",
                "data": b'{"client_order_id": "o", "symbol": "X", "side": "up", "volume": "1"}',
            },
            "submit: side: Input should be 'buy' or 'sell'",
        ),
        (
            {
                "type": b"submit",
                "data": b'{"client_order_id": "o", "symbol": "X", "side": "buy", "volume": "x"}',
            },
            "submit: volume: Input should be a valid decimal",
        ),
    ],
)
def test_an_unreadable_message_is_refused_with_the_reason(
    fields: dict[str, bytes], reason: str
) -> None:
    with pytest.raises(UnreadableMessageError) as refused:
        decode(fields)
    assert str(refused.value).startswith(reason)


def test_a_field_a_newer_writer_added_is_ignored() -> None:
    fields = encode(
        SubmitOrder(client_order_id="o", symbol="EURUSD", side=Side.BUY, volume=Decimal(1))
    )
    fields["data"] = fields["data"][:-1] + b',"iceberg":true}'
    assert decode(fields).message == SubmitOrder(
        client_order_id="o", symbol="EURUSD", side=Side.BUY, volume=Decimal(1)
    )


def test_every_message_type_is_spelt_once() -> None:
    types = [(c.TYPE, c.VERSION) for c in EVENTS + COMMANDS]
    assert len(types) == len(set(types))
    assert all(dataclasses.is_dataclass(c) for c in EVENTS + COMMANDS)


# --- no money message built by hand ---------------------------------------------------------

PRODUCTION = (
    "domain",
    "hotpath",
    "workers",
    "activities",
    "workflows",
    "temporal",
    "api",
    "adapters",
    "cli",
    "research",
    "embedded",
    "bench",
)
MONEY_KEYS = {"volume", "price", "side", "commission"}
IDS = {"fill_id", "client_order_id"}
# the codec itself, and the one adapter that moves a message it cannot read aside
ALLOWED = {Path("domain/messages.py"), Path("adapters/redis/event_bus.py")}


def hand_built(source: str) -> list[str]:
    """Dict literals that spell an order or a fill, and stream entries written field by field."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if keys & IDS and keys & MONEY_KEYS:
                found.append(f"line {node.lineno}: a dict with {sorted(keys & (IDS | MONEY_KEYS))}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("publish", "xadd")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Dict)
        ):
            found.append(f"line {node.lineno}: a stream entry written field by field")
    return found


def test_the_detector_sees_a_hand_built_fill_and_a_hand_written_entry() -> None:
    assert hand_built('x = {"fill_id": f.id, "volume": "1"}') == [
        "line 1: a dict with ['fill_id', 'volume']"
    ]
    assert hand_built('await bus.publish("events:a", {"kind": "fill", "data": b"{}"})') == [
        "line 1: a stream entry written field by field"
    ]
    assert hand_built("await bus.publish(stream, encode(message))") == []


def test_no_module_builds_a_money_message_by_hand() -> None:
    offenders = {
        str(path.relative_to(REPO)): found
        for package in PRODUCTION
        for path in sorted((REPO / package).rglob("*.py"))
        if path.relative_to(REPO) not in ALLOWED and (found := hand_built(path.read_text()))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    "fields",
    [
        {"type": b"submit", "v": "²".encode(), "data": b"{}"},
        {"type": b"submit", "v": b"9" * 5000, "data": b"{}"},
    ],
    ids=["a digit that is no number", "a version of 5,000 digits"],
)
def test_a_version_that_is_no_number_is_unreadable_not_a_crash(fields: dict[str, bytes]) -> None:
    with pytest.raises(UnreadableMessageError, match="is not a number"):
        decode(fields)


def test_a_time_that_is_no_number_reads_as_none_given() -> None:
    fields = encode(SubmitOrder(client_order_id="o", symbol="X", side=Side.BUY, volume=Decimal(1)))
    fields["ts"] = "²".encode()
    assert decode(fields).ts == 0
