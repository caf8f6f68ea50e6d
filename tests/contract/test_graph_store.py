"""One contract for the exposure graph: PostgreSQL always, ArangoDB when AITP_ARANGO__URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from adapters.graph.postgres import PostgresGraphStore
from domain import lineage
from domain.ports import GraphEdge, GraphNode, GraphStore
from tests.conftest import RunningPlatform, backends
from tests.contract.stores import scratch_database


@pytest.fixture(params=backends("postgres", arango="AITP_ARANGO__URL"))
async def graph(
    request: pytest.FixtureRequest, platform: RunningPlatform
) -> AsyncIterator[GraphStore]:
    if request.param == "postgres":
        # a database of its own: the graph tables are global
        async with scratch_database(platform.postgres_url, "g") as pool:
            yield PostgresGraphStore(pool)
    else:
        from adapters.graph.arango import ArangoGraphStore

        store = ArangoGraphStore(
            os.environ["AITP_ARANGO__URL"],
            f"t_{uuid.uuid4().hex[:10]}",
            os.environ.get("AITP_ARANGO__USERNAME", "root"),
            os.environ.get("AITP_ARANGO__PASSWORD", ""),
        )
        yield store
        await store.clear()


async def exposure_graph(graph: GraphStore) -> None:
    await graph.upsert_nodes(
        [
            GraphNode("acct:1", "account", {"name": "main"}),
            GraphNode("EURUSD", "instrument", {"digits": 5}),
            GraphNode("EURGBP", "instrument", {"digits": 5}),
            GraphNode("EUR", "currency"),
            GraphNode("USD", "currency"),
            GraphNode("GBP", "currency"),
            GraphNode("JPY", "currency"),
        ]
    )
    await graph.upsert_edges(
        [
            GraphEdge("acct:1", "EURUSD", "holds", {"volume": 1.5}),
            GraphEdge("EURUSD", "EUR", "base"),
            GraphEdge("EURUSD", "USD", "quote"),
            GraphEdge("EURGBP", "EUR", "base"),
            GraphEdge("EURGBP", "GBP", "quote"),
        ]
    )


async def test_neighbours_by_direction_and_kind(graph: GraphStore) -> None:
    await exposure_graph(graph)
    assert [n.key for n in await graph.neighbours("EURUSD")] == ["EUR", "USD"]
    assert [n.key for n in await graph.neighbours("EURUSD", kind="base")] == ["EUR"]
    assert [n.key for n in await graph.neighbours("EUR", direction="in")] == ["EURGBP", "EURUSD"]
    both = await graph.neighbours("EURUSD", direction="any")
    assert [(n.key, n.kind) for n in both] == [
        ("EUR", "currency"),
        ("USD", "currency"),
        ("acct:1", "account"),
    ]
    assert (await graph.neighbours("EURUSD", direction="in"))[0].props == {"name": "main"}


async def test_shortest_path_walks_edges_either_way(graph: GraphStore) -> None:
    await exposure_graph(graph)
    assert await graph.shortest_path("acct:1", "GBP") == [
        "acct:1",
        "EURUSD",
        "EUR",
        "EURGBP",
        "GBP",
    ]
    assert await graph.shortest_path("acct:1", "GBP", max_depth=3) is None
    assert await graph.shortest_path("USD", "JPY") is None


async def test_upserts_replace_and_clear_empties(graph: GraphStore) -> None:
    await exposure_graph(graph)
    await graph.upsert_nodes([GraphNode("EUR", "currency", {"name": "euro"})])
    await graph.upsert_edges([GraphEdge("acct:1", "EURUSD", "holds", {"volume": 2.0})])
    assert (await graph.neighbours("EURUSD", kind="base"))[0].props == {"name": "euro"}
    assert [n.key for n in await graph.neighbours("acct:1")] == ["EURUSD"]
    await graph.clear()
    assert await graph.neighbours("EURUSD", direction="any") == []


async def test_a_node_is_read_by_its_key(graph: GraphStore) -> None:
    await exposure_graph(graph)
    assert await graph.node("acct:1") == GraphNode("acct:1", "account", {"name": "main"})
    assert await graph.node("nowhere") is None


async def test_a_decisions_lineage_reads_back_from_data_to_fills(graph: GraphStore) -> None:
    """Written by two writers in either order, each naming only its own link."""
    fill_nodes, fill_edges = lineage.booked("demo", "d-1", "deal-7", {"price": Decimal("1.1")})
    await graph.upsert_nodes(fill_nodes)  # the deal can be booked before the decision's link
    await graph.upsert_edges(fill_edges)
    model = lineage.TrainedModel("GBPUSD-M1 v3", "GBPUSD", "M1", 10, 20, {"version": 3})
    nodes, edges = lineage.decided("decision-1", {"outcome": "approved"}, model, ("demo", "d-1"))
    await graph.upsert_nodes(nodes)
    await graph.upsert_edges(edges)
    rejected, links = lineage.decided("decision-2", {"outcome": "rejected"}, None, None)
    await graph.upsert_nodes(rejected)
    await graph.upsert_edges(links)

    traced = await lineage.trace(graph, "decision-1")
    assert traced.decision is not None
    assert traced.decision.props == {"outcome": "approved"}
    assert traced.model is not None
    assert traced.model.props == {"tag": "GBPUSD-M1 v3", "version": 3}
    assert traced.data is not None
    assert traced.data.props == {"symbol": "GBPUSD", "timeframe": "M1", "from_ns": 10, "to_ns": 20}
    assert traced.order is not None
    assert traced.order.props == {"account": "demo", "client_order_id": "d-1"}
    assert [f.props for f in traced.fills] == [{"fill_id": "deal-7", "price": "1.1"}]
    alone = await lineage.trace(graph, "decision-2")
    assert alone.decision is not None
    assert (alone.model, alone.order, alone.fills) == (None, None, [])
    assert (await lineage.trace(graph, "decision-3")).decision is None
