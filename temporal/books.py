"""The account-books workflow's contract: one per account, the owner of every fill that no
order workflow owns (bracket legs, the kill switch's flattening, a strategy's direct orders,
the broker's own deals) and of the reconciliation of the books against the venue."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import Field

from temporal.messages import Message

BOOKS_WORKFLOW = "AccountBooksWorkflow"


def books_workflow_id(account: str) -> str:
    return f"books-{account}"


class ReconcileRequest(Message):
    account: str
    tenant: str = "default"
    # deals earlier checks found missing, with when they were first missed: repaired once
    # still missing `min_gap_s` later, so a deal whose event is on its way is never a loss
    suspects: dict[str, datetime] = Field(default_factory=dict)
    min_gap_s: float = 2.0


class ReconciliationReport(Message):
    """One comparison of the books in PostgreSQL with the venue, and what it repaired."""

    account: str
    checked_at: datetime
    status: str  # equal | repaired | different | venue unreachable
    venue_fills: int = 0
    book_fills: int = 0
    repaired_fills: list[str] = Field(default_factory=list)  # deal ids recorded by this check
    # symbols whose positions were recomputed from their fills in the venue's order
    rebuilt_positions: list[str] = Field(default_factory=list)
    suspects: dict[str, datetime] = Field(default_factory=dict)  # missing, not yet for long
    differences: list[str] = Field(default_factory=list)  # what is still not equal, in words
    venue_balance: Decimal | None = None
    book_balance: Decimal | None = None

    @property
    def repaired(self) -> int:
        return len(self.repaired_fills)


class BooksRequest(Message):
    account: str
    tenant: str = "default"
    reconcile_s: float = Field(default=5.0, gt=0)  # how often the books meet the venue
    carried: ReconciliationReport | None = None  # the last report, over continue-as-new
    repairs: int = 0  # repairs made by earlier runs of this account's books
