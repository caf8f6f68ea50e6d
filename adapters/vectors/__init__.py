"""Pattern embeddings: pgvector inside PostgreSQL by default, Weaviate when configured."""
