"""The MT5 adapter through the bridge the platform uses on Linux: the fake terminal served from
its own process over RPyC classic, as a Windows or Wine Python serves the real one."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.mt5.broker import Mt5Broker, magic_numbers
from adapters.mt5.loader import Mt5UnavailableError, load
from adapters.mt5.retcodes import Outcome
from domain.orders import Order, OrderState, Side
from embedded.process import free_port
from tests.fakes.mt5_bridge import served

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bridge() -> Iterator[str]:
    with served("--seed", "3") as address:
        yield address


def test_orders_go_through_the_bridge_and_are_reconciled_after_a_lost_reply(bridge: str) -> None:
    mt5: Any = load(bridge)
    assert mt5.initialize()
    broker = Mt5Broker(mt5, magic_numbers({}, default=7), datetime.utcnow)
    mt5.outcomes.append("reply_lost")  # the fake's own knob, reached through the bridge
    order = Order("br-1", "EURUSD", Side.BUY, Decimal("0.1"))
    result = broker.submit(order)
    assert result.outcome is Outcome.UNKNOWN
    found = broker.reconcile(order)
    assert found.found
    assert found.state is OrderState.FILLED
    assert [f.volume for f in found.fills] == [Decimal("0.1")]
    history = broker.history()
    assert type(history.deals[0]).__name__ == "TradeDeal"  # a local record, fields by name
    assert broker.match(order, history) == found


def test_a_request_dict_and_datetimes_cross_as_values(bridge: str) -> None:
    mt5: Any = load(bridge)
    request = {"action": 1, "symbol": "EURUSD", "volume": 0.2, "type": 1}
    sent = mt5.order_send(request)
    assert (sent.retcode, sent.request.volume) == (10009, 0.2)
    there = mt5.sent[-1]
    # a proxy to our own dict would come back as that dict; this one lives in the bridge
    assert there is not request
    assert type(there).__name__ == "builtins.dict"
    start = datetime(2000, 1, 1)
    assert len(mt5.history_deals_get(start, datetime(2100, 1, 1))) >= 1


def test_an_unreachable_bridge_says_how_to_fix_it() -> None:
    with pytest.raises(Mt5UnavailableError, match="AITP_MT5__BRIDGE"):
        load(f"127.0.0.1:{free_port()}")
