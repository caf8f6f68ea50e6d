"""The decision path scores with the registry's champion and names its version; a promotion
reaches the running worker through PostgreSQL's notification, without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from adapters.files.market_files import read_market_file
from adapters.graph.postgres import PostgresGraphStore
from adapters.llm.reviewer import LlmReviewer
from adapters.postgres.models import PostgresModelRegistry, champion_changes
from adapters.postgres.pool import create_pool
from adapters.vectors.pgvector import PgVectorStore
from config.settings import PostgresSettings
from domain import lineage
from domain.market_data import SeriesKind
from domain.ports import ModelVersion
from ml.champions import ChampionScorer
from ml.dataset import LabelSpec, bars_with_spread, build_dataset
from ml.ensemble import train_ensemble
from ml.features import FEATURES_HASH
from ml.patterns import VectorPatternValidator, collection, history, index_history
from tests.conftest import RunningPlatform
from tests.fakes.chat_completions import KEY, serving
from tests.integration.test_decision_workflow import candidate, decide
from tests.trading_stack import T0, trading_stack

pytestmark = pytest.mark.shared_data

NAME = "EURUSD-M1"


@pytest.fixture
async def pool(platform: RunningPlatform) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(platform.postgres_url, PostgresSettings(), "tests")
    for table in ("model_challenges", "model_promotions", "model_versions"):
        await pool.execute(f"DELETE FROM {table} WHERE name = $1", NAME)
    yield pool
    await pool.close()


async def register_two(registry: PostgresModelRegistry, shared_data: Path, tmp: Path) -> None:
    """Two small ensembles on real minutes, saved and registered as versions 1 and 2."""
    fx = shared_data / "fx"
    bid = read_market_file(fx / "GBPUSD-M1-bid-2012-02.csv", SeriesKind.BARS).frame
    ask = read_market_file(fx / "GBPUSD-M1-ask-2012-02.csv", SeriesKind.BARS).frame
    data = build_dataset(bars_with_spread(bid, ask), LabelSpec())
    for version, rows in ((1, np.arange(6000)), (2, np.arange(6000, 12000))):
        part = data.rows(rows)
        ensemble = train_ensemble(part.x, part.y, ["lightgbm"], params={"lightgbm": {"rounds": 20}})
        ensemble.save(tmp / f"v{version}")
        registered = await registry.register(
            ModelVersion(
                NAME,
                0,
                "EURUSD",
                "M1",
                ("lightgbm",),
                FEATURES_HASH,
                "triple_barrier",
                T0,
                T0 + 1,
                str(tmp / f"v{version}"),
                {"log_loss": 0.65},
            )
        )
        assert registered.version == version


async def test_decisions_name_the_champion_that_scored_them_and_follow_a_promotion(
    platform: RunningPlatform, pool: asyncpg.Pool, shared_data: Path, tmp_path: Path
) -> None:
    registry = PostgresModelRegistry(pool)
    scorer = ChampionScorer(registry)
    async with (
        champion_changes(pool, scorer.invalidate),
        trading_stack(platform, scorer=scorer) as stack,
    ):
        explained = await decide(stack, candidate(stack, bar=0))
        assert explained.steps[0].outcome == "approved"
        assert explained.steps[0].reasons == [f"no champion for {NAME}: the signal passes"]

        await register_two(registry, shared_data, tmp_path)
        await registry.promote(NAME, 1)
        v1 = await decide(stack, candidate(stack, bar=1))
        model_step = v1.steps[0]
        assert (model_step.step, model_step.source) == ("model", f"{NAME} v1")
        assert model_step.score is not None
        assert 0 < model_step.score < 1
        traced = await lineage.trace(PostgresGraphStore(pool), v1.request.workflow_id)
        assert traced.model is not None
        assert (traced.model.key, traced.model.props["version"]) == (f"model:{NAME} v1", 1)
        assert traced.data is not None  # the range version 1 was trained on, as registered
        first = await registry.get(NAME, 1)
        assert first is not None
        data = traced.data.props
        assert (data["from_ns"], data["to_ns"]) == (first.data_from_ns, first.data_to_ns)

        await registry.promote(NAME, 2)  # no restart: the notification reloads it
        sources = []
        for bar in range(2, 40):
            explained = await decide(stack, candidate(stack, bar=bar))
            sources.append(explained.steps[0].source)
            if sources[-1] == f"{NAME} v2":
                break
            await asyncio.sleep(0.1)
        assert sources[-1] == f"{NAME} v2", sources


async def test_the_pattern_step_shows_its_evidence_from_the_indexed_history(
    platform: RunningPlatform, pool: asyncpg.Pool, shared_data: Path
) -> None:
    fx = shared_data / "fx"
    bars = read_market_file(fx / "GBPUSD-M1-bid-2012-02.csv", SeriesKind.BARS).frame
    close = bars["close"].to_numpy()
    ts = bars["ts"].dt.epoch("ns").to_numpy()
    store = PgVectorStore(pool)
    name = collection("EURUSD", "M1")
    await store.delete_collection(name)
    await index_history(store, name, history(ts[:20_000], close[:20_000], 30, step=2), 30)
    try:
        async with trading_stack(platform, validator=VectorPatternValidator(store)) as stack:
            request = candidate(stack, bar=0).model_copy(
                update={"closes": close[25_000:25_061].tolist()}
            )
            explained = await decide(stack, request)
    finally:
        await store.delete_collection(name)
    pattern = explained.steps[1]
    assert (pattern.step, pattern.source) == ("pattern", "pgvector")
    assert "similar windows" in pattern.reasons[0]
    assert pattern.reasons[0].split(":")[0] in ("agrees", "disagrees", "mixed")


async def test_the_llm_step_reviews_and_a_slow_provider_does_not_hold_the_decision(
    platform: RunningPlatform,
) -> None:
    with serving() as fake:
        reviewer = LlmReviewer.connect(fake.url, KEY, "openai", "gpt-4o-mini")
        async with trading_stack(platform, reviewer=reviewer) as stack:
            fake.script.append("ok:approve")
            reviewed = await decide(stack, candidate(stack, bar=0))
            llm = reviewed.steps[2]
            assert (llm.step, llm.outcome, llm.source) == ("llm", "approved", "openai:gpt-4o-mini")
            assert llm.reasons == ["momentum agrees"]
            fake.script.append("slow:10")
            slow = candidate(stack, bar=1).model_copy(update={"llm_budget_s": 0.5})
            explained = await decide(stack, slow)
    llm = explained.steps[2]
    assert llm.reasons[0].startswith("LLM timed out")  # the slow answer was an approval
    assert explained.steps[3].step == "portfolio"
    assert explained.outcome == "approved"  # the decision went on without the review


async def test_a_lost_notification_is_caught_up_by_looking_again(
    pool: asyncpg.Pool, shared_data: Path, tmp_path: Path
) -> None:
    registry = PostgresModelRegistry(pool)
    await register_two(registry, shared_data, tmp_path)
    await registry.promote(NAME, 1)
    scorer = ChampionScorer(registry, recheck_s=0.2)  # nobody listens for the notification
    features = {"ret_1": 0.0001}
    assert (await scorer.score("EURUSD", "buy", features)).source == f"{NAME} v1"
    await registry.promote(NAME, 2)
    assert (await scorer.score("EURUSD", "buy", features)).source == f"{NAME} v1"  # cached
    await asyncio.sleep(0.3)
    assert (await scorer.score("EURUSD", "buy", features)).source == f"{NAME} v2"
