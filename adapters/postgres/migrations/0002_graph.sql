-- The instrument and exposure graph (ArangoDB in production) as two tables; neighbours and
-- paths are recursive CTEs over graph_edges.
CREATE TABLE graph_nodes (
    key    text PRIMARY KEY,
    kind   text NOT NULL,
    props  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX graph_nodes_kind ON graph_nodes (kind);

CREATE TABLE graph_edges (
    src    text NOT NULL REFERENCES graph_nodes (key) ON DELETE CASCADE,
    dst    text NOT NULL REFERENCES graph_nodes (key) ON DELETE CASCADE,
    kind   text NOT NULL,
    props  jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (src, dst, kind)
);
CREATE INDEX graph_edges_dst ON graph_edges (dst);
