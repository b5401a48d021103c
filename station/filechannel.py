"""The ``files`` data channel: stills sent in chunks, acknowledged, resumable after an outage.

Wire protocol (reliable, ordered channel opened by the station):

* station -> receiver, text: ``{"type": "file", "id", "name", "mime", "size", "sha256", ...}``
  whenever the channel opens (for every still not yet shown) and for every new still;
* receiver -> station, text: ``{"type": "resume", "id", "offset"}``: send from ``offset`` (the
  bytes it already holds, 0 when new; a receiver whose checksum failed asks for 0 again);
* station -> receiver, binary: 16-byte still id, 8-byte big-endian offset, then the bytes;
* receiver -> station, text: ``{"type": "ack", "id", "offset"}`` after each chunk;
* receiver -> station, text: ``{"type": "done", "id"}`` once the SHA-256 matched; the server's
  relay adds ``"recorded": true`` once the consult record holds the still (a sender believes
  that only from the link the server named as its relay: ``FileSender(recorder=True)``).

A peer connection that dies mid-transfer takes nothing with it: the next connection's channel
re-offers the still and the receiver resumes from the last byte it acknowledged. At most
``WINDOW`` unacknowledged bytes are in flight: aiortc queues every channel's messages in one
SCTP queue, so a larger window would hold the vitals behind the still on a thin link.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import struct
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiortc import RTCDataChannel

from devices.errors import ProtocolError
from station.stills import Still

log = logging.getLogger(__name__)

LABEL = "files"
CHUNK = 8 * 1024
WINDOW = 4 * CHUNK
HEADER = struct.Struct("!16sQ")
#: the largest still a receiver holds in memory (the server's record takes no more either)
MAX_FILE_BYTES = 20 * 1024 * 1024
HEX32 = re.compile(r"[0-9a-f]{32}")
HEX64 = re.compile(r"[0-9a-f]{64}")


def chunk_frame(still_id: str, offset: int, data: bytes) -> bytes:
    return HEADER.pack(uuid.UUID(hex=still_id).bytes, offset) + data


def parse_chunk(frame: bytes) -> tuple[str, int, bytes]:
    """(still id, offset, bytes) of one binary message; ProtocolError if it is too short."""
    if len(frame) < HEADER.size:
        raise ProtocolError(f"a files chunk needs {HEADER.size} header bytes, got {len(frame)}", code="bad_chunk")
    raw_id, offset = HEADER.unpack_from(frame)
    return uuid.UUID(bytes=raw_id).hex, offset, frame[HEADER.size:]


class StillSource(Protocol):
    """What a ``FileSender`` serves: the station's ``StillStore``, or the stills a relay holds."""

    def unshown(self) -> list[Still]:
        """The stills to offer whenever a channel opens."""

    def get(self, still_id: str) -> Still | None: ...

    def data(self, still: Still) -> bytes: ...

    def delivered(self, still: Still, recorded: bool) -> None:
        """A receiver verified ``still``; ``recorded``: the server's consult record holds it."""


class FileSender:
    """Serves stills on one peer connection's ``files`` channel: only those of ``consult`` (a
    specialist must never see another patient's still), or all of them when ``recorder``: the
    receiver is then the server's relay, which records each still under its own consult and whose
    ``done`` may say the record holds it."""

    def __init__(self, channel: RTCDataChannel, store: StillSource, *, consult: str | None,
                 recorder: bool = False) -> None:
        self.channel = channel
        self._store = store
        self._consult = consult
        self._recorder = recorder
        self._acked: dict[str, int] = {}
        self._progress = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        channel.on("open", self._offer_pending)
        channel.on("message", self._message)
        channel.on("close", self._progress.set)

    def carries(self, still: Still) -> bool:
        return self._recorder or still.consult == self._consult

    def offer(self, still: Still) -> None:
        if self.channel.readyState == "open" and self.carries(still):
            self.channel.send(json.dumps(still.offer()))

    def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    def _offer_pending(self) -> None:
        for still in self._store.unshown():
            self.offer(still)

    def _message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
            kind, still_id = message["type"], message["id"]
            still = self._store.get(still_id)
        except (ValueError, KeyError, TypeError):
            log.debug("files channel: ignored a malformed message")
            return
        if still is None or not self.carries(still):
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
            self._store.delivered(still, recorded=self._recorder and message.get("recorded") is True)

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


#: ``on_file(offer, data)`` keeps a verified still; True once the server's consult record holds it
OnFile = Callable[[dict[str, Any], bytes], Awaitable[bool]]


class FileReceiver:
    """The receiving end of the protocol (as ``signaling/web/stills.js`` speaks it), for the
    server's relay and the Python specialist. Partial stills live here, not on a channel, so a
    transfer cut with one peer connection resumes on the next; ``done`` goes out once the
    SHA-256 matched and ``on_file`` kept the still."""

    def __init__(self, on_file: OnFile | None = None) -> None:
        self.offers: dict[str, dict[str, Any]] = {}
        self.partial: dict[str, bytearray] = {}
        self.files: dict[str, bytes] = {}
        self.recorded: set[str] = set()
        self.resumed_from: list[int] = []  # every offset we asked a sender to resume from
        self.rejected = 0  # malformed offers and chunks, dropped
        self._on_file = on_file
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, channel: RTCDataChannel) -> None:
        channel.on("message", lambda raw: self.message(channel, raw))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    def message(self, channel: RTCDataChannel, raw: str | bytes) -> None:
        try:
            if isinstance(raw, str):
                self._offer(channel, json.loads(raw))
            else:
                self._chunk(channel, *parse_chunk(raw))
        except (ProtocolError, ValueError, TypeError, KeyError) as exc:
            self.rejected += 1
            log.debug("files channel: dropped a malformed message: %s", exc)

    def _offer(self, channel: RTCDataChannel, offer: dict[str, Any]) -> None:
        if offer["type"] != "file":
            return
        still_id, size = offer["id"], offer["size"]
        if not (isinstance(still_id, str) and HEX32.fullmatch(still_id) and isinstance(offer["sha256"], str)
                and HEX64.fullmatch(offer["sha256"]) and isinstance(size, int) and 0 < size <= MAX_FILE_BYTES):
            raise ProtocolError(f"a file offer needs id, sha256 and 0 < size <= {MAX_FILE_BYTES}", code="bad_offer")
        if still_id in self.files:
            self._done(channel, still_id)
            return
        self.offers[still_id] = offer
        have = len(self.partial.setdefault(still_id, bytearray()))
        self.resumed_from.append(have)
        channel.send(json.dumps({"type": "resume", "id": still_id, "offset": have}))

    def _chunk(self, channel: RTCDataChannel, still_id: str, offset: int, data: bytes) -> None:
        buffer = self.partial.get(still_id)
        if buffer is None or offset != len(buffer):
            return  # stale bytes from before a resume
        buffer.extend(data)
        channel.send(json.dumps({"type": "ack", "id": still_id, "offset": len(buffer)}))
        offer = self.offers[still_id]
        if len(buffer) < offer["size"]:
            return
        if len(buffer) > offer["size"] or hashlib.sha256(buffer).hexdigest() != offer["sha256"]:
            self.partial[still_id] = bytearray()
            self.resumed_from.append(0)
            channel.send(json.dumps({"type": "resume", "id": still_id, "offset": 0}))
            return
        data = bytes(self.partial.pop(still_id))
        task = asyncio.ensure_future(self._keep(channel, offer, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keep(self, channel: RTCDataChannel, offer: dict[str, Any], data: bytes) -> None:
        try:
            if self._on_file is not None and await self._on_file(offer, data):
                self.recorded.add(offer["id"])
        except Exception:  # the record's store failed: no "done", so the sender keeps the still and offers it again
            log.exception("files channel: could not keep still %s", offer["id"])
            return
        self.files[offer["id"]] = data
        self._done(channel, offer["id"])

    def _done(self, channel: RTCDataChannel, still_id: str) -> None:
        if channel.readyState == "open":
            recorded = {"recorded": True} if still_id in self.recorded else {}
            channel.send(json.dumps({"type": "done", "id": still_id, **recorded}))
