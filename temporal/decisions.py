"""The decision workflow's contract: the candidate, each step's verdict, the explanation."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

from pydantic import Field

from domain.messages import DecisionCandidate
from domain.orders import OrderType, Side
from temporal.messages import Message
from temporal.orders import OrderRequest

_ORDER_TERMS = (
    "account",
    "tenant",
    "client_order_id",
    "symbol",
    "side",
    "volume",
    "strategy",
    "order_type",
    "price",
    "stop_loss",
    "take_profit",
)

DECISION_WORKFLOW = "AIDecisionWorkflow"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class DecisionRequest(Message):
    """A decision candidate as the hot path emitted it, feature snapshot included."""

    account: str
    tenant: str = "default"
    symbol: str
    strategy: str
    bar_ts: int
    side: Side
    volume: Decimal = Field(gt=0)
    reason: str = ""
    features: dict[str, float | None] = Field(default_factory=dict)
    closes: list[float] = Field(
        default_factory=list, description="the last closes up to the bar, oldest first"
    )
    llm_budget_s: float = 2.0
    order_type: OrderType = OrderType.MARKET
    price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None

    @classmethod
    def of(cls, candidate: DecisionCandidate, tenant: str = "default") -> DecisionRequest:
        """The decision's input for a candidate the hot path emitted."""
        return cls(
            account=candidate.account,
            tenant=tenant,
            symbol=candidate.symbol,
            strategy=candidate.strategy,
            bar_ts=candidate.bar_ts,
            side=candidate.side,
            volume=candidate.volume,
            reason=candidate.reason,
            features=candidate.features,
            closes=candidate.closes,
            order_type=candidate.order_type,
            price=candidate.price,
            stop_loss=candidate.stop_loss,
            take_profit=candidate.take_profit,
        )

    @property
    def workflow_id(self) -> str:
        return decision_workflow_id(self.account, self.symbol, self.strategy, self.bar_ts)

    def order_request(self) -> OrderRequest:
        """The order an approval places: the candidate's terms, with the protection (order
        type, price, stop-loss, take-profit) the strategy asked for."""
        return OrderRequest(**{name: getattr(self, name) for name in _ORDER_TERMS})

    @property
    def client_order_id(self) -> str:
        """Fixed by the decision, so a replayed decision can only ever mean the same order."""
        return "d" + hashlib.sha1(self.workflow_id.encode()).hexdigest()[:20]  # noqa: S324

    @property
    def summary(self) -> str:
        direction = "long" if self.side is Side.BUY else "short"
        return f"{self.symbol} {direction} {self.strategy}"


def decision_workflow_id(account: str, symbol: str, strategy: str, bar_ts: int) -> str:
    return "-".join(
        _UNSAFE.sub("_", part) for part in ("decision", account, symbol, strategy, str(bar_ts))
    )


class StepVerdict(Message):
    step: str  # model | pattern | llm | portfolio
    outcome: str  # approved | rejected | no model | not configured | skipped
    score: float | None = None
    reasons: list[str] = Field(default_factory=list)
    source: str | None = None  # which model version, validator or provider said it
    elapsed_ms: float = 0.0

    @property
    def rejects(self) -> bool:
        return self.outcome == "rejected"


class DecisionExplanation(Message):
    request: DecisionRequest
    steps: list[StepVerdict]
    outcome: str  # pending | approved | rejected
    reason: str = ""
    client_order_id: str | None = None


class DecisionLineage(Message):
    """A decided candidate's links for the lineage graph, written once it has decided."""

    decision_id: str
    explanation: DecisionExplanation

    @property
    def model_tag(self) -> str | None:
        """The model version that scored it, where one did."""
        model = next((s for s in self.explanation.steps if s.step == "model"), None)
        return model.source if model is not None and model.score is not None else None
