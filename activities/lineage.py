"""The lineage graph's writers: a decision's links once it has decided, a deal's as it is
booked (`domain.lineage` says what they are).

Lineage explains; it never holds money up. A graph store that is away costs the link, with a
warning in the log, and never a decision, an order or a booking.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from temporalio import activity

from domain import lineage
from domain.messages import FillReported
from domain.ports import GraphEdge, GraphNode, GraphStore, ModelRegistry, ModelVersion
from temporal.decisions import DecisionLineage

log = logging.getLogger("aitp.lineage")


class LineageActivities:
    def __init__(self, graph: GraphStore, registry: ModelRegistry | None = None) -> None:
        self._graph = graph
        self._registry = registry

    @activity.defn(name="record_decision_lineage")
    async def record_decision_lineage(self, record: DecisionLineage) -> None:
        explained = record.explanation
        r = explained.request
        props = {
            "account": r.account,
            "symbol": r.symbol,
            "strategy": r.strategy,
            "side": r.side.value,
            "bar_ts": r.bar_ts,
            "outcome": explained.outcome,
            "reason": explained.reason,
        }
        model = await self._model(record.model_tag)
        order = (r.account, explained.client_order_id) if explained.client_order_id else None
        await write(self._graph, *lineage.decided(record.decision_id, props, model, order))

    async def _model(self, tag: str | None) -> lineage.TrainedModel | None:
        named = ModelVersion.of_tag(tag) if tag else None
        if named is None or self._registry is None:
            return None
        found = await self._registry.get(*named)
        if found is None:
            return None
        props = {"name": found.name, "version": found.version, "kinds": list(found.kinds)}
        return lineage.TrainedModel(
            found.tag, found.symbol, found.timeframe, found.data_from_ns, found.data_to_ns, props
        )


async def record_fill_lineage(graph: GraphStore | None, account: str, fill: FillReported) -> None:
    """A booked deal's link to its order; a graph that is away costs the link, nothing else."""
    if graph is None:
        return
    props = {"symbol": fill.symbol, "side": fill.side.value, "volume": fill.volume}
    links = lineage.booked(account, fill.client_order_id, fill.fill_id, props | {"ts": fill.ts})
    try:
        await write(graph, *links)
    except Exception as exc:  # the books have the deal; lineage must not hold them up
        log.warning("lineage of deal %s not written: %s", fill.fill_id, exc)


async def write(graph: GraphStore, nodes: Sequence[GraphNode], edges: Sequence[GraphEdge]) -> None:
    await graph.upsert_nodes(nodes)
    await graph.upsert_edges(edges)
