"""What the trader API asks a hot path: its strategies (stopped and started, and staying
stopped after a restart) and the account's balance and equity."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from domain.instruments import fx_major
from domain.market import Bar, QuoteTick
from domain.market_data import Timeframe
from domain.messages import ListStrategies, QueryBalance, SetStrategy
from domain.orders import Order, OrderType, Side
from domain.paper import PaperBroker
from domain.risk import RiskGate, RiskLimits
from domain.strategies import MaCross, RsiReversion, create
from engine.core import Engine
from engine.outbox import Outbox
from hotpath.commands import CommandError, CommandHandler
from hotpath.switches import StrategySwitches

MINUTE = 60 * 10**9


def engine() -> Engine:
    instruments = {"EURUSD": fx_major("EURUSD")}
    return Engine(
        "acc",
        instruments,
        [MaCross("EURUSD", fast=2, slow=3), RsiReversion("EURUSD", period=5)],
        PaperBroker(instruments),
        RiskGate("acc", RiskLimits(quote_max_age_ns=10**18, max_repeats=10**6)),
        Outbox(),
        balance=Decimal(100_000),
    )


def bars(closes: list[float]) -> list[Bar]:
    return [
        Bar("EURUSD", Timeframe.M1, i * MINUTE, c, c + 0.0005, c - 0.0005, c)
        for i, c in enumerate(closes)
    ]


async def test_the_list_gives_each_strategy_with_the_parameters_it_was_built_with() -> None:
    listed = (await CommandHandler(engine()).handle(ListStrategies(), 0))["strategies"]
    assert [s["name"] for s in listed] == ["ma_cross 2/3", "rsi_reversion 5 30/50/70"]
    ma = listed[0]
    assert ma["kind"] == "ma_cross"
    assert ma["symbol"] == "EURUSD"
    assert ma["enabled"] is True
    assert ma["params"] == {
        "fast": 2,
        "slow": 3,
        "allow_short": False,
        "sl_atr": 0.0,
        "tp_atr": 0.0,
        "volume": "0.1",
    }
    # the listed parameters rebuild the same strategy
    rebuilt = create(ma["kind"], ma["symbol"], ma["params"])
    assert rebuilt.name == ma["name"]
    assert rebuilt.params()["volume"] == Decimal("0.1")


async def test_a_stopped_strategy_takes_no_trade_and_a_started_one_does() -> None:
    hot = engine()
    handler = CommandHandler(hot)
    assert await handler.handle(SetStrategy(name="ma_cross 2/3", enabled=False), 0) == {
        "name": "ma_cross 2/3",
        "enabled": False,
    }
    closes = [1.10, 1.09, 1.08, 1.09, 1.11, 1.12]  # the 2-bar mean crosses above at bar 4
    for bar in bars(closes):
        hot.on_bar(bar)
    assert not hot.orders
    await handler.handle(SetStrategy(name="ma_cross 2/3", enabled=True), 0)
    for bar in bars([1.13, 1.12, 1.10, 1.08, 1.11, 1.13]):
        hot.on_bar(bar)
    assert any(o.strategy == "ma_cross 2/3" for o in hot.orders.values())


async def test_an_unknown_strategy_is_refused_naming_the_running_ones() -> None:
    with pytest.raises(CommandError, match="running: ma_cross 2/3, rsi_reversion 5 30/50/70"):
        await CommandHandler(engine()).handle(SetStrategy(name="ma_cross 5/20"), 0)


async def test_switches_survive_a_restart_and_ignore_strategies_no_longer_run(
    tmp_path: Path,
) -> None:
    switches = StrategySwitches(tmp_path / "acc.strategies.json")
    await CommandHandler(engine(), switches).handle(
        SetStrategy(name="rsi_reversion 5 30/50/70", enabled=False), 0
    )
    restarted = engine()
    assert restarted.enabled["rsi_reversion 5 30/50/70"] is True
    StrategySwitches(tmp_path / "acc.strategies.json").apply(restarted.enabled)
    assert restarted.enabled == {"ma_cross 2/3": True, "rsi_reversion 5 30/50/70": False}

    fewer = {"ma_cross 2/3": True}
    switches.apply(fewer)
    assert fewer == {"ma_cross 2/3": True}
    assert not await asyncio.to_thread(lambda: list(tmp_path.glob("*.tmp")))  # renamed into place


def test_no_file_means_every_strategy_keeps_running(tmp_path: Path) -> None:
    enabled = {"ma_cross 2/3": True}
    StrategySwitches(tmp_path / "none.json").apply(enabled)
    assert enabled == {"ma_cross 2/3": True}


async def test_balance_and_equity_mark_open_positions_at_the_price_they_would_close_at() -> None:
    hot = engine()
    handler = CommandHandler(hot)
    hot.on_tick(QuoteTick("EURUSD", MINUTE, 1.1000, 1.1002))
    assert await handler.handle(QueryBalance(), 0) == {
        "currency": "USD",
        "balance": "100000",
        "equity": "100000",
        "positions": 0,
        "working_orders": 0,
    }
    buy = Order("c1", "EURUSD", Side.BUY, Decimal("1"), OrderType.MARKET, strategy="manual")
    hot.submit(buy, MINUTE)
    hot.on_tick(QuoteTick("EURUSD", 2 * MINUTE, 1.1010, 1.1012))  # the market order fills
    hot.on_tick(QuoteTick("EURUSD", 3 * MINUTE, 1.1020, 1.1022))
    answer = await handler.handle(QueryBalance(), 0)
    # bought 1 lot (100,000 EUR) at the ask 1.1012, marked at the bid 1.1020: +80 USD
    assert answer["positions"] == 1
    assert Decimal(answer["equity"]) - Decimal(answer["balance"]) == Decimal("80")
