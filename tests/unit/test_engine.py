"""The engine replays real data through strategies, risk gate and paper broker."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from domain.instruments import fx_major
from domain.market import Bar, QuoteTick
from domain.market_data import Timeframe
from domain.messages import BarClosed, FillReported, OrderAccepted, OrderRejected, QuoteSampled
from domain.paper import PaperBroker
from domain.risk import RiskGate, RiskLimits
from domain.strategies import MaCross
from engine.core import Engine
from engine.outbox import Outbox

pytestmark = pytest.mark.shared_data


def engine(symbol: str, strategies: list[MaCross], limits: RiskLimits | None = None) -> Engine:
    instruments = {symbol: fx_major(symbol, 3 if symbol.endswith("JPY") else 5)}
    return Engine(
        "demo",
        instruments,
        strategies,
        PaperBroker(instruments),
        RiskGate("demo", limits or RiskLimits(quote_max_age_ns=10**15, max_repeats=10**6)),
        Outbox(),
        balance=Decimal(100_000),
    )


def load_bars(path: Path, symbol: str) -> list[Bar]:
    frame = pl.read_csv(path).with_columns(
        pl.col("timestamp")
        .str.to_datetime(time_unit="ns", time_zone="UTC")
        .dt.epoch("ns")
        .alias("ts")
    )
    return [
        Bar(symbol, Timeframe.M1, ts, o, h, lo, c)
        for ts, o, h, lo, c in frame.select("ts", "open", "high", "low", "close").iter_rows()
    ]


def reference_ma_cross(
    closes: np.ndarray, opens: np.ndarray, fast: int, slow: int
) -> list[tuple[int, str, float]]:
    """The documented semantics the plain way, deciding on exact integer sums of 1e-8 units:
    (bar index of the fill, side, price)."""
    units = np.round(closes * 10**8).astype(np.int64)
    fast_sum = np.convolve(units, np.ones(fast, dtype=np.int64), "valid")[slow - fast :]
    slow_sum = np.convolve(units, np.ones(slow, dtype=np.int64), "valid")
    sign = np.sign(fast_sum * slow - slow_sum * fast)
    trades, long = [], False
    for k in range(1, len(sign)):
        t = k + slow - 1
        if t + 1 >= len(closes):
            break
        above = sign[k] > 0 and sign[k - 1] <= 0
        below = sign[k] < 0 and sign[k - 1] >= 0
        if not long and above:
            trades.append((t + 1, "buy", opens[t + 1]))
            long = True
        elif long and below:
            trades.append((t + 1, "sell", opens[t + 1]))
            long = False
    return trades


def test_bar_replay_fills_ma_cross_at_the_next_open_as_documented(shared_data: Path) -> None:
    bars = load_bars(shared_data / "fx/GBPUSD-M1-bid-2012-02.csv", "GBPUSD")
    eng = engine("GBPUSD", [MaCross("GBPUSD", fast=10, slow=30, volume=Decimal("1"))])
    fills = []
    for i, bar in enumerate(bars):
        before = eng.stats.fills
        eng.on_bar(bar)
        if eng.stats.fills > before:
            fills.append(i)
    got = [
        (fills[n], fill.side.value, float(fill.price))
        for n, fill in enumerate(e for e in eng.outbox.take(10**6) if isinstance(e, FillReported))
    ]
    closes = np.array([b.close for b in bars])
    opens = np.array([b.open for b in bars])
    want = reference_ma_cross(closes, opens, 10, 30)
    assert len(want) > 100
    assert [(i, side) for i, side, _ in got] == [(i, side) for i, side, _ in want]
    assert [p for *_, p in got] == pytest.approx([p for *_, p in want], abs=1e-12)


def test_tick_replay_builds_bars_trades_and_keeps_the_books(shared_data: Path) -> None:
    frame = pl.read_csv(shared_data / "fx/USDJPY-ticks-2013-01.csv").with_columns(
        pl.col("timestamp")
        .str.to_datetime(time_unit="ns", time_zone="UTC")
        .dt.epoch("ns")
        .alias("ts")
    )
    strategy = MaCross("USDJPY", fast=2, slow=5, allow_short=True, volume=Decimal("0.5"))
    eng = engine("USDJPY", [strategy])
    for ts, bid, ask in frame.select("ts", "bid", "ask").iter_rows():
        eng.on_tick(QuoteTick("USDJPY", ts, bid, ask))
    events = eng.outbox.take(10**6)
    kinds = {e.TYPE for e in events}
    assert {"bar", "quote", "decision_candidate", "order_accepted", "fill"} <= kinds
    fills = [e for e in events if isinstance(e, FillReported)]
    assert fills
    for fill in fills:  # buys at the ask, sells at the bid of the tick that filled them
        tick = frame.filter(pl.col("ts") == fill.ts).row(0, named=True)
        assert float(fill.price) == pytest.approx(tick["ask" if fill.side == "buy" else "bid"])
    assert eng.book.net_volume("USDJPY") == strategy.net
    assert eng.stats.bars == len([1 for e in events if isinstance(e, BarClosed)])


def test_a_refused_order_frees_the_strategy_and_says_why(shared_data: Path) -> None:
    bars = load_bars(shared_data / "fx/GBPUSD-M1-bid-2012-02.csv", "GBPUSD")[:2000]
    strategy = MaCross("GBPUSD", fast=10, slow=30)
    eng = engine("GBPUSD", [strategy], RiskLimits(restricted=frozenset({"GBPUSD"})))
    for bar in bars:
        eng.on_bar(bar)
    rejected = [e for e in eng.outbox.take(10**6) if isinstance(e, OrderRejected)]
    assert rejected
    assert {e.reason for e in rejected} == {"restricted_symbol"}
    assert eng.stats.rejected == {"restricted_symbol": len(rejected)}
    assert not strategy.pending
    assert eng.stats.fills == 0


def test_the_outbox_drops_quote_samples_first_and_never_an_order() -> None:
    box = Outbox(capacity=3)
    box.emit(QuoteSampled(symbol="EURUSD", ts=1, bid=1.1, ask=1.1002))
    for n in (1, 2, 3):
        box.emit(OrderAccepted(client_order_id=f"o-{n}"))
    assert box.dropped == 1
    assert box.backlogged
    box.emit(OrderAccepted(client_order_id="o-4"))  # past the bound: kept, with the alarm
    assert box.alarm
    assert box.take() == [OrderAccepted(client_order_id=f"o-{n}") for n in (1, 2, 3, 4)]
    assert not box.backlogged


def test_past_the_backlog_new_orders_halt_and_closing_orders_still_go() -> None:
    """The bus away for long: the account stops taking new risk, not protecting itself."""
    from domain.orders import Order, OrderState, Side
    from domain.risk import Reason

    eng = engine("EURUSD", [])
    eng.outbox.capacity = 5
    eng.on_tick(QuoteTick("EURUSD", 1, 1.1000, 1.1002))
    assert eng.submit(Order("b-1", "EURUSD", Side.BUY, Decimal("0.2")), 1)
    eng.on_tick(QuoteTick("EURUSD", 2, 1.1001, 1.1003))  # fills it
    assert eng.book.net("EURUSD") == Decimal("0.2")
    while not eng.outbox.backlogged:  # nothing takes the events: the bus is away
        eng.outbox.emit(OrderAccepted(client_order_id="filler"))
    assert not eng.submit(Order("b-2", "EURUSD", Side.BUY, Decimal("0.1")), 2)
    refused = [e for e in eng.outbox.take(10**6) if isinstance(e, OrderRejected)]
    assert [(e.client_order_id, e.reason) for e in refused] == [("b-2", Reason.BACKLOG.value)]
    while not eng.outbox.backlogged:
        eng.outbox.emit(OrderAccepted(client_order_id="filler"))
    assert eng.submit(Order("s-1", "EURUSD", Side.SELL, Decimal("0.2")), 2)  # closes it
    eng.on_tick(QuoteTick("EURUSD", 3, 1.1002, 1.1004))
    assert eng.orders["s-1"].state is OrderState.FILLED
    assert eng.book.net("EURUSD") == Decimal(0)
    fills = [e for e in eng.outbox.take(10**6) if isinstance(e, FillReported)]
    assert [f.client_order_id for f in fills] == ["s-1"]  # its deal kept, past the bound


def test_an_order_for_a_symbol_not_traded_here_is_refused_with_its_rule() -> None:
    from domain.orders import Order, Side
    from domain.risk import Reason

    eng = engine("EURUSD", [])
    assert eng.submit(Order("x-1", "GBPJPY", Side.BUY, Decimal("0.1")), 0) is False
    refused = [e for e in eng.outbox.take(100) if isinstance(e, OrderRejected)]
    assert refused == [
        OrderRejected(
            client_order_id="x-1",
            reason=Reason.UNKNOWN_SYMBOL.value,
            detail="GBPJPY is not traded here",
        )
    ]


def test_a_market_order_waiting_for_its_price_cannot_be_given_one() -> None:
    """A market order rests at the paper venue until the next price: an amend of its price is
    refused with the reason, the order stays as it was, and the next tick fills it."""
    from domain.orders import Order, OrderState, Side

    eng = engine("EURUSD", [])
    eng.on_tick(QuoteTick("EURUSD", 1, 1.1000, 1.1002))
    assert eng.submit(Order("m-1", "EURUSD", Side.BUY, Decimal("0.1")), 1)
    assert eng.orders["m-1"].state is OrderState.ACCEPTED
    assert eng.amend("m-1", Decimal("1.0990"), None) == (
        False,
        "a market order has no price to amend",
    )
    eng.on_tick(QuoteTick("EURUSD", 2, 1.1001, 1.1003))
    assert eng.orders["m-1"].state is OrderState.FILLED
