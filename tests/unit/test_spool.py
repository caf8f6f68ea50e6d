"""The spooled outbox: a hot path killed while the bus was away sends, on its restart, every
order and fill event it had not delivered, in order, and no quote sample; the engine's
events go through it exactly as through the in-memory outbox."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from domain.messages import (
    DecisionCandidate,
    Event,
    FillReported,
    OrderAccepted,
    QuoteSampled,
    UnreadableMessageError,
)
from domain.orders import Side
from hotpath.publisher import Publisher
from hotpath.spool import SpooledOutbox


def fill(n: int) -> FillReported:
    return FillReported(
        fill_id=f"d-{n}",
        client_order_id=f"c-{n}",
        symbol="EURUSD",
        side=Side.BUY,
        volume=Decimal("0.10"),
        price=Decimal("1.10012"),
        ts=n,
        commission=Decimal("0.70"),
    )


def quote(n: int) -> QuoteSampled:
    return QuoteSampled(symbol="EURUSD", ts=n, bid=1.1, ask=1.1002)


class FlakyBus:
    """Takes `fails_after` events, then is away."""

    def __init__(self, fails_after: int) -> None:
        self.left = fails_after
        self.taken: list[str] = []

    async def publish(self, stream: str, fields: dict[str, bytes]) -> str:
        if self.left == 0:
            raise ConnectionError("the bus is away")
        self.left -= 1
        self.taken.append(fields["type"].decode())
        return f"{len(self.taken)}-0"


def emitted(outbox: SpooledOutbox, events: list[Event]) -> None:
    for event in events:
        outbox.emit(event)


async def test_what_the_bus_did_not_take_comes_back_after_a_crash_in_order(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "acct.outbox"
    first = SpooledOutbox(spool)
    events: list[Event] = [
        OrderAccepted(client_order_id="c-1"),
        quote(1),
        fill(1),
        quote(2),
        OrderAccepted(client_order_id="c-2"),
        fill(2),
    ]
    emitted(first, events)
    bus = FlakyBus(fails_after=3)  # takes the acceptance, a sample and the first fill
    with pytest.raises(ConnectionError):
        await Publisher(first, bus, "events:acct").flush()  # type: ignore[arg-type]
    assert bus.taken == ["order_accepted", "quote", "fill"]
    assert first.undelivered == 2
    # killed here: a new process on the same files
    second = SpooledOutbox(spool)
    assert second.restored == 2
    assert second.take() == [OrderAccepted(client_order_id="c-2"), fill(2)]  # no sample


async def test_after_a_clean_delivery_nothing_comes_back_and_the_numbers_go_on(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "acct.outbox"
    first = SpooledOutbox(spool, compact_bytes=1)
    emitted(first, [fill(1), fill(2)])
    await Publisher(first, FlakyBus(fails_after=10), "events:acct").flush()  # type: ignore[arg-type]
    assert spool.stat().st_size == 0  # all delivered and past the bound: emptied
    assert SpooledOutbox(spool).restored == 0
    again = SpooledOutbox(spool)
    again.emit(fill(3))
    assert (tmp_path / "acct.outbox.delivered").read_text() == "2"
    assert b'"n":3,' in spool.read_bytes()  # numbered after the two delivered before
    third = SpooledOutbox(spool)
    assert third.restored == 1
    assert third.take() == [fill(3)]
    third.close()  # not delivered: kept for the next start
    assert SpooledOutbox(spool).restored == 1


async def test_a_clean_close_with_everything_delivered_empties_the_spool(tmp_path: Path) -> None:
    spool = tmp_path / "acct.outbox"
    outbox = SpooledOutbox(spool)
    emitted(outbox, [fill(1), quote(1)])
    await Publisher(outbox, FlakyBus(fails_after=10), "events:acct").flush()  # type: ignore[arg-type]
    outbox.close()
    assert spool.stat().st_size == 0


def test_delivered_lines_are_not_read_again_whatever_their_version(tmp_path: Path) -> None:
    spool = tmp_path / "acct.outbox"
    spool.write_bytes(b'{"n":1,"type":"fill","v":99,"data":{}}\n')  # a version long gone
    (tmp_path / "acct.outbox.delivered").write_text("1")
    outbox = SpooledOutbox(spool)
    assert outbox.restored == 0
    outbox.emit(fill(2))
    assert b'"n":2,' in spool.read_bytes()


def test_a_torn_marker_sends_the_whole_spool_again(tmp_path: Path) -> None:
    spool = tmp_path / "acct.outbox"
    first = SpooledOutbox(spool)
    emitted(first, [fill(1), fill(2)])
    (tmp_path / "acct.outbox.delivered").write_text("")  # a power cut mid-replace
    assert SpooledOutbox(spool).take() == [fill(1), fill(2)]  # copies change nothing


def test_a_failed_write_keeps_the_event_in_memory_and_the_numbers_in_step(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "acct.outbox"
    outbox = SpooledOutbox(spool)
    outbox.emit(fill(1))
    os.close(outbox._fd)  # the disk refuses: every write fails now
    outbox._fd = os.open(os.devnull, os.O_RDONLY)
    outbox.emit(fill(2))
    assert outbox.unspooled == 1
    assert outbox.take() == [fill(1), fill(2)]  # queued all the same: the bus still gets it
    outbox.sent([fill(1), fill(2)])
    assert (tmp_path / "acct.outbox.delivered").read_text() == "1"  # the last one written


def test_decision_candidates_are_not_spooled(tmp_path: Path) -> None:
    spool = tmp_path / "acct.outbox"
    outbox = SpooledOutbox(spool)
    outbox.emit(
        DecisionCandidate(
            account="acct",
            symbol="EURUSD",
            strategy="s",
            bar_ts=0,
            side=Side.BUY,
            volume=Decimal("0.1"),
        )
    )
    assert len(outbox) == 1
    assert spool.read_bytes() == b""  # only the process that made it waits for it


def test_a_line_torn_by_a_kill_is_cut_and_the_next_event_stands_on_its_own(
    tmp_path: Path,
) -> None:
    spool = tmp_path / "acct.outbox"
    first = SpooledOutbox(spool)
    first.emit(fill(1))
    with spool.open("ab") as handle:
        handle.write(b'{"n":2,"type":"fill","v":1,"data":{"fill_')  # killed mid-write
    second = SpooledOutbox(spool)
    assert second.restored == 1
    second.emit(fill(2))
    third = SpooledOutbox(spool)
    assert third.take() == [fill(1), fill(2)]


def test_a_spool_that_cannot_be_read_stops_the_start_and_names_the_line(tmp_path: Path) -> None:
    spool = tmp_path / "acct.outbox"
    spool.write_bytes(b'{"n":1,"type":"fill","v":1,"data":{"fill_id":"d-1"}}\n')
    with pytest.raises(UnreadableMessageError, match=r"acct\.outbox line 1"):
        SpooledOutbox(spool)


async def test_the_spool_and_its_marker_are_the_platform_users_own(tmp_path: Path) -> None:
    spool = tmp_path / "acct.outbox"
    outbox = SpooledOutbox(spool)
    outbox.emit(fill(1))
    await Publisher(outbox, FlakyBus(fails_after=1), "events:acct").flush()  # type: ignore[arg-type]
    assert spool.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "acct.outbox.delivered").stat().st_mode & 0o777 == 0o600
