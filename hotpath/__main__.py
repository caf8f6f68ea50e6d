"""`python -m hotpath --account ID`: one trading account's hot path.

    python -m hotpath --account demo --feed synthetic --symbols EURUSD,USDJPY \\
        --strategy ma_cross:fast=10,slow=30 --strategy rsi_reversion:period=14

Reads the AITP_* settings (AITP_REDIS__URL is required: the bus; AITP_CLICKHOUSE__URL, when
set, receives ticks and bars). `aitp up` starts one for the demo account with these set.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import signal
import sys
import time
import zlib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import structlog
from prometheus_client import start_http_server

from adapters.clickhouse.executors import ClickHouseHttpExecutor
from adapters.clickhouse.market_data import ClickHouseMarketDataStore
from adapters.mt5.broker import AccountUnavailableError, Mt5Broker, Opening, server_clock
from adapters.mt5.loader import Mt5UnavailableError
from adapters.mt5.loader import load as load_mt5
from adapters.mt5.symbols import SymbolUnknownError
from adapters.mt5.symbols import instrument as mt5_instrument
from adapters.postgres.instruments import PostgresInstruments
from adapters.postgres.orders import PostgresOrderBook
from adapters.postgres.pool import create_pool
from adapters.redis.command_log import RedisCommandLog
from adapters.redis.event_bus import RedisStreamBus
from config.logs import configure_logging
from config.settings import Settings
from domain.clock import WallClock, parse_instant
from domain.instruments import Instrument, standard
from domain.market import QuoteTick
from domain.messages import SessionStarted, events_stream
from domain.orders import OrderState
from domain.risk import KILL_SWITCH, RiskGate, RiskLimits
from domain.strategies import Strategy, StrategyError, create
from domain.venue import Venue
from engine.core import Engine
from hotpath.books_check import WORKING, differences
from hotpath.commands import CommandConsumer, CommandHandler
from hotpath.feeds import Feed, Mt5Feed, ReplayFeed, SyntheticFeed
from hotpath.journal import JournaledPaperBroker, PaperJournal
from hotpath.metrics import HotpathMetrics
from hotpath.mt5_venue import Mt5Venue
from hotpath.process import DataClock, HotPath
from hotpath.publisher import Publisher
from hotpath.recorder import MarketDataRecorder
from hotpath.spool import SpooledOutbox
from hotpath.switches import StrategySwitches

DEMO_PRICES = {"EURUSD": 1.0850, "GBPUSD": 1.2650, "USDJPY": 149.50, "AUDUSD": 0.6550}


def parse_strategy(spec: str, symbol: str) -> Strategy:
    """`ma_cross:fast=10,slow=30` -> the strategy, its parameters checked."""
    kind, _, rest = spec.partition(":")
    params: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        name, sep, value = item.partition("=")
        if not sep:
            raise StrategyError(f"strategy parameter {item!r} must look like name=value")
        params[name.strip()] = value.strip()
    return create(kind.strip(), symbol, params)


class FeedError(ValueError):
    pass


def _instant(text: str | None, option: str) -> int:
    if not text:
        raise FeedError(f"--feed replay needs {option} (e.g. 2024-01-31T13:45:00Z)")
    try:
        return parse_instant(text)
    except ValueError:
        raise FeedError(f"{option} {text!r} is not an ISO-8601 time") from None


def make_feed(args: argparse.Namespace, settings: Settings, symbols: list[str]) -> Feed:
    if args.feed == "synthetic":
        return SyntheticFeed({s: DEMO_PRICES.get(s, 1.0) for s in symbols}, seed=args.seed)
    if args.feed == "replay":
        if not settings.clickhouse.url:
            raise FeedError("--feed replay reads the market-data store: set AITP_CLICKHOUSE__URL")
        store = ClickHouseMarketDataStore(
            ClickHouseHttpExecutor(settings.clickhouse.url), settings.clickhouse.database
        )
        start, end = _instant(args.start, "--from"), _instant(args.end, "--to")
        return ReplayFeed(store, symbols[0], start, end, speed=args.speed or None)
    try:
        mt5 = load_mt5(settings.mt5.bridge)
    except Mt5UnavailableError as exc:
        raise FeedError(str(exc)) from None
    login = settings.mt5.login
    password = settings.mt5.password.get_secret_value() if settings.mt5.password else None
    if not mt5.initialize(login=login, password=password, server=settings.mt5.server):
        raise FeedError(f"MT5 initialize failed: {mt5.last_error()}")
    return Mt5Feed(mt5, symbols)


HAND_MAGIC = 0  # MT5's magic number of an order typed into the terminal


def magic_number(strategy: str | None) -> int:
    """A strategy's MT5 magic number, derived from its name: stable across restarts."""
    return zlib.crc32((strategy or "manual").encode()) & 0x7FFFFFFF


def make_venue(
    args: argparse.Namespace,
    settings: Settings,
    workdir: Path,
    instruments: dict[str, Instrument],
    quotes: dict[str, QuoteTick],
    strategies: list[Strategy],
) -> tuple[Venue, Callable[[Engine], None], Opening]:
    """The venue, how the engine takes its state back from it after a restart, and the
    account it starts from: the opening deposit given, or the broker's own account."""
    if args.broker == "paper":
        journal = PaperJournal(workdir / f"{args.account}.jsonl")

        def replay(engine: Engine) -> None:
            engine.restore(journal.entries())

        opening = Opening(args.balance, args.currency, args.balance)
        return JournaledPaperBroker(journal, quotes, instruments), replay, opening
    mt5 = load_mt5(settings.mt5.bridge)
    password = settings.mt5.password.get_secret_value() if settings.mt5.password else None
    if not mt5.initialize(login=settings.mt5.login, password=password, server=settings.mt5.server):
        raise Mt5UnavailableError(f"MT5 initialize failed: {mt5.last_error()}")
    try:  # trading at a broker: its own contract specifications, not the defaults
        instruments.update({symbol: mt5_instrument(mt5, symbol) for symbol in instruments})
    except SymbolUnknownError as exc:
        raise Mt5UnavailableError(str(exc)) from None
    names = [s.name for s in strategies] + [KILL_SWITCH, "manual"]
    broker = Mt5Broker(mt5, magic_number, server_clock(settings.mt5.server_utc_offset_hours))
    try:
        opening = broker.opening()
    except AccountUnavailableError as exc:
        raise Mt5UnavailableError(str(exc)) from None
    venue = Mt5Venue(broker)

    def recover(engine: Engine) -> None:
        # magic 0: what a trader typed into the terminal, held by the account all the same
        ours = {magic_number(name): name for name in names} | {HAND_MAGIC: "manual"}
        positions, resting = venue.recover(ours)
        engine.adopt(positions, resting)

    return venue, recover, opening


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hotpath", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--account", required=True, help="account id (its streams: commands:ID, events:ID)"
    )
    parser.add_argument(
        "--feed",
        choices=["synthetic", "replay", "mt5"],
        default="synthetic",
        help="synthetic demo market, replay of stored ticks, or MT5 (AITP_MT5__BRIDGE on Linux)",
    )
    parser.add_argument(
        "--broker",
        choices=["paper", "mt5"],
        default=None,
        help="paper (journaled under the data dir) or MT5 (AITP_MT5__* settings); "
        "default: mt5 when AITP_MT5__ENABLED=true, else paper",
    )
    parser.add_argument(
        "--route",
        choices=["direct", "decision"],
        default="direct",
        help="direct: strategies' intents become orders here; decision: they go to "
        "AIDecisionWorkflow (needs the bridge and the trading worker)",
    )
    parser.add_argument("--from", dest="start", help="replay: first instant, ISO-8601 (UTC)")
    parser.add_argument("--to", dest="end", help="replay: end instant, excluded")
    parser.add_argument("--speed", type=float, default=0.0, help="replay: x real time; 0 = max")
    parser.add_argument("--symbols", default="EURUSD", help="comma-separated")
    parser.add_argument("--strategy", action="append", default=[], metavar="KIND:NAME=V,...")
    parser.add_argument(
        "--balance",
        type=Decimal,
        default=Decimal(100_000),
        help="paper: the opening deposit (MT5: the account's own balance)",
    )
    parser.add_argument("--tenant", default="default", help="the tenant that owns the account")
    parser.add_argument("--currency", default="USD", help="paper: the account currency")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--metrics-port", type=int, default=0, help="0: no metrics endpoint")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    log = structlog.get_logger("aitp.hotpath")

    settings = Settings()
    if args.broker is None:
        args.broker = "mt5" if settings.mt5.enabled else "paper"
    if not settings.redis.url:
        log.error("no event bus", fix="set AITP_REDIS__URL, or let `aitp up` start the hot path")
        return 2
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    try:
        strategies = [parse_strategy(spec, symbols[0]) for spec in args.strategy]
    except StrategyError as exc:
        log.error("bad strategy", error=str(exc))
        return 2
    instruments = {s: standard(s) for s in symbols}
    workdir = settings.data_dir / "hotpath"
    workdir.mkdir(parents=True, exist_ok=True)
    lock = (workdir / f"{args.account}.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.error("another hot path runs this account", account=args.account)
        return 2
    quotes: dict[str, QuoteTick] = {}
    try:
        venue, recover, opening = make_venue(
            args, settings, workdir, instruments, quotes, strategies
        )
    except Mt5UnavailableError as exc:
        log.error("cannot reach the broker", error=str(exc))
        return 2
    # events a previous run could not deliver are queued before anything this one emits
    outbox = SpooledOutbox(workdir / f"{args.account}.outbox")
    engine = Engine(
        args.account,
        instruments,
        strategies,
        venue,
        RiskGate(args.account, RiskLimits(**settings.risk.model_dump())),
        outbox,
        currency=opening.currency,
        balance=opening.balance,
        id_prefix=f"{args.account[:6]}{int(time.time()) % 1_000_000:06d}",
        quotes=quotes,
        route=args.route,
        # decisions expire on the wall's time, which the bridge reads; a replay's has none
        deadline_clock=None if args.feed == "replay" else WallClock(),
    )
    recover(engine)
    switches = StrategySwitches(workdir / f"{args.account}.strategies.json")
    switches.apply(engine.enabled)
    log.info(
        "books rebuilt",
        broker=args.broker,
        orders=len(engine.orders),
        positions=len(engine.book.positions),
        undelivered=outbox.restored,
    )
    try:
        feed = make_feed(args, settings, symbols)
    except FeedError as exc:
        log.error("cannot start the feed", error=str(exc))
        return 2
    metrics = HotpathMetrics(args.account)
    if args.metrics_port:
        start_http_server(args.metrics_port, addr="127.0.0.1", registry=metrics.registry)
    try:
        return asyncio.run(
            _run(
                args.account,
                settings,
                engine,
                switches,
                feed,
                metrics,
                log,
                args.tenant,
                opening.deposit,
            )
        )
    finally:
        outbox.close()  # emptied if everything was delivered


async def check_books(
    engine: Engine,
    settings: Settings,
    metrics: HotpathMetrics,
    log: structlog.stdlib.BoundLogger,
    tenant: str,
    deposit: Decimal,
) -> None:
    """The account's row and its instruments exist before the first tick (orders, quotes and
    live events work at once, and the API can refuse what the broker would); then the books in
    PostgreSQL are compared with the venue's state just rebuilt. Any gap is logged here, and
    repaired by the account's books workflow, which the session's start asks to reconcile."""
    assert settings.postgres.url is not None
    pool = await create_pool(settings.postgres.url, settings.postgres, f"hotpath-{engine.account}")
    try:
        book = PostgresOrderBook(pool)
        await book.ensure_account(engine.account, tenant, engine.book.currency, deposit)
        await PostgresInstruments(pool).record(engine.instruments.values())
        states = await book.order_states(engine.account)
        positions = await book.positions(engine.account)
    finally:
        await pool.close()
    for cid, recorded in states.items():  # sent by the previous process: the venue may know
        if OrderState(recorded) in WORKING:
            engine.recall(cid)
    held = {s: engine.book.net_volume(s) for s in engine.instruments}
    found = differences(
        {cid: o.state for cid, o in engine.orders.items()},
        {s: v for s, v in held.items() if v},
        states,
        {s: v for s, (v, _) in positions.items()},
    )
    metrics.books_differences.set(len(found))
    for difference in found:
        log.error("the books differ from the broker", detail=difference, account=engine.account)


async def _run(
    account: str,
    settings: Settings,
    engine: Engine,
    switches: StrategySwitches,
    feed: Feed,
    metrics: HotpathMetrics,
    log: structlog.stdlib.BoundLogger,
    tenant: str,
    deposit: Decimal,
) -> int:
    assert settings.redis.url is not None
    bus = RedisStreamBus.from_url(settings.redis.url)
    replies = RedisCommandLog.from_url(settings.redis.url)
    publisher = Publisher(engine.outbox, bus, events_stream(account))
    consumer = CommandConsumer(
        account,
        bus,
        replies,
        CommandHandler(engine, switches),
        f"hotpath-{os.getpid()}",
        WallClock(),
    )
    recorder = None
    if settings.clickhouse.url:
        store = ClickHouseMarketDataStore(
            ClickHouseHttpExecutor(settings.clickhouse.url), settings.clickhouse.database
        )
        recorder = MarketDataRecorder(store)
    clock = DataClock(engine) if isinstance(feed, ReplayFeed) else None
    if settings.postgres.url:
        await check_books(engine, settings, metrics, log, tenant, deposit)
    engine.outbox.emit(
        SessionStarted(
            account=account,
            ts=time.time_ns(),
            orders=len(engine.orders),
            positions=len(engine.book.positions),
        )
    )
    hot = HotPath(engine, feed, publisher, consumer, recorder, metrics, clock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "hot path up",
        account=account,
        symbols=list(engine.instruments),
        strategies=[s.name for s in engine.strategies],
        stopped=[name for name, on in engine.enabled.items() if not on],
    )
    await hot.run(stop)
    log.info(
        "hot path stopped",
        ticks=engine.stats.ticks,
        orders=engine.stats.orders,
        undelivered=len(engine.outbox),
    )
    await bus.close()
    await replies.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
