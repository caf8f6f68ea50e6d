"""Where a decision came from and what it led to, as a graph: the market data a model was
trained on -> the model version that scored the candidate -> the decision -> the order it
placed -> the fills of that order.

The graph port (`domain.ports.GraphStore`) holds it: PostgreSQL by default, ArangoDB where one
is configured. Writers add their link as it happens (the decision workflow when it has
decided, the order workflow as each deal is booked), each upserting the nodes it names so no
link waits for another; `trace` reads the chain back from the decision outwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.ports import GraphEdge, GraphNode, GraphStore

TRAINED = "trained"  # market data -> model version
SCORED = "scored"  # model version -> decision
PLACED = "placed"  # decision -> order
FILLED = "filled"  # order -> fill


def data_key(symbol: str, timeframe: str, from_ns: int, to_ns: int) -> str:
    return f"data:{symbol}:{timeframe}:{from_ns}-{to_ns}"


def model_key(tag: str) -> str:
    """A model version by its tag (`GBPUSD-M1 v3`), as the decision's model step names it."""
    return f"model:{tag}"


def decision_key(decision_id: str) -> str:
    return f"decision:{decision_id}"


def order_key(account: str, client_order_id: str) -> str:
    return f"order:{account}:{client_order_id}"


def fill_key(account: str, fill_id: str) -> str:
    return f"fill:{account}:{fill_id}"


@dataclass(frozen=True)
class TrainedModel:
    """What the registry knows of the model version that scored a decision."""

    tag: str
    symbol: str
    timeframe: str
    data_from_ns: int
    data_to_ns: int
    props: Mapping[str, Any] = field(default_factory=dict)


def decided(
    decision_id: str,
    props: Mapping[str, Any],
    model: TrainedModel | None,
    order: tuple[str, str] | None,
) -> tuple[list[GraphNode], list[GraphEdge]]:
    """A decision's links: to the model version that scored it (and that version's training
    data), and to the order it placed (account, client order id), where there are such."""
    decision = GraphNode(decision_key(decision_id), "decision", dict(props))
    nodes, edges = [decision], []
    if model is not None:
        data = GraphNode(
            data_key(model.symbol, model.timeframe, model.data_from_ns, model.data_to_ns),
            "market_data",
            {
                "symbol": model.symbol,
                "timeframe": model.timeframe,
                "from_ns": model.data_from_ns,
                "to_ns": model.data_to_ns,
            },
        )
        version = GraphNode(model_key(model.tag), "model", {"tag": model.tag, **model.props})
        nodes += [data, version]
        edges += [
            GraphEdge(data.key, version.key, TRAINED),
            GraphEdge(version.key, decision.key, SCORED),
        ]
    if order is not None:
        placed = _order(*order)
        nodes.append(placed)
        edges.append(GraphEdge(decision.key, placed.key, PLACED))
    return nodes, edges


def booked(
    account: str, client_order_id: str, fill_id: str, props: Mapping[str, Any]
) -> tuple[list[GraphNode], list[GraphEdge]]:
    """A deal's link to its order."""
    order = _order(account, client_order_id)
    deal = GraphNode(fill_key(account, fill_id), "fill", {"fill_id": fill_id, **_plain(props)})
    return [order, deal], [GraphEdge(order.key, deal.key, FILLED)]


def _order(account: str, client_order_id: str) -> GraphNode:
    props = {"account": account, "client_order_id": client_order_id}
    return GraphNode(order_key(account, client_order_id), "order", props)


def _plain(props: Mapping[str, Any]) -> dict[str, Any]:
    """JSON as both stores keep it: amounts as strings, exactly."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in props.items()}


@dataclass(frozen=True)
class Lineage:
    decision: GraphNode | None
    model: GraphNode | None = None
    data: GraphNode | None = None
    order: GraphNode | None = None
    fills: list[GraphNode] = field(default_factory=list)


async def trace(graph: GraphStore, decision_id: str) -> Lineage:
    """The chain around one decision, read from the graph; `decision` None if it holds none."""
    key = decision_key(decision_id)
    decision = await graph.node(key)
    if decision is None:
        return Lineage(decision=None)
    models = await graph.neighbours(key, SCORED, "in")
    model = models[0] if models else None
    trained = await graph.neighbours(model.key, TRAINED, "in") if model is not None else []
    orders = await graph.neighbours(key, PLACED, "out")
    order = orders[0] if orders else None
    fills = await graph.neighbours(order.key, FILLED, "out") if order is not None else []
    return Lineage(decision, model, trained[0] if trained else None, order, fills)
