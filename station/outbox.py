"""The station's outbox: every reading, chat message and note is stored here before it is sent.

One SQLite file (``DATA_DIR/outbox.db``, write-ahead log, ``synchronous=NORMAL``: a committed
item survives SIGKILL of the station; a power cut may lose the last few hundred milliseconds).
Each item has an idempotency ``key`` (32 hex digits) that the server deduplicates on:

* a reading's key is derived from its content (``Reading.content_key``: source, kind, time,
  value, unit, absent reason), so a device that sends its stored memory again (a Visomat cuff
  re-sends every record, a BLE glucose meter's RACP download) maps to the same key and is stored
  once (``INSERT OR IGNORE``), across station restarts too; the server derives the same key, so
  a reading travels without it (the key is half of a reading's gzipped bytes on the wire);
* a chat message or note gets a random key when it is stored; it is stored once.

Each item belongs to the consult that was current when the station stored it (``None`` when
there was none). The current consult (``Outbox.consult``) is kept in the file too: a station
restarted during an outage goes on attributing readings to its open consult until the server
says otherwise. Items move from pending to ``acked`` (the server's record holds them) or
``refused`` (the server rejected them with a code: kept here, never sent again, counted).
Acknowledged items are deleted after ``keep_acked_s`` (7 days; the server holds them): the
file stays small on a station that runs for months, and a device memory re-sent after that
long is stored and sent again, which the server's deduplication absorbs.

Public surface (the uploader, the staff page, and tests that count records use only this):
``Outbox.put`` (queue an item; the writer task stores it within one loop turn) /
``await Outbox.add`` (store now), ``pending``, ``ack``, ``refuse``, ``items``, ``backlog``,
``changed`` (set whenever items are stored or acknowledged).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from devices.reading import Reading

KEEP_ACKED_S = 7 * 24 * 3600
PRUNE_EVERY_S = 3600.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    consult TEXT,
    time REAL NOT NULL,
    body TEXT NOT NULL,
    stored REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    refusal TEXT
);
CREATE INDEX IF NOT EXISTS items_pending ON items (seq) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS items_refused ON items (seq) WHERE state = 'refused';
CREATE INDEX IF NOT EXISTS items_consult ON items (consult);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
"""


class ItemKind(StrEnum):
    READING = "reading"
    CHAT = "chat"
    NOTE = "note"


class ItemState(StrEnum):
    PENDING = "pending"
    ACKED = "acked"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Item:
    """One record for the server. ``body`` is the wire form: a reading's ``Reading.to_json()``;
    for chat ``{"from", "text", "time"}``; for a note ``{"text", "time"}``."""

    key: str
    kind: ItemKind
    consult: str | None
    body: dict[str, Any]

    @property
    def time(self) -> float:
        return float(self.body["time"])

    def to_json(self) -> dict[str, Any]:
        """The upload's wire form of one item (a reading's key is left for the server to derive)."""
        out = {"kind": self.kind.value, "consult": self.consult, "body": self.body}
        return out if self.kind is ItemKind.READING else {"key": self.key, **out}


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits for the server: how many items, and since when (the oldest one's store time)."""

    count: int
    oldest: float | None
    refused: int

    def to_json(self, now: float) -> dict[str, Any]:
        return {"count": self.count, "oldest": self.oldest,
                "oldest_age_s": None if self.oldest is None else max(0.0, now - self.oldest), "refused": self.refused}


def reading_item(reading: Reading, consult: str | None) -> Item:
    return Item(reading.content_key(), ItemKind.READING, consult, reading.to_json())


def text_item(kind: ItemKind, consult: str | None, body: dict[str, Any]) -> Item:
    """A chat message or a note: a fresh random key (the same words said twice are two messages)."""
    return Item(uuid.uuid4().hex, kind, consult, body)


class Outbox:
    """The SQLite store. Database calls run in a worker thread, one at a time; the event loop only
    waits for them. ``run()`` is the writer that stores what ``put`` queued, many items per
    transaction (a Visomat memory dump is one commit, not hundreds)."""

    def __init__(self, path: Path, keep_acked_s: float = KEEP_ACKED_S) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._keep_acked_s = keep_acked_s
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._queued: list[Item] = []
        self._wake = asyncio.Event()
        self.changed = asyncio.Event()
        self.backlog = self._count()
        row = self._db.execute("SELECT value FROM meta WHERE name = 'consult'").fetchone()
        self._consult: str | None = row[0] if row else None

    @property
    def consult(self) -> str | None:
        """The consult new items belong to."""
        return self._consult

    @consult.setter
    def consult(self, consult: str | None) -> None:
        if consult != self._consult:  # rare (a consult starts or ends): a tiny write on the loop
            self._consult = consult
            with self._lock:
                self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('consult', ?)", (consult,))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, item: Item) -> None:
        """Queue ``item`` for the writer (never blocks; use ``add`` to wait until it is stored)."""
        self._queued.append(item)
        self._wake.set()

    async def run(self) -> None:
        """The writer: stores queued items until cancelled (and whatever is queued at cancel)."""
        pruned_at = 0.0
        try:
            while True:
                if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                    pruned_at = time.monotonic()
                    await self.prune()
                try:
                    await asyncio.wait_for(self._wake.wait(), PRUNE_EVERY_S)
                except TimeoutError:
                    continue
                self._wake.clear()
                await self.flush()
        finally:
            if self._queued:
                self._store(self._take())

    async def flush(self) -> None:
        """Store everything queued so far."""
        if self._queued:
            await self.add(self._take())

    async def add(self, items: Iterable[Item]) -> int:
        """Store ``items`` in one transaction; return how many were new (known keys are ignored)."""
        added = await asyncio.to_thread(self._store, list(items))
        self.changed.set()
        return added

    async def prune(self) -> int:
        """Delete items acknowledged more than ``keep_acked_s`` ago (by store time); return how many."""
        return await asyncio.to_thread(self._prune, time.time() - self._keep_acked_s)

    async def pending(self, limit: int) -> list[Item]:
        """Up to ``limit`` items the server has not acknowledged, oldest first."""
        rows = await asyncio.to_thread(
            self._query, "SELECT key, kind, consult, body FROM items WHERE state = 'pending' ORDER BY seq LIMIT ?",
            (limit,))
        return [Item(key, ItemKind(kind), consult, json.loads(body)) for key, kind, consult, body in rows]

    async def ack(self, keys: Iterable[str]) -> None:
        """The server's record holds these items: never send them again."""
        await asyncio.to_thread(self._mark, [(ItemState.ACKED.value, None, key) for key in keys])
        self.changed.set()

    async def refuse(self, refusals: Iterable[tuple[str, str]]) -> None:
        """The server refused these items (key, code): keep them, stop sending them."""
        await asyncio.to_thread(self._mark, [(ItemState.REFUSED.value, code, key) for key, code in refusals])
        self.changed.set()

    async def items(self, consult: str | None = None, kind: ItemKind | None = None) -> list[tuple[Item, ItemState]]:
        """Every stored item (optionally of one consult and kind) with its state, in store order."""
        where, args = ["1 = 1"], []
        if consult is not None:
            where.append("consult = ?")
            args.append(consult)
        if kind is not None:
            where.append("kind = ?")
            args.append(kind.value)
        rows = await asyncio.to_thread(
            self._query, f"SELECT key, kind, consult, body, state FROM items WHERE {' AND '.join(where)} ORDER BY seq",
            tuple(args))
        return [(Item(key, ItemKind(k), c, json.loads(body)), ItemState(state)) for key, k, c, body, state in rows]

    # -- in the worker thread -----------------------------------------------------------------

    def _take(self) -> list[Item]:
        items, self._queued = self._queued, []
        return items

    def _store(self, items: list[Item]) -> int:
        now = time.time()
        with self._lock:
            before = self._db.total_changes
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO items (key, kind, consult, time, body, stored) VALUES (?, ?, ?, ?, ?, ?)",
                [(i.key, i.kind.value, i.consult, i.time, json.dumps(i.body), now) for i in items])
            self._db.execute("COMMIT")
            added = self._db.total_changes - before
            self.backlog = self._count_locked()
        return added

    def _prune(self, before: float) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM items WHERE state = 'acked' AND stored < ?", (before,)).rowcount

    def _mark(self, rows: list[tuple[str, str | None, str]]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("UPDATE items SET state = ?, refusal = ? WHERE key = ? AND state = 'pending'", rows)
            self._db.execute("COMMIT")
            self.backlog = self._count_locked()

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _count(self) -> Backlog:
        with self._lock:
            return self._count_locked()

    def _count_locked(self) -> Backlog:
        count, oldest = self._db.execute("SELECT count(*), min(stored) FROM items WHERE state = 'pending'").fetchone()
        (refused,) = self._db.execute("SELECT count(*) FROM items WHERE state = 'refused'").fetchone()
        return Backlog(count, oldest, refused)
