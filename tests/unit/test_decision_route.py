"""On the decision route the engine sends a strategy's intent out as a candidate with a
deadline one bar ahead on the deadline clock, and frees the waiting strategy only on the
answer about that bar: a late answer about an older bar cannot free a newer intent."""

from __future__ import annotations

from decimal import Decimal

from domain.clock import ManualClock
from domain.instruments import fx_major
from domain.market import Bar
from domain.market_data import Timeframe
from domain.messages import DecisionCandidate
from domain.paper import PaperBroker
from domain.risk import RiskGate, RiskLimits
from domain.strategies import MaCross
from engine.core import Engine
from engine.outbox import Outbox

MINUTE = 60 * 10**9
T0 = 1_700_000_000 * 10**9


def deciding(clock: ManualClock | None) -> tuple[Engine, list[DecisionCandidate]]:
    """An engine on the decision route that has sent out one candidate."""
    instruments = {"EURUSD": fx_major("EURUSD")}
    strategy = MaCross("EURUSD", fast=2, slow=3, volume=Decimal("0.1"))
    engine = Engine(
        "d",
        instruments,
        [strategy],
        PaperBroker(instruments),
        RiskGate("d", RiskLimits()),
        Outbox(),
        balance=Decimal(100_000),
        route="decision",
        deadline_clock=clock,
    )
    closes = [1.10, 1.09, 1.08, 1.07, 1.09, 1.12]  # down, then a cross upwards
    candidates: list[DecisionCandidate] = []
    for i, close in enumerate(closes):
        engine.on_bar(Bar("EURUSD", Timeframe.M1, T0 + i * MINUTE, close, close, close, close))
        candidates += [e for e in engine.outbox.take() if isinstance(e, DecisionCandidate)]
    return engine, candidates


def test_a_candidate_is_worth_deciding_for_one_bar_on_the_deadline_clock() -> None:
    clock = ManualClock(T0 + 42 * MINUTE)  # the wall: not the data's time
    _, [candidate] = deciding(clock)
    assert candidate.expires_ns == clock.now_ns() + MINUTE
    _, [replayed] = deciding(None)  # a replay: no deadline
    assert replayed.expires_ns == 0


def test_only_the_answer_about_its_own_bar_frees_the_waiting_strategy() -> None:
    engine, [candidate] = deciding(ManualClock(T0))
    older_bar = candidate.bar_ts - MINUTE
    assert engine.intent_rejected(candidate.strategy, older_bar) is False
    assert candidate.strategy in engine.state.awaiting  # still waiting for its own answer
    assert engine.intent_rejected(candidate.strategy, candidate.bar_ts) is True
    assert candidate.strategy not in engine.state.awaiting
