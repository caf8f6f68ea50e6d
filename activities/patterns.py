"""Building the pattern index: every window of the stored bars, with its forward move, in the
vectors port."""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor

from temporalio import activity

from activities.work import bad_input, on_thread, what_is_stored
from domain.market_data import PriceSide, Timeframe
from domain.ports import MarketDataStore, VectorStore
from ml.patterns import History, collection, history, index_history
from temporal.models import PatternIndexRequest, PatternIndexResult


class PatternActivities:
    def __init__(
        self, market: MarketDataStore, store: VectorStore, executor: Executor | None = None
    ) -> None:
        self._market = market
        self._store = store
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="patterns")

    @activity.defn(name="index_patterns")
    async def index_patterns(self, request: PatternIndexRequest) -> PatternIndexResult:
        """Re-indexing a range replaces its windows (their ids are their bars' times)."""
        found = await on_thread(self._executor, lambda _: self._history(request))
        name = collection(request.symbol, request.timeframe)
        windows = await index_history(
            self._store, name, found, request.horizon, progress=activity.heartbeat
        )
        return PatternIndexResult(
            collection=name,
            windows=windows,
            first_ns=int(found.ts[0]),
            last_ns=int(found.ts[-1]),
        )

    def _history(self, request: PatternIndexRequest) -> History:
        try:
            timeframe = Timeframe(request.timeframe)
        except ValueError:
            known = ", ".join(t.value for t in Timeframe)
            raise bad_input(f"unknown timeframe {request.timeframe!r}; one of {known}") from None
        start, end = request.start_ns, request.end_ns
        bars = self._market.read_bars(request.symbol, timeframe, PriceSide.BID, start, end)
        if bars.height == 0:
            bars = self._market.read_bars(request.symbol, timeframe, PriceSide.MID, start, end)
        if bars.height == 0:
            raise bad_input(
                what_is_stored(self._market, request.symbol, request.timeframe, start, end)
            )
        ts = bars["ts"].dt.epoch("ns").to_numpy()
        found = history(ts, bars["close"].to_numpy(), request.horizon, request.step)
        if len(found.ts) == 0:
            raise bad_input(
                f"{bars.height} bars make no window with a {request.horizon}-bar forward move: "
                "widen the range"
            )
        return found
