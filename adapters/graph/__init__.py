"""The instrument and exposure graph: PostgreSQL tables by default, ArangoDB when configured."""
