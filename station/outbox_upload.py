"""Uploads the outbox into the server's consult record, with acknowledgement.

``POST /api/station/records`` (``Authorization: Bearer <station token>``), the body a gzipped
JSON ``{"items": [Item.to_json(), ...]}``; the server answers ``{"held": [positions],
"refused": [{"index", "key", "code", "message"}]}`` after its commit (items named by their
position in the request). Held items are marked acknowledged, refused
ones are kept and never sent again; anything else (no answer, a 5xx, a dropped connection) is
retried with backoff, and the same keys go again (the server deduplicates them).

Small on the wire: new items wait ``BATCH_S`` to travel together (a backlog goes at once, in
``MAX_ITEMS`` chunks), readings go without their key (the server derives it), both directions
are gzipped, and one HTTP keep-alive connection carries the requests, so a 1.5 s round trip
link pays no handshake per batch (figures in docs/architecture.md, "The outbox").

It runs during consults too (it is what backfills the specialist's chart after an outage),
except while ``paused()``: a consult on a thin link (``station.peer.PeerLink.thin``: a 24 kbit/s
BGAN uplink, where each batch of about 1 kB held the link for 400 ms and the live vitals waited
behind it); the batches go when the consult ends or its link widens. A restarted station simply
continues with what is still pending.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from devices.errors import LocalError, TransportError
from station.outbox import Item, Outbox

log = logging.getLogger(__name__)

PATH = "/api/station/records"
BATCH_S = 10.0
MAX_ITEMS = 200
RETRY_MIN_S = 1.0
RETRY_MAX_S = 10.0


class OutboxUploader:
    """Sends pending items until cancelled; ``sent_bytes`` counts request bodies on the wire."""

    def __init__(self, server: str, token: str, outbox: Outbox, batch_s: float | None = None,
                 paused: Callable[[], bool] = lambda: False) -> None:
        self._url = server.rstrip("/") + PATH
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                         "Content-Encoding": "gzip"}
        self._outbox = outbox
        self._batch_s = BATCH_S if batch_s is None else batch_s
        self._paused = paused
        self.sent_bytes = 0
        self.requests = 0

    async def run(self) -> None:
        retry = RETRY_MIN_S
        async with aiohttp.ClientSession(headers=self._headers, timeout=aiohttp.ClientTimeout(total=30)) as session:
            while True:
                if self._paused():
                    await asyncio.sleep(max(self._batch_s, RETRY_MIN_S))
                    continue
                self._outbox.changed.clear()
                items = await self._outbox.pending(MAX_ITEMS)
                if not items:
                    await self._outbox.changed.wait()
                    await asyncio.sleep(self._batch_s)  # let the next few items join this batch
                    continue
                try:
                    await self.send(session, items)
                except (TransportError, LocalError) as exc:
                    log.warning("outbox: %d items not uploaded yet (%s); retrying in %.0f s", len(items), exc, retry)
                    await asyncio.sleep(retry)
                    retry = min(RETRY_MAX_S, retry * 2)
                    continue
                retry = RETRY_MIN_S

    async def send(self, session: aiohttp.ClientSession, items: list[Item]) -> None:
        """One batch: acknowledged and refused items are marked in the outbox."""
        body = gzip.compress(json.dumps({"items": [i.to_json() for i in items]}, separators=(",", ":")).encode())
        self.sent_bytes += len(body)
        self.requests += 1
        try:
            async with session.post(self._url, data=body) as response:
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            raise TransportError(f"upload to {self._url} failed: {exc}", code="upload_failed") from exc
        if response.status != 200 or not isinstance(answer, dict):
            error = answer.get("error", {}) if isinstance(answer, dict) else {}
            raise LocalError(f"the server refused the batch: {error.get('message', response.status)}",
                             code=str(error.get("code", "upload_refused")))
        def position(value: Any) -> bool:
            return isinstance(value, int) and 0 <= value < len(items)

        held = [items[i].key for i in answer.get("held", []) if position(i)]
        refused = [(items[r["index"]].key, str(r.get("code"))) for r in answer.get("refused", [])
                   if isinstance(r, dict) and position(r.get("index"))]
        await self._outbox.ack(held)
        if refused:
            log.warning("outbox: the server refused %d items: %s", len(refused), answer["refused"][:3])
            await self._outbox.refuse(refused)
        if not held and not refused:
            raise LocalError("the server answered for none of the items", code="upload_refused")
