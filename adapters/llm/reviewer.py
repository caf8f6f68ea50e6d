"""The decision path's LLM review (`domain.ports.TradeReviewer`) over any OpenAI-compatible
chat-completions endpoint.

The model must answer in a structured-output schema (verdict, confidence, reasons). The
whole review lives inside the decision's time budget: each attempt gets what is left of it,
and a rate limit (429), a server error (5xx), a dropped connection or an unusable answer is
retried only while the budget still leaves time for another attempt (a 429's Retry-After
included). Whatever happens, the call is counted against the tenant with its tokens and
cost, and the opinion says what went wrong instead of raising.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Literal

import openai
import orjson
from pydantic import BaseModel, Field, ValidationError

from domain.ports import LlmCall, LlmUsageLedger, Opinion

BACKOFF_S = 0.2  # before a retry, unless the provider says how long to wait
SYSTEM = (
    "You review trade candidates for a systematic FX desk. Given the candidate's side and "
    "its features (returns, volatility, indicators, calendar), say whether to approve, "
    "reject or abstain, how confident you are (0 to 1), and at most three short reasons. "
    "Be conservative: abstain when the features do not make a case either way."
)
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["approve", "reject", "abstain"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "reasons": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
    },
    "required": ["verdict", "confidence", "reasons"],
    "additionalProperties": False,
}


class Review(BaseModel):
    verdict: Literal["approve", "reject", "abstain"]
    confidence: float = Field(ge=0, le=1)
    reasons: list[str] = Field(max_length=3)


class _AttemptFailedError(Exception):
    """`retry_in`: seconds before another attempt may help; None: none can."""

    def __init__(self, reason: str, retry_in: float | None = BACKOFF_S) -> None:
        super().__init__(reason)
        self.retry_in = retry_in


class LlmReviewer:
    def __init__(
        self,
        client: openai.AsyncOpenAI,
        provider: str,
        model: str,
        ledger: LlmUsageLedger | None = None,
        max_tokens: int = 300,
        input_usd_per_mtok: float = 0.0,
        output_usd_per_mtok: float = 0.0,
    ) -> None:
        self._client = client
        self._provider = provider
        self._model = model
        self._ledger = ledger
        self._max_tokens = max_tokens
        self._prices = (input_usd_per_mtok, output_usd_per_mtok)
        self.source = f"{provider}:{model}"

    @classmethod
    def connect(
        cls,
        base_url: str,
        api_key: str,
        provider: str,
        model: str,
        ledger: LlmUsageLedger | None = None,
        **options: Any,
    ) -> LlmReviewer:
        # retries are ours, inside the decision's budget, never the client's own
        client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0)
        return cls(client, provider, model, ledger, **options)

    async def review(
        self,
        symbol: str,
        side: str,
        features: Mapping[str, float | None],
        budget_s: float,
        tenant: str = "default",
    ) -> Opinion:
        deadline = time.monotonic() + budget_s
        problems: list[str] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                review = await self._attempt(symbol, side, features, left, tenant)
            except _AttemptFailedError as exc:
                problems.append(str(exc))
                wait = exc.retry_in
                if wait is None or deadline - time.monotonic() - wait <= 0.05:
                    break  # nothing to retry, or no time left for another go
                await asyncio.sleep(wait)
                continue
            approve = {"approve": True, "reject": False, "abstain": None}[review.verdict]
            reasons = tuple(review.reasons) or (review.verdict,)
            return Opinion(approve, review.confidence, reasons, self.source)
        if problems and problems[-1].startswith("refused"):
            return Opinion(None, None, (f"LLM {problems[-1]}",), self.source)
        tried = "; ".join(problems) if problems else "no attempt fitted"
        reason = f"LLM timed out: no usable answer within {budget_s:g}s ({tried})"
        return Opinion(None, None, (reason,), self.source)

    async def _attempt(
        self,
        symbol: str,
        side: str,
        features: Mapping[str, float | None],
        timeout_s: float,
        tenant: str,
    ) -> Review:
        candidate = {"symbol": symbol, "side": side, "features": dict(features)}
        try:
            completion = await self._client.chat.completions.create(
                model=self._model,
                messages=[
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": orjson.dumps(candidate).decode()},
                ],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "trade_review", "schema": SCHEMA, "strict": True},
                },
                max_tokens=self._max_tokens,
                temperature=0,
                timeout=timeout_s,
            )
        except openai.RateLimitError as exc:
            await self._count(tenant, ok=False)
            raise _AttemptFailedError("rate limited (429)", _retry_after(exc)) from None
        except openai.InternalServerError as exc:
            await self._count(tenant, ok=False)
            raise _AttemptFailedError(f"provider error ({exc.status_code})") from None
        except (openai.APITimeoutError, openai.APIConnectionError):
            await self._count(tenant, ok=False)
            raise _AttemptFailedError("no answer in time", 0.0) from None
        except openai.APIStatusError as exc:  # 400, 401, 403, 404: retrying cannot help
            await self._count(tenant, ok=False)
            raise _AttemptFailedError(
                f"refused ({exc.status_code}): {_message(exc)}", None
            ) from None
        usage = completion.usage
        prompt = usage.prompt_tokens if usage else 0
        answer = usage.completion_tokens if usage else 0
        content = completion.choices[0].message.content if completion.choices else None
        try:
            review = Review.model_validate_json(content or "")
        except ValidationError:
            await self._count(tenant, False, prompt, answer)
            raise _AttemptFailedError(f"malformed answer {(content or '')[:60]!r}") from None
        await self._count(tenant, True, prompt, answer)
        return review

    async def _count(self, tenant: str, ok: bool, prompt: int = 0, answer: int = 0) -> None:
        if self._ledger is None:
            return
        cost = (prompt * self._prices[0] + answer * self._prices[1]) / 1e6
        await self._ledger.record(
            LlmCall(tenant, self._provider, self._model, ok, prompt, answer, cost)
        )


def _retry_after(exc: openai.APIStatusError) -> float:
    raw = exc.response.headers.get("retry-after") if exc.response is not None else None
    try:
        return max(float(raw), 0.0) if raw is not None else BACKOFF_S
    except ValueError:
        return BACKOFF_S


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    return str(error.get("message", exc.message) if isinstance(error, dict) else exc.message)
