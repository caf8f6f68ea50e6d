"""The pre-trade risk gate: one test per reason code, and the kill switch."""

from __future__ import annotations

import dataclasses
import itertools
from decimal import Decimal as Dec
from pathlib import Path

from domain.instruments import TradeMode, fx_major
from domain.market import QuoteTick
from domain.orders import Fill, Order, OrderType, Side
from domain.positions import Book, LiveQuoteRates
from domain.risk import (
    GLOBAL,
    KILL_SWITCH,
    AccountState,
    KillSwitch,
    Reason,
    RiskGate,
    RiskLimits,
    TradingWindow,
    account_state,
)

NOW = 1_700_000_000 * 10**9  # a Tuesday, 22:13 UTC
EURUSD = fx_major("EURUSD")
QUOTE = QuoteTick("EURUSD", NOW - 10**9, 1.10000, 1.10010)
ids = itertools.count()


def order(side: Side = Side.BUY, volume: str = "1", **kw: object) -> Order:
    return Order(f"c{next(ids)}", "EURUSD", side, Dec(volume), **kw)  # type: ignore[arg-type]


def account(**kw: object) -> AccountState:
    return AccountState(equity=Dec(100_000), **kw)  # type: ignore[arg-type]


def check(
    o: Order,
    limits: RiskLimits | None = None,
    acct: AccountState | None = None,
    quote: QuoteTick | None = QUOTE,
    gate: RiskGate | None = None,
    instrument=EURUSD,
) -> Reason | None:
    gate = gate or RiskGate("acct-1", limits or RiskLimits())
    return gate.check(o, instrument, quote, acct or account(), NOW).reason


def test_a_plain_order_passes() -> None:
    assert check(order()) is None


def test_price_collar() -> None:
    far = order(order_type=OrderType.LIMIT, price=Dec("1.2"))
    assert check(far) is Reason.PRICE_COLLAR
    near = order(order_type=OrderType.LIMIT, price=Dec("1.1005"))
    assert check(near) is None


def test_stale_and_missing_quotes() -> None:
    old = QuoteTick("EURUSD", NOW - 60 * 10**9, 1.1, 1.1001)
    assert check(order(), quote=old) is Reason.STALE_QUOTE
    assert check(order(), quote=None) is Reason.NO_QUOTE


def test_max_order_size_and_notional() -> None:
    assert check(order(volume="11")) is Reason.MAX_ORDER_SIZE
    assert (
        check(order(volume="5"), RiskLimits(max_order_notional=Dec(500_000))) is Reason.MAX_NOTIONAL
    )


def test_invalid_volume_is_refused_not_rounded() -> None:
    assert check(order(volume="0.015")) is Reason.INVALID_VOLUME


def test_max_position_counts_what_is_already_held_but_lets_reductions_pass() -> None:
    held = account(net_volume={"EURUSD": Dec(19)})
    assert check(order(volume="2"), acct=held) is Reason.MAX_POSITION
    assert check(order(Side.SELL, volume="5"), acct=held) is None


def test_max_gross_exposure() -> None:
    exposed = account(gross_exposure=Dec(9_950_000))
    assert check(order(), acct=exposed) is Reason.MAX_GROSS_EXPOSURE


def test_margin() -> None:
    poor = AccountState(equity=Dec(1_000))  # 1 lot at 1:100 needs ~1,100
    assert check(order(), acct=poor) is Reason.INSUFFICIENT_MARGIN
    assert check(order(volume="0.5"), acct=poor) is None


def test_daily_loss_goes_reduce_only_then_halts() -> None:
    losing = account(daily_pnl=Dec(-6_000), net_volume={"EURUSD": Dec(2)})
    assert check(order(), acct=losing) is Reason.REDUCE_ONLY
    assert check(order(Side.SELL, volume="1"), acct=losing) is None
    halted = account(daily_pnl=Dec(-10_000), net_volume={"EURUSD": Dec(2)})
    assert check(order(Side.SELL, volume="1"), acct=halted) is Reason.HALTED


def test_order_rate_throttle() -> None:
    gate = RiskGate("a", RiskLimits(max_orders_per_window=3, max_repeats=100))
    results = [check(order(volume=f"0.0{i + 1}"), gate=gate) for i in range(4)]
    assert results == [None, None, None, Reason.ORDER_RATE]


def test_repeated_order_throttle() -> None:
    gate = RiskGate("a", RiskLimits(max_repeats=2))
    assert [check(order(), gate=gate) for _ in range(3)] == [None, None, Reason.REPEATED_ORDER]
    assert check(order(volume="2"), gate=gate) is None


def test_duplicate_client_id() -> None:
    gate = RiskGate("a", RiskLimits())
    first = order()
    assert check(first, gate=gate) is None
    assert check(dataclasses.replace(first), gate=gate) is Reason.DUPLICATE_CLIENT_ID


def test_restricted_symbols() -> None:
    assert check(order(), RiskLimits(restricted=frozenset({"EURUSD"}))) is Reason.RESTRICTED_SYMBOL


def test_trade_mode_of_the_instrument() -> None:
    close_only = dataclasses.replace(EURUSD, trade_mode=TradeMode.CLOSE_ONLY)
    assert check(order(), instrument=close_only) is Reason.TRADE_DISABLED
    held = account(net_volume={"EURUSD": Dec(1)})
    assert check(order(Side.SELL), acct=held, instrument=close_only) is None


def test_trading_session() -> None:
    weekdays_9_to_17 = RiskLimits(
        sessions={"EURUSD": (TradingWindow(frozenset(range(5)), 9 * 60, 17 * 60),)}
    )
    assert check(order(), weekdays_9_to_17) is Reason.OUTSIDE_SESSION
    evenings = RiskLimits(sessions={"EURUSD": (TradingWindow(frozenset({1}), 22 * 60, 23 * 60),)})
    assert check(order(), evenings) is None


def test_max_spread() -> None:
    wide = QuoteTick("EURUSD", NOW, 1.10000, 1.10050)
    assert check(order(), RiskLimits(max_spread_points=20), quote=wide) is Reason.MAX_SPREAD


def test_kill_switch_refuses_until_rearmed_but_lets_its_flattening_through() -> None:
    switch = KillSwitch()
    gate = RiskGate("acct-1", RiskLimits(), switch)
    held = account(net_volume={"EURUSD": Dec(1)})
    switch.engage("acct-1", flatten=True)
    assert switch.flatten("acct-1")
    assert check(order(), gate=gate, acct=held) is Reason.KILL_SWITCH
    assert check(order(Side.SELL, strategy=KILL_SWITCH), gate=gate, acct=held) is None
    switch.rearm("acct-1")
    assert check(order(), gate=gate, acct=held) is None
    switch.engage(GLOBAL)
    assert check(order(), gate=RiskGate("acct-2", RiskLimits(), switch)) is Reason.KILL_SWITCH


def test_every_reason_code_has_a_test() -> None:
    tests = Path(__file__).resolve().parents[1]
    source = "".join(p.read_text() for p in tests.rglob("test_*.py"))
    missing = [r.name for r in Reason if f"Reason.{r.name}" not in source]
    assert missing == []


def test_an_order_that_cannot_be_valued_in_the_account_currency_is_refused() -> None:
    usdjpy = fx_major("USDJPY", digits=3)
    jpy = Order("c-jpy", "USDJPY", Side.BUY, Dec(1))
    quote = QuoteTick("USDJPY", NOW, 150.0, 150.01)
    gate = RiskGate("a", RiskLimits())
    refused = gate.check(jpy, usdjpy, quote, account(), NOW)
    assert refused.reason is Reason.NO_QUOTE
    assert "no quote converts JPY to USD" in refused.detail
    valued = account(to_account={"JPY": Dec(1) / Dec(150)})
    assert gate.check(jpy, usdjpy, quote, valued, NOW).accepted


def test_the_account_the_gate_sees_marks_positions_where_they_would_close() -> None:
    """A long EURUSD and a short USDJPY on a USD account: equity, the day's P&L, margin and
    gross exposure in dollars, the yen converted at the USDJPY quote."""
    instruments = {"EURUSD": EURUSD, "USDJPY": fx_major("USDJPY", 3)}
    quotes = {
        "EURUSD": QuoteTick("EURUSD", NOW, 1.10100, 1.10110),
        "USDJPY": QuoteTick("USDJPY", NOW, 150.000, 150.020),
    }
    book = Book("USD", instruments, LiveQuoteRates(quotes), balance=Dec(10_000))
    book.apply(Fill("f1", "o1", Side.BUY, Dec(1), Dec("1.10000"), NOW), "EURUSD")
    book.apply(Fill("f2", "o2", Side.SELL, Dec("0.5"), Dec("150.000"), NOW), "USDJPY")
    state = account_state(book, instruments, quotes, realised_today=Dec(-40), leverage=Dec(50))
    eur_open = Dec("0.00100") * 100_000  # long, marked at the bid: +100 USD
    jpy_open = Dec("-0.020") * 50_000 / Dec("150.010")  # short, marked at the ask, in yen
    assert state.equity == Dec(10_000) + eur_open + jpy_open
    assert state.daily_pnl == Dec(-40) + eur_open + jpy_open
    eur_notional = Dec("1.10100") * 100_000
    usd_notional = Dec("150.020") * 50_000 / Dec("150.010")
    assert state.gross_exposure == eur_notional + usd_notional
    assert abs(state.used_margin - (eur_notional + usd_notional) / 50) < Dec("1e-20")
    assert state.net_volume == {"EURUSD": Dec(1), "USDJPY": Dec("-0.5")}


def test_a_loss_of_the_day_through_the_account_view_leaves_only_reductions() -> None:
    instruments = {"EURUSD": EURUSD}
    quotes = {"EURUSD": QUOTE}
    book = Book("USD", instruments, LiveQuoteRates(quotes), balance=Dec(100_000))
    book.apply(Fill("f1", "o1", Side.BUY, Dec(2), Dec("1.10400"), NOW), "EURUSD")  # 800 under
    state = account_state(book, instruments, quotes, realised_today=Dec(0), leverage=Dec(100))
    limits = RiskLimits(daily_loss_reduce_only=Dec(500))
    assert check(order(Side.BUY), limits, state) is Reason.REDUCE_ONLY
    assert check(order(Side.SELL), limits, state) is None


def test_an_order_the_broker_would_refuse_is_refused_here_too() -> None:
    """Stops on the wrong side of the market, a price off the tick: whatever path sent it."""
    wrong_stop = order(stop_loss=Dec("1.10020"))  # a buy's stop above the ask
    assert check(wrong_stop) is Reason.INVALID_ORDER
    off_tick = order(order_type=OrderType.LIMIT, price=Dec("1.100005"))
    assert check(off_tick) is Reason.INVALID_ORDER
    assert check(order(stop_loss=Dec("1.09900"), take_profit=Dec("1.10100"))) is None
