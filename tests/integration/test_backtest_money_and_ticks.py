"""BacktestWorkflow runs in the account's currency and tick by tick, on real servers and real
data: a USD account's USDJPY trades are worth yen at each bar's rate, a cross pair borrows
another stored pair's quotes (or the run says which pair it needs), and a tick replay keeps
the fills at the quotes they happened at, as the replay called directly does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError

from activities.backtests import BacktestActivities
from adapters.files.market_files import read_market_file
from domain.market_data import PriceSide, SeriesKind, Timeframe
from research.replay import replay_ticks_detail
from research.series import Costs
from temporal.backtests import BacktestRequest, set_key
from tests.conftest import RunningPlatform
from tests.integration.research_stack import ResearchStack, ns, research_stack

pytestmark = pytest.mark.shared_data


@pytest.fixture
async def stack(platform: RunningPlatform, shared_data: Path) -> AsyncIterator[ResearchStack]:
    async with research_stack(platform, shared_data, ("GBPUSD", "USDJPY")) as running:
        ticks = read_market_file(shared_data / "fx/EURUSD-ticks-2020-01.csv", SeriesKind.TICKS)
        running.market.write_ticks("EURUSD", ticks.frame)
        yield running


def yen_request(stack: ResearchStack, currency: str) -> BacktestRequest:
    return stack.request(
        symbol="USDJPY",
        start_ns=ns("2013-02-01"),
        end_ns=ns("2013-03-02"),
        mode="replay",
        grid={"fast": [10, 20]},
        params={"slow": 60},
        costs={},
        currency=currency,
    )


async def test_a_usd_accounts_yen_profit_is_converted_at_each_trades_rate(
    stack: ResearchStack,
) -> None:
    in_yen, in_usd = yen_request(stack, "JPY"), yen_request(stack, "USD")
    yen_result = await stack.run(in_yen)
    usd_result = await stack.run(in_usd)
    for yen, usd in zip(
        sorted(yen_result.kept, key=lambda k: k.set_index),
        sorted(usd_result.kept, key=lambda k: k.set_index),
        strict=True,
    ):
        a = stack.archive.trades(in_yen.run_id, set_key("all", yen.set_index))
        b = stack.archive.trades(in_usd.run_id, set_key("all", usd.set_index))
        assert a["entry_price"].to_list() == b["entry_price"].to_list()  # the same trades
        # each trade's yen at its own bar's rate: USDJPY stood between 91 and 95 then
        for jpy, dollars, exit_price in zip(a["pnl"], b["pnl"], a["exit_price"], strict=True):
            if jpy == 0:
                continue
            rate = dollars / jpy
            assert 1 / 95.5 < rate < 1 / 90.5
            if exit_price is not None:
                assert rate == pytest.approx(1 / exit_price, rel=2e-3)
        assert usd.final_equity - 100_000 == pytest.approx(sum(b["pnl"]), abs=1e-6)


async def test_a_cross_pair_borrows_another_pairs_quotes_or_names_the_pair_it_needs(
    stack: ResearchStack, shared_data: Path
) -> None:
    # GBPUSD's own bars stored again as EURGBP: a cross pair whose pounds GBPUSD converts
    for side, name in (
        (PriceSide.BID, "fx/GBPUSD-M1-bid-2012-02.csv"),
        (PriceSide.ASK, "fx/GBPUSD-M1-ask-2012-02.csv"),
    ):
        frame = read_market_file(shared_data / name, SeriesKind.BARS).frame
        stack.market.write_bars("EURGBP", Timeframe.M1, side, frame)
    grid = {"fast": [10], "slow": [60]}
    pounds = await stack.run(stack.request(symbol="EURGBP", grid=grid, costs={}, currency="GBP"))
    dollars = await stack.run(stack.request(symbol="EURGBP", grid=grid, costs={}, currency="USD"))
    gained = [r.top[0].metrics["final_equity"] for r in (pounds, dollars)]
    assert gained[0] != gained[1]
    ratio = (gained[1] - 100_000) / (gained[0] - 100_000)
    assert 1.50 < ratio < 1.62  # no commission: only GBPUSD's rate (1.55..1.59 that month)
    with pytest.raises(WorkflowFailureError) as failed:
        await stack.run(stack.request(symbol="EURGBP", grid=grid, currency="CHF"))
    assert "needs GBPCHF or CHFGBP bars" in str(failed.value.cause)


async def test_a_tick_replay_fills_at_the_quotes_as_the_replay_called_directly(
    stack: ResearchStack,
) -> None:
    request = stack.request(
        symbol="EURUSD",
        start_ns=ns("2020-01-01"),
        end_ns=ns("2020-01-03"),
        mode="replay",
        ticks=True,
        grid={"fast": [3, 5]},
        params={"slow": 8, "allow_short": True},
        costs={"commission_per_lot": 3.5},
    )
    result = await stack.run(request)
    ticks = BacktestActivities(stack.market, stack.runs, stack.archive)._ticks(
        request, request.start_ns, request.end_ns
    )
    assert len(result.kept) == 2
    for kept in result.kept:
        direct = replay_ticks_detail(
            ticks, Timeframe.M1, "ma_cross", kept.params, Costs(commission_per_lot=3.5), 100_000
        )
        archived = stack.archive.trades(request.run_id, set_key("all", kept.set_index))
        entries = archived["entry_ts"].dt.epoch("ns").to_list()
        assert entries == [int(ticks.ts[t.entry_index]) for t in direct.trades]
        assert archived["pnl"].to_list() == pytest.approx([t.pnl for t in direct.trades])
        assert kept.final_equity == pytest.approx(float(direct.detail.equity[-1]))
        curve = stack.archive.equity(request.run_id, set_key("all", kept.set_index))
        assert curve.height == len(direct.bars)  # one point per bar the engine built
    with pytest.raises(WorkflowFailureError) as failed:
        await stack.run(stack.request(symbol="GBPUSD", mode="replay", ticks=True))
    assert "no GBPUSD ticks in 2012-02-01..2012-03-01" in str(failed.value.cause)
