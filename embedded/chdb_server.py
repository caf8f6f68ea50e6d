"""chDB behind ClickHouse's HTTP interface, so that every process of the platform can share it.

chDB runs inside one process and locks its directory, but the hot path, the workers, the API
and the CLI all need the market-data store at once. `aitp up` therefore runs this small server,
which owns the chDB directory and answers the part of ClickHouse's HTTP interface that
clickhouse-connect uses: `/ping`, a query in the `query` parameter or the body, `param_*`
query parameters, the `database` parameter, and INSERT data in the body. Clients then use the
same adapter for the embedded default and for a ClickHouse server.

    python -m embedded.chdb_server --path DATA_DIR/clickhouse --port 8123
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from chdb import session as chdb_session

_FORMAT_TAIL = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
_ERROR_CODE = re.compile(r"Code:\s*(\d+)")
_IGNORED_PARAMS = {"query", "database", "default_format", "session_id", "query_id", "user"}


class ChdbHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], path: Path) -> None:
        super().__init__(address, _Handler)
        path.mkdir(parents=True, exist_ok=True)
        self.session = chdb_session.Session(str(path))
        self.lock = threading.Lock()  # chDB sessions are not safe for concurrent queries
        self.spool = Path(tempfile.mkdtemp(prefix="chdb-spool-"))

    def run_query(
        self, sql: str, fmt: str, params: dict[str, str], database: str | None, data: bytes | None
    ) -> bytes:
        with self.lock:
            if database:
                self.session.query(f"USE `{database}`")
            if data is not None:
                return self._insert(sql, data)
            result = self.session.query(sql, fmt, params=params or None)
            return bytes(result.bytes())

    def _insert(self, sql: str, data: bytes) -> bytes:
        match = _FORMAT_TAIL.search(sql)
        if match is None or not sql.lstrip().upper().startswith("INSERT"):
            raise ValueError("data in the body needs `INSERT INTO table [(cols)] FORMAT name`")
        fd, name = tempfile.mkstemp(dir=self.spool)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            rewritten = f"{sql[: match.start()]} FROM INFILE '{name}' FORMAT {match.group(1)}"
            self.session.query(rewritten)
        finally:
            os.unlink(name)
        return b""

    def server_close(self) -> None:
        super().server_close()
        self.session.close()


class _Handler(BaseHTTPRequestHandler):
    server: ChdbHttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        if urlsplit(self.path).path in ("/ping", "/") and "query=" not in self.path:
            self._reply(200, b"Ok.\n", "text/plain")
            return
        self._handle(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self._handle(body)

    def _handle(self, body: bytes) -> None:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        params = {k[6:]: v for k, v in query.items() if k.startswith("param_")}
        sql = query.get("query")
        data: bytes | None = None
        if sql is None:
            sql = body.decode()
        elif body:
            if _FORMAT_TAIL.search(sql) and sql.lstrip().upper().startswith("INSERT"):
                data = body
            else:
                sql = f"{sql} {body.decode()}"
        fmt = query.get("default_format", "TabSeparated")
        try:
            out = self.server.run_query(sql, fmt, params, query.get("database"), data)
        except Exception as exc:  # every failure goes back to the client, as ClickHouse does
            message = str(exc)
            code = _ERROR_CODE.search(message)
            self._reply(
                500,
                (message if message.startswith("Code:") else f"Code: 1000. {message}").encode(),
                "text/plain",
                {"X-ClickHouse-Exception-Code": code.group(1) if code else "1000"},
            )
            return
        self._reply(200, out, "application/octet-stream", {"X-ClickHouse-Format": fmt})

    def _reply(
        self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-ClickHouse-Server-Display-Name", "aitp-chdb")
        self.send_header("X-ClickHouse-Timezone", "UTC")
        self.send_header("X-ClickHouse-Summary", '{"read_rows":"0","written_rows":"0"}')
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, required=True, help="chDB data directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = ChdbHttpServer((args.host, args.port), args.path)

    def _stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
