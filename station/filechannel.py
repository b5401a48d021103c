"""The ``files`` data channel: stills sent in chunks, acknowledged, resumable after an outage.

Wire protocol (reliable, ordered channel opened by the station):

* station -> receiver, text: ``{"type": "file", "id", "name", "mime", "size", "sha256", ...}``
  whenever the channel opens (for every still not yet shown) and for every new still;
* receiver -> station, text: ``{"type": "resume", "id", "offset"}``: send from ``offset`` (the
  bytes it already holds, 0 when new; a receiver whose checksum failed asks for 0 again);
* station -> receiver, binary: 16-byte still id, 8-byte big-endian offset, then the bytes;
* receiver -> station, text: ``{"type": "ack", "id", "offset"}`` after each chunk;
* receiver -> station, text: ``{"type": "done", "id"}`` once the SHA-256 matched.

A peer connection that dies mid-transfer takes nothing with it: the next connection's channel
re-offers the still and the receiver resumes from the last byte it acknowledged. At most
``WINDOW`` unacknowledged bytes are in flight: aiortc queues every channel's messages in one
SCTP queue, so a larger window would hold the vitals behind the still on a thin link.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import uuid
from aiortc import RTCDataChannel

from devices.errors import ProtocolError
from station.stills import Still, StillStore

log = logging.getLogger(__name__)

LABEL = "files"
CHUNK = 8 * 1024
WINDOW = 4 * CHUNK
HEADER = struct.Struct("!16sQ")


def chunk_frame(still_id: str, offset: int, data: bytes) -> bytes:
    return HEADER.pack(uuid.UUID(hex=still_id).bytes, offset) + data


def parse_chunk(frame: bytes) -> tuple[str, int, bytes]:
    """(still id, offset, bytes) of one binary message; ProtocolError if it is too short."""
    if len(frame) < HEADER.size:
        raise ProtocolError(f"a files chunk needs {HEADER.size} header bytes, got {len(frame)}", code="bad_chunk")
    raw_id, offset = HEADER.unpack_from(frame)
    return uuid.UUID(bytes=raw_id).hex, offset, frame[HEADER.size:]


class FileSender:
    """Serves the station's stills on one peer connection's ``files`` channel."""

    def __init__(self, channel: RTCDataChannel, store: StillStore) -> None:
        self.channel = channel
        self._store = store
        self._acked: dict[str, int] = {}
        self._progress = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        channel.on("open", self._offer_pending)
        channel.on("message", self._message)
        channel.on("close", self._progress.set)

    def offer(self, still: Still) -> None:
        if self.channel.readyState == "open":
            self.channel.send(json.dumps(still.offer()))

    def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    def _offer_pending(self) -> None:
        for still in self._store.pending():
            if not still.shown:
                self.offer(still)

    def _message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
            kind, still_id = message["type"], message["id"]
            still = self._store.get(still_id)
        except (ValueError, KeyError, TypeError):
            log.debug("files channel: ignored a malformed message")
            return
        if still is None:
            return
        offset = message.get("offset")
        if kind == "resume" and isinstance(offset, int) and 0 <= offset <= still.size:
            if still_id in self._tasks:
                self._tasks.pop(still_id).cancel()
            self._acked[still_id] = offset
            task = asyncio.ensure_future(self._send(still, offset))
            self._tasks[still_id] = task
            task.add_done_callback(lambda t: self._tasks.pop(still_id, None) if self._tasks.get(still_id) is t else None)
        elif kind == "ack" and isinstance(offset, int):
            self._acked[still_id] = max(self._acked.get(still_id, 0), min(offset, still.size))
            still.sent = self._acked[still_id]
            self._progress.set()
        elif kind == "done":
            still.sent, still.shown = still.size, True
            self._store.save(still)

    async def _send(self, still: Still, offset: int) -> None:
        data = self._store.data(still)
        position = offset
        while position < still.size:
            while position - self._acked.get(still.id, 0) >= WINDOW:
                if self.channel.readyState != "open":
                    return
                self._progress.clear()
                await self._progress.wait()
            if self.channel.readyState != "open":
                return
            self.channel.send(chunk_frame(still.id, position, data[position:position + CHUNK]))
            position += CHUNK
