"""Resumable HTTP upload of stills into the server's consult record.

Runs whenever no consult is live: during a consult the ``files`` channel has the link, and an
upload beside it would take the bandwidth live video and vitals need on a satellite link. Each
request carries one chunk at the offset the server confirmed, so a dropped link costs at most
one chunk, and a restarted station asks the server where to continue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from devices.errors import LocalError, TransportError
from station.stills import Still, StillStore

log = logging.getLogger(__name__)

UPLOAD_CHUNK = 64 * 1024
RETRY_S = 5.0


class StillUploader:
    """Uploads every pending still; ``paused()`` true means stand aside for a live consult."""

    def __init__(self, server: str, token: str, store: StillStore, paused: Callable[[], bool]) -> None:
        self._base = server.rstrip("/") + "/api/stills"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._store = store
        self._paused = paused

    async def run(self) -> None:
        """Upload until cancelled; wakes on a new still and retries every few seconds."""
        async with aiohttp.ClientSession(headers=self._headers, timeout=aiohttp.ClientTimeout(total=120)) as session:
            while True:
                self._store.changed.clear()
                for still in self._store.pending():
                    if self._paused():
                        break
                    try:
                        await self.upload(session, still)
                    except (TransportError, LocalError) as exc:
                        log.warning("still %s not uploaded yet: %s", still.id, exc)
                        break
                try:
                    await asyncio.wait_for(self._store.changed.wait(), RETRY_S)
                except TimeoutError:
                    pass

    async def upload(self, session: aiohttp.ClientSession, still: Still) -> None:
        """Continue ``still`` from the server's offset until the record holds it or we pause."""
        meta = {key: value for key, value in still.offer().items() if key != "type"}
        answer = await self._call(session, "POST", self._base, json=meta)
        data = self._store.data(still)
        while not answer["complete"]:
            if self._paused():
                return
            offset = answer["offset"]
            still.sent = offset
            answer = await self._call(session, "PATCH", f"{self._base}/{still.id}",
                                      data=data[offset:offset + UPLOAD_CHUNK], headers={"Upload-Offset": str(offset)})
        still.sent, still.recorded = still.size, True
        self._store.save(still)
        log.info("still %s is in the server's record", still.id)

    async def _call(self, session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """One request; the server's offset survives a conflict or a failed checksum."""
        try:
            async with session.request(method, url, **kwargs) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            raise TransportError(f"upload to {url} failed: {exc}", code="upload_failed") from exc
        if response.status in (200, 201):
            return dict(body)
        error = body.get("error", {}) if isinstance(body, dict) else {}
        if error.get("code") in ("offset_mismatch", "checksum_mismatch"):
            return {"offset": int(error["offset"]), "complete": False}
        raise LocalError(f"the server refused the still: {error.get('message', response.status)}",
                         code=str(error.get("code", "upload_refused")))
