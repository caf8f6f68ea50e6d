"""Two ways to run the same SQL: chDB in this process, or a ClickHouse server over HTTP.

The market-data store is written against `SqlExecutor` only, so the embedded default and a
production server run the same statements and pass the same contract tests. A chDB directory
can be open in one process at a time; every other process reaches it through the HTTP
interface that `embedded.chdb_server` serves, with `ClickHouseHttpExecutor`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import pyarrow as pa


class ClickHouseError(RuntimeError):
    """A statement failed on the server; the message is ClickHouse's own."""


class SqlExecutor(Protocol):
    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table: ...

    def insert_arrow(self, table: str, data: pa.Table) -> None: ...

    def close(self) -> None: ...


class ChdbExecutor:
    """chDB in this process; the directory stays locked until `close`."""

    def __init__(self, path: Path) -> None:
        from chdb import session as chdb_session

        path.mkdir(parents=True, exist_ok=True)
        try:
            self._session = chdb_session.Session(str(path))
        except RuntimeError as exc:
            raise ClickHouseError(
                f"cannot open chDB at {path}: another process holds it "
                "(with `aitp up` running, connect through its ClickHouse URL instead)"
            ) from exc
        self._lock = threading.Lock()

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._run(sql, "CSV", params)

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        result = self._run(sql, "ArrowTable", params)
        assert isinstance(result, pa.Table)
        return result

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        # chDB reads a local Python object named in the Python() table function.
        arrow_data = data  # noqa: F841  (referenced by name from SQL below)
        cols = ", ".join(f"`{name}`" for name in data.column_names)
        self._run(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM Python(arrow_data)", "CSV")

    def _run(self, sql: str, fmt: str, params: Mapping[str, Any] | None = None) -> Any:
        from chdb._exceptions import ChdbError

        with self._lock:
            try:
                return self._session.query(sql, fmt, params=dict(params) if params else None)
            except ChdbError as exc:
                raise ClickHouseError(str(exc)) from exc

    def close(self) -> None:
        with self._lock:
            self._session.close()


class ClickHouseHttpExecutor:
    """A ClickHouse server (or the embedded chDB server) through clickhouse-connect."""

    def __init__(self, url: str) -> None:
        import clickhouse_connect

        parts = urlsplit(url)
        try:
            self._client = clickhouse_connect.get_client(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or (8443 if parts.scheme == "https" else 8123),
                username=parts.username or "default",
                password=parts.password or "",
                secure=parts.scheme == "https",
                compress=False,
                autogenerate_session_id=False,
            )
        except Exception as exc:
            raise ClickHouseError(f"cannot reach ClickHouse at {parts.netloc}: {exc}") from exc

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        try:
            self._client.command(sql, parameters=dict(params) if params else None)
        except Exception as exc:
            raise ClickHouseError(str(exc)) from exc

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        try:
            result = self._client.query_arrow(sql, parameters=dict(params) if params else None)
        except Exception as exc:
            raise ClickHouseError(str(exc)) from exc
        assert isinstance(result, pa.Table)
        return result

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        try:
            self._client.insert_arrow(table, data)
        except Exception as exc:
            raise ClickHouseError(str(exc)) from exc

    def close(self) -> None:
        self._client.close()
