"""The LLM review against a server speaking OpenAI's chat-completions API (the local fake;
the provider itself when AITP_LLM__API_KEY is set): structured answers, a strict time budget,
retries only where it allows, and every call's tokens and cost counted per tenant in a real
PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from adapters.llm.reviewer import SCHEMA, LlmReviewer
from adapters.postgres.llm_usage import PostgresLlmUsage
from config.settings import Settings
from tests.conftest import RunningPlatform
from tests.contract.stores import scratch_database
from tests.fakes.chat_completions import KEY, FakeChatCompletions, serving

FEATURES = {"ret_1": 0.0001, "rsi14": 61.0, "vol_20": None}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeChatCompletions]:
    with serving() as server:
        yield server


@pytest.fixture
async def pool(platform: RunningPlatform) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_database(platform.postgres_url, "llm") as pool:
        yield pool


def reviewer(
    fake: FakeChatCompletions, pool: asyncpg.Pool, key: str = KEY, model: str = "gpt-4o-mini"
) -> LlmReviewer:
    fake.script.clear()
    fake.requests.clear()
    return LlmReviewer.connect(
        fake.url,
        key,
        "openai",
        model,
        PostgresLlmUsage(pool),
        input_usd_per_mtok=0.15,
        output_usd_per_mtok=0.60,
    )


async def test_a_structured_answer_is_the_opinion_and_its_cost_is_counted(
    fake: FakeChatCompletions, pool: asyncpg.Pool
) -> None:
    review = reviewer(fake, pool)
    opinion = await review.review("EURUSD", "buy", FEATURES, 2.0, tenant="desk")
    assert (opinion.approve, opinion.score, opinion.source) == (True, 0.7, "openai:gpt-4o-mini")
    assert opinion.reasons == ("momentum agrees",)
    [sent] = fake.requests
    assert sent["model"] == "gpt-4o-mini"
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"] == SCHEMA
    assert sent["response_format"]["json_schema"]["strict"] is True
    assert '"symbol":"EURUSD"' in sent["messages"][1]["content"]
    fake.script.append("ok:reject")
    rejected = await review.review("EURUSD", "sell", FEATURES, 2.0, tenant="desk")
    assert rejected.approve is False
    [row] = await PostgresLlmUsage(pool).usage("desk")
    assert (row["requests"], row["failures"], row["completion_tokens"]) == (2, 0, 40)
    assert row["cost_usd"] == pytest.approx(
        (row["prompt_tokens"] * 0.15 + row["completion_tokens"] * 0.60) / 1e6
    )
    assert await PostgresLlmUsage(pool).usage("other") == []


@pytest.mark.parametrize(
    "script", [["429:0.1"], ["500", "500"], ["malformed"]], ids=["429", "500x2", "malformed"]
)
async def test_a_failed_attempt_is_retried_while_the_budget_allows(
    fake: FakeChatCompletions, pool: asyncpg.Pool, script: list[str]
) -> None:
    review = reviewer(fake, pool)
    fake.script.extend(script)
    opinion = await review.review("EURUSD", "buy", FEATURES, 3.0)
    assert opinion.approve is True
    assert len(fake.requests) == len(script) + 1
    [row] = await PostgresLlmUsage(pool).usage("default")
    assert (row["requests"], row["failures"]) == (len(script) + 1, len(script))


async def test_a_slow_provider_times_out_within_the_budget(
    fake: FakeChatCompletions, pool: asyncpg.Pool
) -> None:
    review = reviewer(fake, pool)
    fake.script.append("slow:5")  # it would approve, had the reviewer waited for it
    opinion = await review.review("EURUSD", "buy", FEATURES, 0.5)
    assert opinion.approve is None
    assert opinion.reasons[0].startswith("LLM timed out: no usable answer within 0.5s")


async def test_no_retry_when_the_provider_asks_to_wait_longer_than_the_budget(
    fake: FakeChatCompletions, pool: asyncpg.Pool
) -> None:
    review = reviewer(fake, pool)
    fake.script.append("429:30")
    opinion = await review.review("EURUSD", "buy", FEATURES, 1.0)
    assert len(fake.requests) == 1
    assert "rate limited (429)" in opinion.reasons[0]
    fake.script.extend(["malformed"] * 50)
    always_bad = await review.review("EURUSD", "buy", FEATURES, 0.6)
    assert "malformed answer 'Sure! I would approve" in always_bad.reasons[0]


async def test_a_refused_key_is_not_retried_and_says_why(
    fake: FakeChatCompletions, pool: asyncpg.Pool
) -> None:
    review = reviewer(fake, pool, key="sk-wrong")
    opinion = await review.review("EURUSD", "buy", FEATURES, 2.0)
    assert opinion.approve is None
    assert opinion.reasons == ("LLM refused (401): Incorrect API key provided: sk-***.",)
    [row] = await PostgresLlmUsage(pool).usage("default")
    assert (row["requests"], row["failures"]) == (1, 1)


@pytest.mark.skipif(
    not os.environ.get("AITP_LLM__API_KEY"), reason="AITP_LLM__API_KEY names no provider key"
)
async def test_the_configured_provider_answers_in_the_schema(pool: asyncpg.Pool) -> None:
    llm = Settings().llm
    assert llm.api_key is not None
    review = LlmReviewer.connect(
        llm.endpoint, llm.api_key.get_secret_value(), llm.provider, llm.model,
        PostgresLlmUsage(pool),
    )  # fmt: skip
    opinion = await review.review("EURUSD", "buy", FEATURES, 20.0)
    assert opinion.source == f"{llm.provider}:{llm.model}"
    assert opinion.approve in (True, False, None)
    [row] = await PostgresLlmUsage(pool).usage("default")
    assert row["prompt_tokens"] > 0
