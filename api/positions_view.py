"""Each tenant's open positions as the JSON documents GET /v1/positions sends, kept in memory.

Traders and their programs poll positions far more often than fills change them, and the
query cost a busy API more CPU than the rest of the request. So a tenant's positions are read
once, turned into documents (every account, and each account alone), and kept until
PostgreSQL announces a change to that tenant's positions (migration 0009; the notification
comes with the commit of the fill that moved them). While the listener is not attached,
nothing is kept and every read asks the database.

A change is seen by the next read once its notification has arrived, in practice within a
millisecond of the commit. A load that a notification overtakes is answered but not kept.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass

import asyncpg
from pydantic import TypeAdapter

from adapters.postgres.notifications import Listener
from adapters.postgres.tenant_books import TenantBooks
from api.schemas.trading import Position

CHANNEL = "positions"  # migration 0009's trigger announces here
_DOCUMENT = TypeAdapter(list[Position])
_EMPTY = _DOCUMENT.dump_json([])


@dataclass(frozen=True, slots=True)
class _Documents:
    every: bytes  # all of the tenant's accounts
    by_account: dict[str, bytes]

    def of(self, account: str | None) -> bytes:
        return self.every if account is None else self.by_account.get(account, _EMPTY)


class PositionsView:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._kept: dict[uuid.UUID, _Documents] = {}
        self._loading: dict[uuid.UUID, tuple[int, asyncio.Task[_Documents]]] = {}
        self._generation: defaultdict[uuid.UUID, int] = defaultdict(int)
        self._listener = Listener(pool, CHANNEL, self._changed, self._forget)
        self.loads = 0  # reads that went to the database

    def start(self) -> None:
        self._listener.start()

    @property
    def live(self) -> bool:
        """Whether changes are heard now, and so whether documents are kept."""
        return self._listener.listening

    async def wait_listening(self) -> None:
        await self._listener.wait_listening()

    async def stop(self) -> None:
        await self._listener.stop()

    async def document(self, tenant_id: uuid.UUID, account: str | None = None) -> bytes:
        kept = self._kept.get(tenant_id)
        if kept is None:
            kept = await self._load(tenant_id)
        return kept.of(account)

    async def _load(self, tenant_id: uuid.UUID) -> _Documents:
        """One query per tenant at a time: requests that arrive while a load of the current
        generation is out wait for it instead of sending their own."""
        generation = self._generation[tenant_id]
        loading = self._loading.get(tenant_id)
        if loading is None or loading[0] != generation:
            task = asyncio.create_task(self._read(tenant_id, generation))
            loading = (generation, task)
            self._loading[tenant_id] = loading
            task.add_done_callback(lambda _: self._done_loading(tenant_id, task))
        return await asyncio.shield(loading[1])

    def _done_loading(self, tenant_id: uuid.UUID, task: asyncio.Task[_Documents]) -> None:
        if self._loading.get(tenant_id, (0, None))[1] is task:
            del self._loading[tenant_id]

    async def _read(self, tenant_id: uuid.UUID, generation: int) -> _Documents:
        self.loads += 1
        rows = await TenantBooks(self._pool, tenant_id).positions()
        positions = [
            Position(
                account=r["account"],
                symbol=r["symbol"],
                position_id=r["position_id"],
                side="buy" if r["volume"] > 0 else "sell",
                volume=abs(r["volume"]),
                avg_price=r["avg_price"],
                commission=r["commission"],
                swap=r["swap"],
                updated_at=r["updated_at"],
            )
            for r in rows
        ]
        accounts = {p.account for p in positions}
        documents = _Documents(
            _DOCUMENT.dump_json(positions),
            {a: _DOCUMENT.dump_json([p for p in positions if p.account == a]) for a in accounts},
        )
        if self._listener.listening and self._generation[tenant_id] == generation:
            self._kept[tenant_id] = documents
        return documents

    def _changed(self, payload: str) -> None:
        if payload == "*":
            self._forget()
            return
        try:
            tenant_id = uuid.UUID(payload)
        except ValueError:
            return
        self._generation[tenant_id] += 1
        self._kept.pop(tenant_id, None)

    def _forget(self) -> None:
        for tenant_id in list(self._generation):
            self._generation[tenant_id] += 1
        self._kept.clear()
