"""Money in the account currency: a backtest of USDJPY in a USD account converts its yen at
the mid of the bar each trade closes in (as the engine's book does), EURGBP borrows GBPUSD's
quotes, and a pair with no way to its account's currency is refused saying which data would
do. Tick-by-tick replays are judged on the bars the engine built from the ticks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from adapters.files.market_files import read_market_file
from domain.instruments import standard
from domain.market_data import SeriesKind, Timeframe
from research.replay import replay, replay_detail, replay_ticks_detail
from research.series import BarSeries, ConversionError, Costs, TickSeries, conversion
from research.sweep import detail

CLOSES = [1.1000, 1.0990, 1.0980, 1.0990, 1.1010, 1.1020, 1.1000, 1.0980, 1.0970]
PARAMS = {"fast": 2, "slow": 3, "volume": "0.5"}
COSTS = Costs(commission_per_lot=3.5, slippage_points=2)
MINUTE = 60 * 10**9


def bars(symbol: str, scale: float, spread: float) -> BarSeries:
    """The nine bars of the cost test, scaled (x100 for a yen pair), with an ask side."""
    closes = [round(c * scale, 5) for c in CLOSES]
    opens = [closes[0], *closes[:-1]]
    bid = pl.DataFrame(
        {
            "ts": [i * MINUTE for i in range(len(closes))],
            "open": opens,
            "high": [max(o, c) for o, c in zip(opens, closes, strict=True)],
            "low": [min(o, c) for o, c in zip(opens, closes, strict=True)],
            "close": closes,
        }
    )
    ask = bid.with_columns(
        [(pl.col(c) + spread).round(5) for c in ("open", "high", "low", "close")]
    )
    return BarSeries.from_frames(symbol, Timeframe.M1, standard(symbol), bid, ask)


def test_yen_profit_is_converted_at_the_mid_of_the_bar_the_trade_closes_in() -> None:
    raw = bars("USDJPY", 100, 0.015)
    s = raw.converted(conversion(raw.instrument, "USD", raw.ts, raw.closing_mids()))
    # buys at bar 5's open: ask 110.100 + 0.015 + 2 points = 110.117; sells at bar 8's open:
    # bid 109.800 - 0.002 = 109.798; 0.5 lot = 50,000 USD: -15,950 JPY, converted at bar 8's
    # closing mid (109.700 + 109.715) / 2, less 2 x 0.5 x 3.50 USD commission
    hand = (109.798 - 110.117) * 50_000 / 109.7075 - 3.5
    replayed = replay(s, "ma_cross", PARAMS, COSTS, balance=100_000)
    swept = detail(s, "ma_cross", PARAMS, COSTS, 100_000.0)
    [trade] = replayed.trades
    assert trade.pnl == pytest.approx(hand, abs=1e-9)
    assert [t.pnl for t in swept.trades] == pytest.approx([hand], abs=1e-9)
    assert replayed.balance == pytest.approx(100_000 + hand, abs=1e-6)  # the engine's book
    assert swept.equity[-1] == pytest.approx(100_000 + hand, abs=1e-6)
    # while long, marked at the bid close and that bar's rate: bar 6 closes at 110.000
    unrealised = (110.000 - 110.117) * 50_000 / (110.000 + 110.015) * 2 - 1.75
    assert swept.equity[6] == pytest.approx(100_000 + unrealised, abs=1e-6)
    # in yen, nothing is converted: the same trade is worth -15,950 JPY less commission
    yen = detail(raw, "ma_cross", PARAMS, COSTS, 100_000.0)
    assert yen.trades[0].pnl == pytest.approx(-15_950 - 3.5, abs=1e-6)


def test_a_cross_pair_is_converted_with_another_pairs_quotes() -> None:
    raw = bars("EURGBP", 0.8, 0.00012)
    cable = pl.DataFrame(
        {
            "ts": [(i - 2) * MINUTE for i in range(12)],  # from before the range, as stored
            "close": [1.25 + 0.001 * i for i in range(12)],
        }
    )
    asked: list[str] = []

    def pair_bars(pair: str) -> pl.DataFrame | None:
        asked.append(pair)
        return cable if pair == "GBPUSD" else None

    conv = conversion(raw.instrument, "USD", raw.ts, raw.closing_mids(), pair_bars)
    assert conv is not None
    assert (conv.symbol, conv.inverse, asked) == ("GBPUSD", False, ["GBPUSD"])
    assert conv.rate.tolist() == pytest.approx([1.25 + 0.001 * (i + 2) for i in range(9)])
    s = raw.converted(conv)
    replayed, result = replay_detail(s, "ma_cross", PARAMS, COSTS, 100_000.0)
    swept = detail(s, "ma_cross", PARAMS, COSTS, 100_000.0)
    [trade] = swept.trades
    gross = (trade.exit_price - trade.entry_price) * 50_000  # in GBP
    assert trade.exit_index == 8
    assert trade.pnl == pytest.approx(gross * (1.25 + 0.010) - 3.5, abs=1e-9)
    assert [t.pnl for t in replayed.trades] == pytest.approx([trade.pnl], abs=1e-9)
    assert result.balance == pytest.approx(100_000 + trade.pnl, abs=1e-6)
    assert replayed.equity == pytest.approx(swept.equity, abs=1e-6)


def test_a_pair_with_no_way_to_the_account_currency_says_what_would_do() -> None:
    raw = bars("EURGBP", 0.8, 0.00012)
    with pytest.raises(ConversionError, match="needs GBPUSD or USDGBP bars") as refused:
        conversion(raw.instrument, "USD", raw.ts, raw.closing_mids())
    assert "--currency GBP" in str(refused.value)
    assert conversion(raw.instrument, "GBP", raw.ts, raw.closing_mids()) is None
    eur = conversion(raw.instrument, "EUR", raw.ts, raw.closing_mids())
    assert eur is not None
    assert (eur.symbol, eur.inverse) == ("EURGBP", True)


@pytest.fixture(scope="module")
def eurusd_ticks(shared_data: Path) -> TickSeries:
    frame = read_market_file(shared_data / "fx/EURUSD-ticks-2020-01.csv", SeriesKind.TICKS).frame
    return TickSeries.from_frame("EURUSD", standard("EURUSD"), frame)


def test_a_tick_replay_is_judged_on_the_bars_the_engine_built(eurusd_ticks: TickSeries) -> None:
    params = {"fast": 3, "slow": 8, "allow_short": True}
    full = replay_ticks_detail(eurusd_ticks, Timeframe.M1, "ma_cross", params, Costs(), 100_000)
    ts = eurusd_ticks.ts
    minutes = np.unique(ts - ts % MINUTE)
    assert full.bars.ts.tolist() == minutes.tolist()
    # the engine decided on these very bars: its bar count is theirs
    assert full.result.refusals == []
    assert len(full.trades) == len(full.detail.trades) > 5
    for at_tick, at_bar in zip(full.trades, full.detail.trades, strict=True):
        minute = ts[at_tick.entry_index] - ts[at_tick.entry_index] % MINUTE
        assert full.bars.ts[at_bar.entry_index] == minute
        assert (at_bar.entry_price, at_bar.pnl) == (at_tick.entry_price, at_tick.pnl)
    closed = sum(t.pnl for t in full.trades if t.exit_index is not None)
    assert full.result.balance == pytest.approx(100_000 + closed, abs=1e-6)
    # the last close marks the open trade (if any) at the last tick's bid or ask
    total = sum(t.pnl for t in full.trades)
    assert full.detail.equity[-1] == pytest.approx(100_000 + total, abs=1e-6)
    assert full.detail.metrics.trades == len(full.trades)
    last = full.bars
    assert (last.close[-1], last.ask_close is not None) == (eurusd_ticks.bid[-1], True)
