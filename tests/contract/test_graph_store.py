"""One contract for the exposure graph: PostgreSQL always, ArangoDB when AITP_ARANGO__URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.graph.postgres import PostgresGraphStore
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
