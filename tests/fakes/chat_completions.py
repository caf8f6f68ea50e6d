"""A local chat-completions server that follows OpenAI's documented API: the request fields
it checks, the `chat.completion` object it answers, the error bodies and status codes (401
invalid_api_key, 429 rate_limit_exceeded with Retry-After, 500 server_error), so the
reviewer is tested against the wire format rather than a mocked client.

Each request takes the next behaviour from `script` ("ok", "ok:reject", "malformed",
"slow:SECONDS", "429:RETRY_AFTER", "500"); with the script empty it answers "ok".
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from embedded.process import free_port

KEY = "sk-test-0123456789"


def _error(status: int, message: str, kind: str, code: str | None, **headers: str) -> Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


class FakeChatCompletions:
    def __init__(self) -> None:
        self.script: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._complete)
        self.url = ""

    async def _complete(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return _error(
                401, "Incorrect API key provided: sk-***.", "invalid_request_error",
                "invalid_api_key",
            )  # fmt: skip
        body = orjson.loads(await request.body())
        self.requests.append(body)
        for field in ("model", "messages"):
            if field not in body:
                return _error(
                    400, f"you must provide a {field} parameter", "invalid_request_error", None
                )
        behaviour = self.script.popleft() if self.script else "ok"
        kind, _, arg = behaviour.partition(":")
        if kind == "429":
            return _error(
                429,
                f"Rate limit reached for {body['model']} on requests per min (RPM).",
                "requests",
                "rate_limit_exceeded",
                **{"retry-after": arg or "1"},
            )
        if kind == "500":
            return _error(
                500,
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            )
        if kind == "slow":
            await asyncio.sleep(float(arg))
        if kind == "malformed":
            content = "Sure! I would approve this trade, it looks fine to me."
        else:
            verdict = arg if kind == "ok" and arg else "approve"
            content = orjson.dumps(
                {"verdict": verdict, "confidence": 0.7, "reasons": ["momentum agrees"]}
            ).decode()
        prompt_tokens = sum(len(str(m.get("content", ""))) // 4 for m in body["messages"])
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": 20,
                    "total_tokens": prompt_tokens + 20,
                },
            }
        )


@contextmanager
def serving() -> Iterator[FakeChatCompletions]:
    """The fake on a free port in a thread of its own; `url` is its OpenAI base URL."""
    fake = FakeChatCompletions()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the fake chat-completions server did not start")
        time.sleep(0.02)
    fake.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(10)
