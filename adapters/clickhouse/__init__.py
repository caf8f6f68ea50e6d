"""ClickHouse: market data and analytics, on chDB in-process or on a server over HTTP."""
