"""Strategy semantics on hand-checked series, with fills at the next bar's open."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from domain.market import Bar
from domain.market_data import Timeframe
from domain.orders import Fill, Side
from domain.strategies import MaCross, OrderIntent, RsiReversion, StrategyError, create
from domain.strategies.base import OnePositionStrategy

MIN = Timeframe.M1.nanos
CLOSES = [10, 10, 10, 9, 8, 9, 11, 12, 10, 8]
# SMA(2) vs SMA(3): cross below at bar 3, above at bar 6 (8.5 <= 8.67, then 10 > 9.33),
# equal at bar 8 (11 = 11: no cross), below at bar 9 (9 < 10 after 11 >= 11).


def bars(closes: list[float]) -> list[Bar]:
    out, prev = [], closes[0]
    for i, c in enumerate(closes):
        out.append(Bar("X", Timeframe.M1, i * MIN, prev, max(prev, c) + 0.5, min(prev, c) - 0.5, c))
        prev = c
    return out


def replay(
    strategy: OnePositionStrategy, series: list[Bar], fill: bool = True
) -> list[tuple[int, OrderIntent]]:
    """Feed bars; an intent decided on bar t fills at bar t+1's open, before t+1 is seen."""
    decided: list[tuple[int, OrderIntent]] = []
    waiting: list[OrderIntent] = []
    ids = itertools.count()
    for t, bar in enumerate(series):
        if fill:
            for intent in waiting:
                strategy.on_fill(
                    Fill(
                        f"d{next(ids)}",
                        "c",
                        intent.side,
                        intent.volume,
                        Decimal(str(bar.open)),
                        bar.ts,
                    )
                )
            waiting = []
        for intent in strategy.on_bar(bar):
            decided.append((t, intent))
            waiting.append(intent)
    return decided


def summary(decided: list[tuple[int, OrderIntent]]) -> list[tuple[int, Side, str]]:
    return [(t, i.side, i.reason) for t, i in decided]


def test_ma_cross_long_only_enters_on_cross_above_and_exits_on_cross_below() -> None:
    decided = replay(MaCross("X", fast=2, slow=3), bars(CLOSES))
    assert summary(decided) == [(6, Side.BUY, "entry_long"), (9, Side.SELL, "exit_long")]
    entry = decided[0][1]
    assert entry.ts == 7 * MIN  # decided at bar 6's close
    assert entry.features == {"sma_fast": 10.0, "sma_slow": pytest.approx(28 / 3), "close": 11}


def test_ma_cross_with_shorts_reverses_on_each_cross() -> None:
    decided = replay(MaCross("X", fast=2, slow=3, allow_short=True), bars(CLOSES))
    assert summary(decided) == [
        (3, Side.SELL, "entry_short"),
        (6, Side.BUY, "exit_short"),
        (6, Side.BUY, "entry_long"),
        (9, Side.SELL, "exit_long"),
        (9, Side.SELL, "entry_short"),
    ]


def test_a_position_open_at_the_end_stays_open() -> None:
    strategy = MaCross("X", fast=2, slow=3)
    replay(strategy, bars(CLOSES[:8]))
    assert strategy.net == Decimal("0.1")


def test_nothing_new_is_decided_while_an_order_is_pending() -> None:
    strategy = MaCross("X", fast=2, slow=3, allow_short=True)
    decided = replay(strategy, bars(CLOSES), fill=False)
    assert summary(decided) == [(3, Side.SELL, "entry_short")]
    strategy.on_reject(decided[0][1])
    assert not strategy.pending


def test_stop_loss_and_take_profit_sit_atr_multiples_from_the_close() -> None:
    closes = [10.0] * 20 + [9, 9, 12]  # flat (equal SMAs never cross), down, then up at bar 22
    decided = replay(MaCross("X", fast=2, slow=3, sl_atr=2, tp_atr=3), bars(closes))
    t, entry = next((t, i) for t, i in decided if i.reason == "entry_long")
    atr = entry.features["atr"]
    assert atr > 0
    assert entry.stop_loss == pytest.approx(closes[t] - 2 * atr)
    assert entry.take_profit == pytest.approx(closes[t] + 3 * atr)


def test_a_fill_nobody_asked_for_moves_the_strategy_with_the_books() -> None:
    strategy = MaCross("X", fast=2, slow=3)
    replay(strategy, bars(CLOSES[:8]))
    strategy.on_fill(Fill("sl-1", "c-sl", Side.SELL, Decimal("0.1"), Decimal(9), 0))  # stop-loss
    assert strategy.net == 0
    assert not strategy.pending


def test_rsi_reversion_buys_oversold_and_leaves_above_the_exit_level() -> None:
    # RSI(2): bar 2 = 0 (two losses) -> buy; bar 3 = 50 (not above 50); bar 4 = 75 -> exit
    decided = replay(
        RsiReversion("X", period=2, lower=30, upper=70, exit=50), bars([10, 9, 8, 9, 10, 11])
    )
    assert summary(decided) == [(2, Side.BUY, "entry_long"), (4, Side.SELL, "exit_long")]
    assert decided[1][1].features["rsi"] == pytest.approx(75.0)


def test_rsi_reversion_shorts_overbought_only_when_allowed() -> None:
    # RSI(2): 100 at bar 2, 50 at bar 3, 25 at bar 4, 12.5 at bar 5
    series = bars([10, 11, 12, 11, 10, 9])
    assert summary(replay(RsiReversion("X", period=2), series)) == [(4, Side.BUY, "entry_long")]
    decided = replay(RsiReversion("X", period=2, allow_short=True), series)
    assert summary(decided) == [
        (2, Side.SELL, "entry_short"),
        (4, Side.BUY, "exit_short"),
        (5, Side.BUY, "entry_long"),
    ]


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("ma_cross", {"fast": 30, "slow": 10}, "fast < slow"),
        ("ma_cross", {"fast": "ten"}, "fast='ten' is not a int"),
        ("ma_cross", {"sl_atr": -1}, "ATR multiples"),
        ("ma_cross", {"speed": 3}, "no parameter(s) speed"),
        ("rsi_reversion", {"lower": 60, "exit": 50}, "lower < exit < upper"),
        ("rsi_reversion", {"volume": 0}, "volume must be positive"),
        ("grid_bot", {}, "unknown strategy 'grid_bot'"),
    ],
)
def test_bad_parameters_are_named(kind: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(StrategyError) as err:
        create(kind, "EURUSD", params)
    assert message in str(err.value)


def test_parameters_from_the_command_line_are_converted() -> None:
    strategy = create("ma_cross", "EURUSD", {"fast": "5", "slow": 20.0, "allow_short": "true"})
    assert isinstance(strategy, MaCross)
    assert (strategy.fast, strategy.slow, strategy.allow_short) == (5, 20, True)
    assert strategy.name == "ma_cross 5/20"
