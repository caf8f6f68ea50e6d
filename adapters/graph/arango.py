"""The graph in ArangoDB (production): one document and one edge collection, AQL traversals.

python-arango is synchronous; calls run in a worker thread so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from arango.client import ArangoClient
from arango.cursor import Cursor

from domain.ports import GraphEdge, GraphNode

_NODES = "graph_nodes"
_EDGES = "graph_edges"
_KEY_OK = re.compile(r"[^A-Za-z0-9_\-:.@()+,=;$!*'%]")


def _doc_key(key: str) -> str:
    """ArangoDB keys allow a restricted alphabet; anything else is percent-escaped."""
    return _KEY_OK.sub(lambda m: "%" + m.group(0).encode().hex().upper(), key)


class ArangoGraphStore:
    def __init__(self, url: str, database: str, username: str, password: str) -> None:
        client = ArangoClient(hosts=url)
        system = client.db("_system", username=username, password=password)
        if not system.has_database(database):
            system.create_database(database)
        self._db = client.db(database, username=username, password=password)
        if not self._db.has_collection(_NODES):
            self._db.create_collection(_NODES)
        if not self._db.has_collection(_EDGES):
            self._db.create_collection(_EDGES, edge=True)

    async def _run(self, query: str, **bind: Any) -> list[Any]:
        def call() -> list[Any]:
            cursor = self._db.aql.execute(query, bind_vars=bind)
            assert isinstance(cursor, Cursor)
            return list(cursor)

        return await asyncio.to_thread(call)

    async def upsert_nodes(self, nodes: Sequence[GraphNode]) -> None:
        docs = [
            {"_key": _doc_key(n.key), "key": n.key, "kind": n.kind, "props": dict(n.props)}
            for n in nodes
        ]
        await self._run(
            f"FOR d IN @docs UPSERT {{_key: d._key}} INSERT d REPLACE d IN {_NODES}", docs=docs
        )

    async def node(self, key: str) -> GraphNode | None:
        rows = await self._run(f"RETURN DOCUMENT({_NODES}, @key)", key=_doc_key(key))
        found = rows[0] if rows else None
        return None if found is None else GraphNode(found["key"], found["kind"], found["props"])

    async def upsert_edges(self, edges: Sequence[GraphEdge]) -> None:
        docs = [
            {
                "_key": _doc_key(f"{e.src}|{e.dst}|{e.kind}"),
                "_from": f"{_NODES}/{_doc_key(e.src)}",
                "_to": f"{_NODES}/{_doc_key(e.dst)}",
                "kind": e.kind,
                "props": dict(e.props),
            }
            for e in edges
        ]
        await self._run(
            f"FOR d IN @docs UPSERT {{_key: d._key}} INSERT d REPLACE d IN {_EDGES}", docs=docs
        )

    async def neighbours(
        self, key: str, kind: str | None = None, direction: str = "out"
    ) -> list[GraphNode]:
        aql_direction = {"out": "OUTBOUND", "in": "INBOUND", "any": "ANY"}.get(direction)
        if aql_direction is None:
            raise ValueError(f"direction must be one of out, in, any, not {direction!r}")
        rows = await self._run(
            f"""FOR v, e IN 1..1 {aql_direction} @start {_EDGES}
                    FILTER @kind == null OR e.kind == @kind
                    COLLECT doc = v
                    SORT doc.key
                    RETURN doc""",
            start=f"{_NODES}/{_doc_key(key)}",
            kind=kind,
        )
        return [GraphNode(r["key"], r["kind"], r.get("props", {})) for r in rows]

    async def shortest_path(self, src: str, dst: str, max_depth: int = 6) -> list[str] | None:
        rows = await self._run(
            f"""FOR v IN ANY SHORTEST_PATH @src TO @dst {_EDGES} RETURN v.key""",
            src=f"{_NODES}/{_doc_key(src)}",
            dst=f"{_NODES}/{_doc_key(dst)}",
        )
        if not rows or len(rows) - 1 > max_depth:
            return None
        return [str(k) for k in rows]

    async def clear(self) -> None:
        await self._run(f"FOR e IN {_EDGES} REMOVE e IN {_EDGES}")
        await self._run(f"FOR n IN {_NODES} REMOVE n IN {_NODES}")
