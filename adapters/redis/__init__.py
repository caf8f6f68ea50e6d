"""Redis (or DragonflyDB): the event bus on Streams, plus cache, rate limits and fan-out."""
