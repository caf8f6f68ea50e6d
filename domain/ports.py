"""The ports: what the platform needs from each store, whatever backend serves it.

Adapters in `adapters/` implement these; contract tests run one suite per port over every
backend that is available, so the embedded default and a production server cannot drift.
Columnar data crosses ports as polars frames, named here only for type checkers so that
importing the domain stays free of data libraries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from domain.market_data import PriceSide, SeriesInfo, Timeframe
from domain.messages import FillReported
from domain.orders import Order, OrderSeen

if TYPE_CHECKING:
    import polars as pl

    from domain.messages import Command, Reply


class MarketDataStore(Protocol):
    """Bars and quote ticks, append-mostly, keyed by time; re-writing a row replaces it."""

    def ensure_schema(self) -> None: ...

    def write_bars(
        self, symbol: str, timeframe: Timeframe, side: PriceSide, bars: pl.DataFrame
    ) -> int: ...

    def read_bars(
        self,
        symbol: str,
        timeframe: Timeframe,
        side: PriceSide,
        start_ns: int,
        end_ns: int,
        limit: int | None = None,
    ) -> pl.DataFrame:
        """Bars in [start, end), oldest first; the first `limit` of them when given."""
        ...

    def write_ticks(self, symbol: str, ticks: pl.DataFrame) -> int: ...

    def read_ticks(self, symbol: str, start_ns: int, end_ns: int) -> pl.DataFrame: ...

    def last_tick(self, symbol: str) -> tuple[int, float, float] | None:
        """(ts, bid, ask) of the newest stored tick of the symbol, or None."""
        ...

    def series(self) -> list[SeriesInfo]: ...


@dataclass(frozen=True, slots=True)
class BusMessage:
    """One event on a stream; `id` is the bus's own, used to acknowledge it."""

    id: str
    fields: Mapping[str, bytes]
    deliveries: int = 1


class BusUnavailableError(ConnectionError):
    """The bus (or the command log beside it) cannot be reached now: refused, timed out or
    restarting. Wait and try again; what was not acknowledged is delivered again."""


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """What a consumer group is promised about the messages it does not acknowledge.

    A message read and not acknowledged within `ack_wait_ms` is delivered again (to any
    consumer of the group, the one that read it included). One delivered `max_deliveries`
    times without an acknowledgement is moved to the stream's dead-letter stream instead of
    coming back (by the group's first read past its last deadline): a message that kills its
    consumer each time cannot stop the others behind it.
    None delivers it for as long as it takes, for work that waits on another service (a fill
    must reach its workflow however long Temporal is away).

    `exclusive`: one consumer reads the group at a time (an account's hot path, the bridge of
    its shard). A consumer that (re)joins takes over at once everything the group holds
    unacknowledged, oldest first and before anything new, so that a restart keeps the key's
    order instead of waiting out the deadline behind newer messages.
    """

    ack_wait_ms: int = 30_000
    max_deliveries: int | None = 5
    exclusive: bool = False

    def __post_init__(self) -> None:
        if self.ack_wait_ms < 1:
            raise ValueError(f"ack_wait_ms must be at least 1, got {self.ack_wait_ms}")
        if self.max_deliveries is not None and self.max_deliveries < 1:
            raise ValueError(f"max_deliveries must be at least 1, got {self.max_deliveries}")


DEFAULT_DELIVERY = DeliveryPolicy()


class EventBus(Protocol):
    """Durable streams read in consumer groups, with the guarantees both Redis Streams and
    NATS JetStream keep:

    - at-least-once: a published message is delivered to every group of its stream until a
      consumer of that group acknowledges it;
    - order per key: a stream holds one key's messages (one account's events, its commands),
      and a group's first deliveries come in publish order; a read returns what is delivered
      again before anything newer;
    - explicit acknowledgement, redelivery after the group's `DeliveryPolicy.ack_wait_ms`, and
      the dead-letter stream after its `max_deliveries`;
    - consumers of one group share the work, each message going to one of them;
    - bounded retention: a stream keeps at most its configured number of messages, oldest
      dropped first.

    A call that cannot reach the bus raises `BusUnavailableError`; what was not acknowledged
    is delivered again once it is back.
    """

    async def publish(self, stream: str, fields: Mapping[str, bytes | str]) -> str: ...

    async def ensure_group(
        self, stream: str, group: str, policy: DeliveryPolicy = DEFAULT_DELIVERY
    ) -> None:
        """Make the group if it is missing, reading from the stream's first message, and hold
        it to `policy`. Harmless to repeat; a consumer calls it on every (re)start (with an
        exclusive policy, that is when it takes over what the group holds)."""
        ...

    async def consume(
        self, stream: str, group: str, consumer: str, count: int = 100, block_ms: int = 1000
    ) -> list[BusMessage]:
        """Up to `count` messages for this consumer: first those whose acknowledgement is
        overdue (`deliveries` > 1), then new ones, waiting up to `block_ms` for a new one."""
        ...

    async def ack(self, stream: str, group: str, ids: Sequence[str]) -> int: ...

    async def dead_letter(self, stream: str, group: str, message: BusMessage, reason: str) -> str:
        """Move a message nobody can read to `dead:{stream}` with the reason, and acknowledge
        it in one step: never half-read, never redelivered forever. Returns the new entry id."""
        ...

    async def pending(self, stream: str, group: str) -> int:
        """Messages the group has been given and not yet acknowledged."""
        ...

    async def length(self, stream: str) -> int: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Opinion:
    """What one step of a decision thinks of a candidate; `approve` None means no opinion."""

    approve: bool | None
    score: float | None = None
    reasons: tuple[str, ...] = ()
    source: str | None = None


class ModelScorer(Protocol):
    """The promoted model ensemble: the probability that the candidate's direction is right."""

    async def score(
        self, symbol: str, side: str, features: Mapping[str, float | None]
    ) -> Opinion: ...


class PatternValidator(Protocol):
    """The historical windows most like this one, and what happened after them."""

    async def validate(self, symbol: str, side: str, closes: Sequence[float]) -> Opinion:
        """`closes`: the last closes up to the candidate's bar, oldest first."""
        ...


class TradeReviewer(Protocol):
    """A language model's review of the candidate, within a time budget; its tokens and cost
    are counted against `tenant`."""

    async def review(
        self,
        symbol: str,
        side: str,
        features: Mapping[str, float | None],
        budget_s: float,
        tenant: str = "default",
    ) -> Opinion: ...


@dataclass(frozen=True, slots=True)
class LlmCall:
    """One review call, answered or not."""

    tenant: str
    provider: str
    model: str
    ok: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class LlmUsageLedger(Protocol):
    async def record(self, call: LlmCall) -> None: ...


class CommandReplies(Protocol):
    """The hot path's stored reply to a command, by command id (None until it answers)."""

    async def recall(self, scope: str, command_id: str) -> bytes | None: ...


class HotpathLink(Protocol):
    """A command to an account's hot path and its reply, matched by the command's id.

    Sending the same id again is harmless: the hot path answers it with the reply it stored
    the first time. `waiting` is called while no reply has come (an activity heartbeats).
    """

    async def ask(
        self,
        account: str,
        command_id: str,
        command: Command,
        timeout_s: float,
        waiting: Callable[[], None] | None = None,
    ) -> Reply | None:
        """The reply, or None if none came within the time."""
        ...


class BooksUnavailableError(ConnectionError):
    """The books' store cannot be reached now (refused, dropped, shutting down, overloaded):
    the write is retried with back-off until it is back. Any other failure of a write is
    final: retrying bad data cannot make it good."""


class OrderBook(Protocol):
    """Orders, fills and positions of accounts, written idempotently (replays change nothing).

    Every deal the venue reports is a fill here, whoever caused it, recorded once by its deal
    id; positions move with each new fill and are recomputed from their fills on a repair."""

    async def ensure_account(
        self,
        account: str,
        tenant: str = "default",
        currency: str = "USD",
        deposit: Decimal | None = None,
    ) -> None: ...

    async def record_order(self, account: str, order: Order, seen: OrderSeen | None = None) -> None:
        """The order's terms with its state and broker id: its own, or `seen`, as its owner
        last saw them where the state machine runs elsewhere (the order workflow's)."""
        ...

    async def record_fill(self, account: str, fill: FillReported, repair: bool = False) -> bool:
        """True if the deal was new; `repair`: found by a reconciliation, not by its event."""
        ...

    async def positions(self, account: str) -> dict[str, tuple[Decimal, Decimal]]:
        """Open positions by symbol: (signed net volume, average price)."""
        ...

    async def fill_ids(self, account: str, since_ns: int = 0) -> set[str]:
        """Deal ids of the account's fills made from `since_ns` on (venue time)."""
        ...

    async def latest_fill_ns(self, account: str) -> int:
        """The venue time of the account's newest fill; 0 with none."""
        ...

    async def rebuild_positions(
        self, account: str, symbols: Iterable[str], venue_order: Sequence[str] = ()
    ) -> None:
        """Recompute the symbols' positions from their fills in the venue's order: by venue
        time, and among deals of the same instant as `venue_order` (deal ids) lists them."""
        ...

    async def balance(self, account: str) -> Decimal | None:
        """The deposit plus what every fill did to it; None while the deposit is unknown."""
        ...

    async def save_reconciliation(
        self, account: str, report: Mapping[str, Any], repaired: int
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class VectorItem:
    id: str
    vector: Sequence[float]
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VectorMatch:
    id: str
    distance: float
    metadata: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Nearest:
    """A nearest-neighbour question, checked once here so that every vector store answers
    the same question: the `k` nearest of `vector` by cosine distance among the items whose
    metadata holds every pair of `where`."""

    vector: Sequence[float]
    k: int
    where: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be at least 1, got {self.k}")
        if not self.vector:
            raise ValueError("the query vector is empty")


class CollectionNotFoundError(LookupError):
    """A search of a collection nobody created (nothing indexed yet)."""


class VectorStore(Protocol):
    """Embeddings by collection, searched by cosine distance (nearest first)."""

    async def ensure_collection(self, name: str, dimensions: int) -> None: ...

    async def upsert(self, collection: str, items: Sequence[VectorItem]) -> None: ...

    async def search(self, collection: str, query: Nearest) -> list[VectorMatch]: ...

    async def delete_collection(self, name: str) -> None: ...


MODEL_STATUSES = ("candidate", "champion", "retired")


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """A trained ensemble in the registry: `name` is its symbol and timeframe ("GBPUSD-M1"),
    `artifact` where its files are, `metrics` how it scored out of sample."""

    name: str
    version: int  # 0 until registered
    symbol: str
    timeframe: str
    kinds: tuple[str, ...]
    features_hash: str
    label: str
    data_from_ns: int
    data_to_ns: int
    artifact: str
    metrics: Mapping[str, float] = field(default_factory=dict)
    status: str = "candidate"
    trained_by: str = ""  # the training workflow's id
    created_ns: int = 0

    @property
    def tag(self) -> str:
        return f"{self.name} v{self.version}"

    @staticmethod
    def of_tag(tag: str) -> tuple[str, int] | None:
        """The name and version a `tag` names; None for anything else."""
        name, sep, version = tag.rpartition(" v")
        return (name, int(version)) if sep and name and version.isdigit() else None


class RegistryError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Challenge:
    """A challenger against the champion, recorded either way: what was compared, on which
    metric, and why it went as it did (the retraining workflow's result, the registry's row)."""

    name: str
    challenger: int
    champion: int | None
    metric: str
    challenger_value: float | None
    champion_value: float | None
    promoted: bool
    reason: str


class ModelRegistry(Protocol):
    """Model versions and which one is each model's champion."""

    async def register(self, model: ModelVersion) -> ModelVersion:
        """Stores a candidate with the next version number (the same one again for the same
        `trained_by`)."""
        ...

    async def get(self, name: str, version: int) -> ModelVersion | None: ...

    async def versions(self, name: str | None = None) -> list[ModelVersion]: ...

    async def champion(self, name: str) -> ModelVersion | None: ...

    async def promote(self, name: str, version: int, reason: str = "") -> ModelVersion | None:
        """Makes `version` the champion; returns the champion it replaced."""
        ...

    async def rollback(self, name: str, reason: str = "") -> ModelVersion:
        """Puts the champion before the current one back; returns it."""
        ...

    async def record_challenge(self, challenge: Challenge) -> None:
        """Keeps a challenger's comparison with the champion, promoted or not."""
        ...


@dataclass(frozen=True, slots=True)
class GraphNode:
    key: str
    kind: str
    props: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GraphEdge:
    src: str
    dst: str
    kind: str
    props: Mapping[str, Any] = field(default_factory=dict)


class GraphStore(Protocol):
    """Multi-model links as a directed graph: instruments, currencies and exposures, and each
    decision's lineage (`domain.lineage`)."""

    async def upsert_nodes(self, nodes: Sequence[GraphNode]) -> None: ...

    async def node(self, key: str) -> GraphNode | None: ...

    async def upsert_edges(self, edges: Sequence[GraphEdge]) -> None: ...

    async def neighbours(
        self, key: str, kind: str | None = None, direction: str = "out"
    ) -> list[GraphNode]: ...

    async def shortest_path(self, src: str, dst: str, max_depth: int = 6) -> list[str] | None: ...

    async def clear(self) -> None: ...


class BacktestRuns(Protocol):
    """Backtest runs and their parameter sets' metrics, ranked best first."""

    async def open_run(self, request: Mapping[str, Any]) -> None: ...

    async def record(
        self,
        run_id: str,
        scope: str,
        evaluations: Sequence[tuple[int, Mapping[str, Any], Mapping[str, Any]]],
    ) -> None: ...

    async def close_run(
        self,
        run_id: str,
        status: str,
        metric: str,
        descending: bool = True,
        summary: Mapping[str, Any] | None = None,
    ) -> None: ...

    async def run(self, run_id: str, tenant: str | None = None) -> dict[str, Any] | None: ...

    async def runs(self, tenant: str | None = None, limit: int = 50) -> list[dict[str, Any]]: ...

    async def results(
        self, run_id: str, scope: str = "all", limit: int | None = None
    ) -> list[dict[str, Any]]: ...


class BacktestArchive(Protocol):
    """Trades and equity curves of the parameter sets a run keeps (columnar, many rows)."""

    def keep(
        self, run_id: str, set_key: str, trades: pl.DataFrame, equity: pl.DataFrame
    ) -> None: ...

    def trades(self, run_id: str, set_key: str | None = None) -> pl.DataFrame: ...

    def equity(self, run_id: str, set_key: str) -> pl.DataFrame: ...
