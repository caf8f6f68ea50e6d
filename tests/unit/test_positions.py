"""Positions and PnL: netting and hedging, averages, flips, costs and currency conversion."""

from __future__ import annotations

from decimal import Decimal as D  # noqa: N817  (the books read better short)

import pytest

from domain.instruments import fx_major
from domain.orders import Fill, Side
from domain.positions import Book, QuoteRates, RateError

INSTRUMENTS = {
    s: fx_major(s, 3 if s.endswith("JPY") else 5) for s in ("EURUSD", "USDJPY", "EURGBP")
}


def fill(
    n: int, side: Side, volume: str, price: str, commission: str = "0", pos: str | None = None
) -> Fill:
    return Fill(f"d{n}", f"c{n}", side, D(volume), D(price), n, D(commission), pos)


def book(currency: str = "USD", hedging: bool = False, **mids: str) -> Book:
    rates = QuoteRates({k: D(v) for k, v in mids.items()})
    return Book(currency, INSTRUMENTS, rates, hedging=hedging, balance=D(10_000))


def test_netting_averages_in_and_realises_on_the_way_out() -> None:
    b = book()
    b.apply(fill(1, Side.BUY, "1", "1.10000"), "EURUSD")
    b.apply(fill(2, Side.BUY, "1", "1.10200"), "EURUSD")
    assert b.positions["EURUSD"].avg_price == D("1.10100")
    realised = b.apply(fill(3, Side.SELL, "0.5", "1.10300", commission="3.5"), "EURUSD")
    assert realised == D("100.000") - D("3.5")  # 0.002 x 0.5 lot x 100,000
    assert b.positions["EURUSD"].volume == D("1.5")
    assert b.balance == D("10096.5")


def test_a_flip_through_zero_opens_the_rest_at_the_fill_price() -> None:
    b = book()
    b.apply(fill(1, Side.BUY, "1", "1.10000"), "EURUSD")
    b.apply(fill(2, Side.SELL, "3", "1.09900"), "EURUSD")
    pos = b.positions["EURUSD"]
    assert (pos.volume, pos.avg_price) == (D(-2), D("1.09900"))
    assert pos.realised == D("-100.000")


def test_the_same_fill_twice_is_booked_once() -> None:
    b = book()
    b.apply(fill(1, Side.BUY, "1", "1.1"), "EURUSD")
    assert b.apply(fill(1, Side.BUY, "1", "1.1"), "EURUSD") == 0
    assert b.net_volume("EURUSD") == D(1)


def test_hedging_keeps_each_position_apart_and_closes_by_ticket() -> None:
    b = book(hedging=True)
    b.apply(fill(1, Side.BUY, "1", "1.10000"), "EURUSD")
    b.apply(fill(2, Side.SELL, "1", "1.10100"), "EURUSD")
    assert set(b.positions) == {"c1", "c2"}
    assert b.net_volume("EURUSD") == 0
    b.apply(fill(3, Side.SELL, "1", "1.10300", pos="c1"), "EURUSD")
    assert set(b.positions) == {"c2"}
    assert b.closed[0].realised == D("300.000")
    with pytest.raises(KeyError, match="unknown position c9"):
        b.apply(fill(4, Side.BUY, "1", "1.1", pos="c9"), "EURUSD")


def test_profit_in_another_currency_is_converted_with_quotes() -> None:
    b = book(USDJPY="150.000")
    b.apply(fill(1, Side.BUY, "1", "150.000"), "USDJPY")
    realised = b.apply(fill(2, Side.SELL, "1", "151.500"), "USDJPY")
    assert realised == D("150000.000") / D("150.000")  # 1.5 JPY x 100,000 = 150,000 JPY = 1,000 USD


def test_cross_rates_go_through_usd() -> None:
    rates = QuoteRates({"EURUSD": D("1.10"), "GBPUSD": D("1.25")})
    assert rates.rate("GBP", "EUR") == D("1.25") / D("1.10")
    with pytest.raises(RateError, match="no quote converts CHF to USD"):
        rates.rate("CHF", "USD")


def test_open_positions_are_marked_at_the_closing_side() -> None:
    b = book()
    b.apply(fill(1, Side.BUY, "1", "1.10000"), "EURUSD")
    quotes = {"EURUSD": (D("1.10050"), D("1.10070"))}
    assert b.unrealised(quotes) == D("50.000")
    assert b.equity(quotes) == D("10050.000")
    b.charge_swap("EURUSD", D("-2.10"))
    assert b.positions["EURUSD"].net_realised == D("-2.10")
