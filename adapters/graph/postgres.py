"""The graph as two PostgreSQL tables; neighbours and shortest paths are recursive CTEs.

Enough for the platform's graph (instruments -> currencies, accounts -> exposures), which is
small and shallow; ArangoDB takes over when it is not.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.ports import GraphEdge, GraphNode

_DIRECTIONS = {"out", "in", "any"}


class PostgresGraphStore:
    """Needs a pool from `adapters.postgres.pool.create_pool` (jsonb as Python values)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert_nodes(self, nodes: Sequence[GraphNode]) -> None:
        async with self._pool.acquire() as conn:
            await conn.executemany(
                """INSERT INTO graph_nodes (key, kind, props) VALUES ($1, $2, $3::jsonb)
                   ON CONFLICT (key) DO UPDATE SET kind = EXCLUDED.kind, props = EXCLUDED.props""",
                [(n.key, n.kind, dict(n.props)) for n in nodes],
            )

    async def node(self, key: str) -> GraphNode | None:
        row = await self._pool.fetchrow(
            "SELECT key, kind, props FROM graph_nodes WHERE key = $1", key
        )
        return None if row is None else GraphNode(row["key"], row["kind"], row["props"])

    async def upsert_edges(self, edges: Sequence[GraphEdge]) -> None:
        async with self._pool.acquire() as conn:
            await conn.executemany(
                """INSERT INTO graph_edges (src, dst, kind, props) VALUES ($1, $2, $3, $4::jsonb)
                   ON CONFLICT (src, dst, kind) DO UPDATE SET props = EXCLUDED.props""",
                [(e.src, e.dst, e.kind, dict(e.props)) for e in edges],
            )

    async def neighbours(
        self, key: str, kind: str | None = None, direction: str = "out"
    ) -> list[GraphNode]:
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction must be one of {sorted(_DIRECTIONS)}, not {direction!r}")
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT DISTINCT n.key, n.kind, n.props FROM graph_edges e
                   JOIN graph_nodes n ON n.key = CASE WHEN e.src = $1 THEN e.dst ELSE e.src END
                   WHERE (($3 IN ('out', 'any') AND e.src = $1)
                          OR ($3 IN ('in', 'any') AND e.dst = $1))
                     AND ($2::text IS NULL OR e.kind = $2)
                   ORDER BY n.key""",
                key,
                kind,
                direction,
            )
        return [GraphNode(r["key"], r["kind"], r["props"]) for r in rows]

    async def shortest_path(self, src: str, dst: str, max_depth: int = 6) -> list[str] | None:
        """Keys from `src` to `dst` along edges in either direction, fewest hops first."""
        async with self._pool.acquire() as conn:
            path = await conn.fetchval(
                """WITH RECURSIVE edges AS (
                       SELECT src AS a, dst AS b FROM graph_edges
                       UNION SELECT dst, src FROM graph_edges
                   ), walk(node, path, depth) AS (
                       SELECT $1::text, ARRAY[$1::text], 0
                       UNION ALL
                       SELECT e.b, w.path || e.b, w.depth + 1
                       FROM walk w JOIN edges e ON e.a = w.node
                       WHERE w.depth < $3 AND NOT e.b = ANY(w.path) AND w.node <> $2
                   )
                   SELECT path FROM walk WHERE node = $2 ORDER BY depth LIMIT 1""",
                src,
                dst,
                max_depth,
            )
        return list(path) if path is not None else None

    async def clear(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute("TRUNCATE graph_edges, graph_nodes")
