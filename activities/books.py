"""The books' I/O: recording a deal, and comparing the books with the venue to repair them.

The venue is the truth. A comparison asks the account's hot path for every deal and position
the venue reports, records each deal the books lack (with the provenance the venue gave it,
marked as found by reconciliation), recomputes the affected positions from their fills, and
reports what still differs. A deal is taken for lost only when two checks in a row miss it:
one whose event is on its way is recorded by its owner, not repaired. A repair is logged,
announced to traders on the account's event stream, and kept with the report in PostgreSQL;
it is never silent.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from temporalio import activity

from domain.messages import (
    BooksRepaired,
    QueryVenue,
    UnreadableMessageError,
    encode,
    events_stream,
    read_reply,
)
from domain.ports import BooksUnavailableError, EventBus, HotpathLink, OrderBook
from domain.replies import VenuePosition, VenueReport
from temporal.books import ReconcileRequest, ReconciliationReport

log = logging.getLogger("aitp.books")
VENUE_ANSWER_S = 5.0
WINDOW_NS = 86_400 * 1_000_000_000  # deals compared: the day before the newest booked one
PRICE_TOLERANCE = Decimal("1e-9")  # average prices summed in another order


class BooksActivities:
    def __init__(self, hotpath: HotpathLink, book: OrderBook, bus: EventBus) -> None:
        self._hotpath = hotpath
        self._book = book
        self._bus = bus

    @activity.defn(name="reconcile_books")
    async def reconcile_books(self, request: ReconcileRequest) -> ReconciliationReport:
        account = request.account
        now = datetime.now(UTC)
        await self._book.ensure_account(account, request.tenant)
        # the books first: a deal booked while the venue answers is then not taken for extra
        since = max(await self._book.latest_fill_ns(account) - WINDOW_NS, 0)
        booked = await self._book.fill_ids(account, since)
        reply = await self._hotpath.ask(
            account, f"venue-{uuid.uuid4().hex}", QueryVenue(since_ns=since), VENUE_ANSWER_S
        )
        venue: VenueReport | None = None
        if reply is not None and reply.ok:
            try:
                venue = read_reply(VenueReport, reply.data)
            except UnreadableMessageError as exc:
                log.error("the venue report of %s is unreadable: %s", account, exc)
        if venue is None:
            report = ReconciliationReport(
                account=account, checked_at=now, status="venue unreachable"
            )
            await self._save(report)
            return report
        missing = sorted((f for f in venue.fills if f.fill_id not in booked), key=lambda f: f.ts)
        ripe = now - timedelta(seconds=request.min_gap_s)
        confirmed = [f for f in missing if request.suspects.get(f.fill_id, now) <= ripe]
        taken = {f.fill_id for f in confirmed}
        suspects = {
            f.fill_id: request.suspects.get(f.fill_id, now)
            for f in missing
            if f.fill_id not in taken
        }
        order = [f.fill_id for f in venue.fills]  # the venue reports its deals in its order
        repaired, refused = [], []
        for deal in confirmed:
            try:
                if await self._book.record_fill(account, deal, repair=True):
                    repaired.append(deal)
            except BooksUnavailableError:
                raise
            except Exception as exc:  # one bad deal must not stop the others' repair
                refused.append(f"deal {deal.fill_id} cannot be booked: {exc}")
        if repaired:
            await self._book.rebuild_positions(account, {f.symbol for f in repaired}, order)
        held = await self._book.positions(account)
        balance = await self._book.balance(account)
        drifted = _differences(venue.positions, held) if not suspects else []
        rebuilt: list[str] = []
        if drifted and not refused and not (booked - {f.fill_id for f in venue.fills}):
            # Every deal is booked, yet a position differs: its fills were applied in the order
            # they arrived, which faults can change, and an average price depends on the
            # order. Recomputed from the fills in the venue's order, it is the venue's.
            rebuilt = sorted({p.symbol for p in venue.positions} | set(held))
            await self._book.rebuild_positions(account, rebuilt, order)
            held = await self._book.positions(account)
            drifted = _differences(venue.positions, held)
        differences = refused + drifted
        extra = booked - {f.fill_id for f in venue.fills}
        if extra:
            differences.append(
                f"{len(extra)} deals in the books the venue does not report: "
                + ", ".join(sorted(extra)[:5])
            )
        if balance is not None and _cents(balance) != _cents(venue.balance) and not suspects:
            differences.append(f"balance: the venue says {venue.balance}, the books {balance}")
        status = (
            "different"
            if differences
            else "repaired"
            if repaired or rebuilt
            else "catching up"
            if suspects
            else "equal"
        )
        report = ReconciliationReport(
            account=account,
            checked_at=now,
            status=status,
            venue_fills=len(venue.fills),
            book_fills=len(booked) + len(repaired),
            repaired_fills=[f.fill_id for f in repaired],
            rebuilt_positions=rebuilt,
            suspects=suspects,
            differences=differences,
            venue_balance=venue.balance,
            book_balance=balance,
        )
        if repaired:
            log.warning(
                "books of %s repaired: %d deals recorded from the venue (%s)",
                account,
                len(repaired),
                ", ".join(report.repaired_fills[:10]),
            )
            announce = BooksRepaired(
                account=account,
                fills=report.repaired_fills,
                symbols=sorted({f.symbol for f in repaired}),
            )
            await self._bus.publish(events_stream(account), encode(announce))
        if rebuilt:
            log.warning(
                "books of %s: positions of %s rebuilt in the venue's order", account, rebuilt
            )
        if differences:
            log.error("books of %s differ from the venue: %s", account, "; ".join(differences))
        await self._save(report)
        return report

    async def _save(self, report: ReconciliationReport) -> None:
        """Kept in PostgreSQL for `aitp books check` and the API, and counted in the worker's
        metrics: repaired deals, and checks by their outcome."""
        meter = activity.metric_meter()
        account = {"account": report.account}
        meter.create_counter(
            "aitp_books_repaired_fills", "deals the books lacked, recorded from the venue"
        ).add(len(report.repaired_fills), account)
        meter.create_counter(
            "aitp_books_checks", "comparisons of the books with the venue, by outcome"
        ).add(1, account | {"status": report.status})
        await self._book.save_reconciliation(
            report.account,
            report.model_dump(mode="json"),
            report.repaired,
        )


def _cents(amount: Decimal) -> Decimal:
    """Money compared as the account shows it: the venue's running balance and the books'
    sum round differently in the last of their 28 digits."""
    return amount.quantize(Decimal("0.01"))


def _differences(
    venue: Iterable[VenuePosition], books: Mapping[str, tuple[Decimal, Decimal]]
) -> list[str]:
    """Net volume and average price per symbol, where the books and the venue disagree."""
    held: dict[str, list[VenuePosition]] = {}
    for p in venue:
        held.setdefault(p.symbol, []).append(p)
    found = []
    for symbol in sorted(set(held) | set(books)):
        tickets = held.get(symbol, [])
        volume = sum((p.volume for p in tickets), Decimal(0))
        booked, booked_avg = books.get(symbol, (Decimal(0), Decimal(0)))
        if volume != booked:
            found.append(f"{symbol}: the venue holds {volume}, the books {booked}")
        elif len(tickets) == 1 and abs(tickets[0].avg_price - booked_avg) > PRICE_TOLERANCE:
            found.append(
                f"{symbol}: average price {tickets[0].avg_price} at the venue, {booked_avg} booked"
            )
    return found
