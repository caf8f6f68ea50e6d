"""The peer of bench.api: a bare FastAPI endpoint returning the same JSON document as our
authenticated, rate-limited GET /v1/positions, served the same way (uvicorn, one worker).

    python -m bench._bare_api --port 8001 --body positions.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI


def build(body: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/positions")
    async def positions() -> Any:
        return body

    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._bare_api")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True)
    args = parser.parse_args()
    app = build(orjson.loads(args.body.read_bytes()))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
