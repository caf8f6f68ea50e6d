"""`python -m api`: the trader API alone, served by uvicorn (one worker; run more behind a
load balancer). Stores come from the AITP_* settings, else from the platform `aitp up` runs."""

from __future__ import annotations

import argparse
import gc
import logging

import uvicorn

from api.app import create_app
from config.logs import configure_logging
from config.settings import Settings
from embedded.endpoints import NotRunningError, resolved


def build_parser(settings: Settings | None = None) -> argparse.ArgumentParser:
    api = (settings or Settings()).api
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    parser.add_argument("--host", default=api.host, help=f"default {api.host}")
    parser.add_argument("--port", type=int, default=api.port or 8000, help="default 8000")
    return parser


def main(argv: list[str] | None = None) -> None:
    settings = Settings()
    parser = build_parser(settings)
    args = parser.parse_args(argv)
    configure_logging()
    try:
        settings = resolved(settings)
    except NotRunningError as exc:
        parser.exit(2, f"python -m api: {exc}\n")
    logging.getLogger("api").info("serving on http://%s:%d", args.host, args.port)
    app = create_app(settings)
    # Everything imported so far lives as long as the process. Frozen, the collector stops
    # walking it: a full collection of this heap took 80-100 ms, every few seconds under
    # load, and was the whole p99 of a busy server.
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,  # keep the platform's JSON logs
        access_log=False,  # requests are counted in /metrics, not logged one by one
        proxy_headers=True,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
