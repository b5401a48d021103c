"""The append-only, hash-chained audit log: who joined, viewed and exported which consult.

Each entry's hash covers its own content and the previous entry's hash, so changing, inserting
or deleting any entry breaks every hash after it; ``farlink admin verify-audit`` walks the chain
and names the first entry that does not fit. (Cutting entries off the end leaves a shorter valid
chain: keep a copy of the last hash elsewhere, e.g. the nightly backup report, to catch that.)
The server only ever inserts into this table; under group commit, appends from one node are
serialised, which keeps the chain linear.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Float, Integer, String, Table, Text, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from signaling.store import Store, metadata

GENESIS = "0" * 64

audit_log = Table(
    "audit_log", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("time", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("consult_id", String(36), nullable=True, index=True),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)


def entry_hash(prev_hash: str, time_: float, actor: str, action: str, consult_id: str | None, detail: str) -> str:
    content = json.dumps([prev_hash, repr(time_), actor, action, consult_id, detail], separators=(",", ":"))
    return hashlib.sha256(content.encode()).hexdigest()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entries: int
    first_bad: int | None = None
    reason: str = ""


class AuditLog:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def append(self, actor: str, action: str, consult_id: str | None, **detail: Any) -> None:
        detail_json = json.dumps(detail, sort_keys=True, separators=(",", ":"))
        now = time.time()

        async def op(conn: AsyncConnection) -> None:
            last = (await conn.execute(select(audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1))).scalar()
            prev = last or GENESIS
            await conn.execute(insert(audit_log).values(
                time=now, actor=actor, action=action, consult_id=consult_id, detail=detail_json, prev_hash=prev,
                hash=entry_hash(prev, now, actor, action, consult_id, detail_json),
            ))

        await self._store.write(op)

    async def entries(self, consult_id: str | None = None) -> list[dict[str, Any]]:
        query = select(audit_log).order_by(audit_log.c.seq)
        if consult_id is not None:
            query = query.where(audit_log.c.consult_id == consult_id)
        async with self._store.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query)).mappings()]

    async def verify(self) -> Verdict:
        """Walk the chain from the start; the first entry that does not fit is named."""
        prev, count = GENESIS, 0
        for row in await self.entries():
            count += 1
            if row["prev_hash"] != prev:
                return Verdict(False, count, row["seq"], "does not follow the entry before it (one was changed, "
                                                          "inserted or removed)")
            expected = entry_hash(prev, row["time"], row["actor"], row["action"], row["consult_id"], row["detail"])
            if row["hash"] != expected:
                return Verdict(False, count, row["seq"], "its content does not match its hash (it was changed)")
            prev = row["hash"]
        return Verdict(True, count)
