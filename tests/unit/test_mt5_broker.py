"""MT5: every retcode classified, and unknown outcomes reconciled before anything is re-sent."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from adapters.mt5.broker import DuplicateSubmissionError, Mt5Broker, magic_numbers
from adapters.mt5.retcodes import IPC_ERRORS, RETCODES, Outcome, classify, describe
from domain.orders import Order, OrderState, OrderType, Side
from tests.fakes.mt5 import FakeMT5

EXPECTED = {
    Outcome.DONE: {10008, 10009, 10010, 10025},
    Outcome.RETRY_PRICE: {10004, 10020, 10021},
    Outcome.BACK_OFF: {10024, 10028, 10029},
    Outcome.UNKNOWN: {10011, 10012, 10031, *IPC_ERRORS},
}


@pytest.mark.parametrize("code", sorted(RETCODES) + sorted(IPC_ERRORS))
def test_every_documented_retcode_has_exactly_its_class(code: int) -> None:
    want = next((o for o, codes in EXPECTED.items() if code in codes), Outcome.REJECT)
    assert classify(code) is want


def test_reject_covers_the_documented_final_codes() -> None:
    for code in (10006, *range(10013, 10020), 10030):
        assert classify(code) is Outcome.REJECT


def test_no_reply_is_unknown_never_a_failure() -> None:
    assert classify(None, -10005) is Outcome.UNKNOWN
    assert describe(None, -10005) == "no reply from the terminal (IPC time-out)"
    assert describe(10019) == "retcode 10019 (NO_MONEY)"


def server_now(fake: FakeMT5) -> datetime:
    return datetime.utcfromtimestamp(fake.now_ms / 1000)


def setup(**fake_kw: object) -> tuple[FakeMT5, Mt5Broker, Order]:
    fake = FakeMT5(**fake_kw)  # type: ignore[arg-type]
    broker = Mt5Broker(fake, magic_numbers({"ma_cross 10/30": 1010}), lambda: server_now(fake))
    order = Order(
        "demo-7f3a9c-000123", "EURUSD", Side.BUY, Decimal("0.10"), strategy="ma_cross 10/30"
    )
    return fake, broker, order


def test_a_market_order_carries_magic_comment_and_the_current_price() -> None:
    fake, broker, order = setup()
    result = broker.submit(order)
    assert result.outcome is Outcome.DONE
    sent = fake.sent[0]
    assert (sent["magic"], sent["comment"], sent["price"], sent["volume"]) == (
        1010,
        "demo-7f3a9c-000123",
        fake.ask,
        0.1,
    )
    assert result.deal_id is not None


def test_a_second_submission_of_the_same_id_is_refused() -> None:
    fake, broker, order = setup()
    broker.submit(order)
    with pytest.raises(DuplicateSubmissionError, match="already sent"):
        broker.submit(order)
    assert len(fake.sent) == 1


def test_reply_lost_is_found_at_the_broker_and_not_sent_again() -> None:
    fake, broker, order = setup()
    fake.outcomes.append("reply_lost")
    result = broker.submit(order)
    assert result.outcome is Outcome.UNKNOWN
    found = broker.reconcile(order)
    assert found.found
    assert found.state is OrderState.FILLED
    assert [(f.volume, f.price, f.commission) for f in found.fills] == [
        (Decimal("0.1"), Decimal("1.1002"), Decimal("0.35"))
    ]
    with pytest.raises(DuplicateSubmissionError, match="exists at the broker"):
        broker.allow_resend(order, found)
    assert len(fake.sent) == 1


def test_really_lost_is_sent_again_once() -> None:
    fake, broker, order = setup()
    fake.outcomes.extend(["lost", "lost"])
    assert broker.submit(order).outcome is Outcome.UNKNOWN
    missing = broker.reconcile(order)
    assert not missing.found
    broker.allow_resend(order, missing)
    assert broker.submit(order).outcome is Outcome.UNKNOWN  # lost again
    with pytest.raises(DuplicateSubmissionError, match="already re-sent once"):
        broker.allow_resend(order, broker.reconcile(order))
    assert len(fake.sent) == 2


def test_a_comment_cut_short_by_the_broker_still_matches() -> None:
    fake, broker, order = setup(comment_limit=16)
    fake.outcomes.append("reply_lost")
    broker.submit(order)
    assert fake.orders[0].comment == "demo-7f3a9c-0001"
    assert broker.reconcile(order).found


def test_another_strategys_order_with_the_same_comment_is_not_ours() -> None:
    fake, broker, order = setup()
    other = Mt5Broker(fake, magic_numbers({}, default=99), lambda: server_now(fake))
    other.submit(Order("demo-7f3a9c-000123", "EURUSD", Side.BUY, Decimal("0.1")))
    assert not broker.reconcile(order).found


def test_history_outside_a_day_either_side_is_not_searched() -> None:
    fake, broker, order = setup()
    fake.outcomes.append("reply_lost")
    broker.submit(order)
    fake.now_ms += int(timedelta(days=2).total_seconds() * 1000)
    assert not broker.reconcile(order).found


def test_pending_orders_send_their_trigger_and_limit() -> None:
    fake, broker, _ = setup()
    stop_limit = Order(
        "c-sl",
        "EURUSD",
        Side.BUY,
        Decimal("1"),
        OrderType.STOP_LIMIT,
        price=Decimal("1.1010"),
        stop_price=Decimal("1.1020"),
    )
    broker.submit(stop_limit)
    assert (fake.sent[0]["action"], fake.sent[0]["type"]) == (5, 6)
    assert (fake.sent[0]["price"], fake.sent[0]["stoplimit"]) == (1.102, 1.101)


def test_instruments_come_from_symbol_info() -> None:
    from adapters.mt5.symbols import SymbolUnknownError, instrument

    eurusd = instrument(FakeMT5(), "EURUSD")
    assert (eurusd.digits, eurusd.point, eurusd.contract_size) == (
        5,
        Decimal("0.00001"),
        Decimal(100000),
    )
    assert (eurusd.volume_step, eurusd.volume_max, eurusd.stops_level) == (
        Decimal("0.01"),
        Decimal(500),
        10,
    )
    assert eurusd.swap_long == Decimal("-6.9")
    with pytest.raises(SymbolUnknownError, match="Market Watch"):
        instrument(FakeMT5(), "XAUUSD")


def test_history_bars_come_back_in_utc_with_the_real_volume_when_there_is_one() -> None:
    from adapters.mt5.symbols import bars
    from domain.market_data import Timeframe

    fake = FakeMT5()
    server = 1_704_074_400  # 2024-01-01 02:00 server time (UTC+2)
    fake.rates = [
        (server, 1.1, 1.2, 1.0, 1.15, 42, 3, 0),
        (server + 60, 1.15, 1.2, 1.1, 1.12, 17, 3, 0),
    ]
    got = bars(
        fake, "EURUSD", Timeframe.M1, datetime(2024, 1, 1), datetime(2024, 1, 2), utc_offset_hours=2
    )
    assert got["ts"].dt.epoch("s").to_list() == [1_704_067_200, 1_704_067_260]  # 00:00 UTC
    assert got["volume"].to_list() == [42.0, 17.0]  # no real volume in FX: tick volume


def test_order_check_refusals_are_never_sent() -> None:
    from hotpath.mt5_venue import Mt5Venue

    fake, broker, order = setup()
    fake.check_retcodes.append(10019)
    venue = Mt5Venue(broker, threaded=False)
    events = venue.submit(order, 0)  # inline: the answer comes straight back
    assert [type(e).__name__ for e in events] == ["Rejected"]
    assert "NO_MONEY" in events[0].reason  # type: ignore[union-attr]
    assert fake.sent == []
