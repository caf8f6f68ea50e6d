"""A hot path rebuilt from the paper venue's journal continues exactly as if it never died."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
import polars as pl
import pytest

from domain.instruments import fx_major
from domain.market import QuoteTick
from domain.messages import (
    FillReported,
    FillSource,
    OrderAccepted,
    OrderCancelled,
    SubmitOrder,
)
from domain.orders import Order, OrderType, Side
from domain.risk import RiskGate, RiskLimits
from domain.strategies import MaCross, RsiReversion
from engine.core import Engine
from engine.outbox import Outbox
from hotpath.journal import JournaledPaperBroker, PaperJournal

pytestmark = pytest.mark.shared_data


def build(journal_path: Path) -> Engine:
    instruments = {"USDJPY": fx_major("USDJPY", 3)}
    strategies = [
        MaCross("USDJPY", fast=2, slow=4, allow_short=True, sl_atr=0, volume=Decimal("0.3")),
        RsiReversion("USDJPY", period=3, volume=Decimal("0.2")),
    ]
    journal = PaperJournal(journal_path)
    quotes: dict[str, QuoteTick] = {}
    return Engine(
        "acct",
        instruments,
        strategies,
        JournaledPaperBroker(journal, quotes, instruments),
        RiskGate("acct", RiskLimits(quote_max_age_ns=10**15)),
        Outbox(),
        balance=Decimal(100_000),
        id_prefix="acct",
        quotes=quotes,
    )


def state(engine: Engine) -> tuple[object, ...]:
    return (
        {cid: (o.state, o.filled, o.avg_fill_price) for cid, o in engine.orders.items()},
        {p.position_id: (p.volume, p.avg_price, p.realised) for p in engine.book},
        engine.book.balance,
        sorted(o.client_order_id for o in engine.broker.working()),
        [s.net for s in engine.strategies],  # type: ignore[attr-defined]
    )


def test_restored_engine_equals_the_original_and_trades_on_identically(
    tmp_path: Path, shared_data: Path
) -> None:
    frame = pl.read_csv(shared_data / "fx/USDJPY-ticks-2013-01.csv").with_columns(
        pl.col("timestamp")
        .str.to_datetime(time_unit="ns", time_zone="UTC")
        .dt.epoch("ns")
        .alias("ts")
    )
    ticks = [
        QuoteTick("USDJPY", ts, b, a) for ts, b, a in frame.select("ts", "bid", "ask").iter_rows()
    ]
    original = build(tmp_path / "venue.jsonl")
    crash_at = 600
    for i, tick in enumerate(ticks[:crash_at]):
        original.on_tick(tick)
        if i == 300:  # a resting limit order, far from the market, still working at the crash
            original.submit(
                Order(
                    "acct-limit",
                    "USDJPY",
                    Side.BUY,
                    Decimal("0.5"),
                    OrderType.LIMIT,
                    price=Decimal("86.000"),
                ),
                tick.ts,
            )
    assert original.stats.fills > 4
    assert "acct-limit" in {o.client_order_id for o in original.broker.working()}

    restored = build(tmp_path / "venue.jsonl")
    assert restored.restore(restored.broker.journal.entries()) > 0  # type: ignore[attr-defined]
    # indicators and bar builders are warmed by the ticks since the last bar, as at any start
    for tick in ticks[crash_at - 400 : crash_at]:
        restored._builders["USDJPY"].on_price(tick.ts, tick.bid)
    assert state(restored) == state(original)
    # the same id can never be sent twice, even after the restart
    dup = restored.submit(
        Order("acct-limit", "USDJPY", Side.BUY, Decimal("0.5")), ticks[crash_at].ts
    )
    assert dup is False
    assert restored.orders["acct-limit"].state.value == "accepted"


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    journal = PaperJournal(tmp_path / "j.jsonl")
    journal.submitted(Order("x-1", "EURUSD", Side.BUY, Decimal(1)), 0)
    with (tmp_path / "j.jsonl").open("ab") as handle:
        handle.write(b'{"type": "fill", "symb')  # killed mid-write
    assert [type(e.message) for e in journal.entries()] == [SubmitOrder]


def test_a_journal_written_before_the_envelope_is_read_as_the_same_messages(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.jsonl"
    order = {
        "client_order_id": "o-1",
        "symbol": "EURUSD",
        "side": "buy",
        "volume": "1",
        "order_type": "market",
        "time_in_force": "gtc",
        "price": None,
        "stop_price": None,
        "expire_at": None,
        "strategy": "ma",
        "stop_loss": "1.09",
        "take_profit": None,
    }
    deal = {
        "fill_id": "D2",
        "client_order_id": "SL-3",
        "side": "sell",
        "volume": "1",
        "price": "1.09",
        "ts": 7,
        "commission": "0.5",
        "position_id": None,
        "reason": "sl",
    }
    lines = [
        {"t": "submit", "now": 5, "order": order},
        {"t": "accepted", "id": "o-1", "broker_order_id": "T1"},
        {"t": "fill", "symbol": "EURUSD", "quotes": {"EURUSD": [7, 1.09, 1.0902]}, "fill": deal},
        {"t": "removed", "id": "o-2", "state": "cancelled", "reason": "by request"},
    ]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    entries = list(PaperJournal(path).entries())
    assert [e.message for e in entries] == [
        SubmitOrder(
            client_order_id="o-1",
            symbol="EURUSD",
            side=Side.BUY,
            volume=Decimal(1),
            strategy="ma",
            stop_loss=Decimal("1.09"),
        ),
        OrderAccepted(client_order_id="o-1", broker_order_id="T1"),
        FillReported(
            fill_id="D2",
            client_order_id="SL-3",
            symbol="EURUSD",
            side=Side.SELL,
            volume=Decimal(1),
            price=Decimal("1.09"),
            ts=7,
            commission=Decimal("0.5"),
            source=FillSource.STOP_LOSS,
        ),
        OrderCancelled(client_order_id="o-2", reason="by request"),
    ]
    assert entries[0].ts == 5
    quote = entries[2].quotes["EURUSD"]
    assert (quote.symbol, quote.ts, quote.bid, quote.ask) == ("EURUSD", 7, 1.09, 1.0902)
