"""A specialist peer in Python (aiortc), driving the real server the way the browser page does.

Where aiortc receives video the deadline jitter buffer must be in use: run it under
``media.tuning.apply()`` (the ``tuned`` fixture), which ``video_jitter_buffer`` lets tests check.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media import timecode
from media.pattern import ToneTrack
from station import vitalschannel
from station.filechannel import FileReceiver, parse_chunk
from station.peer import ice_configuration


@dataclass
class SpecialistPeer:
    url: str
    name: str
    password: str
    frames: int = 0
    frame_times: list[int] = field(default_factory=list)
    frame_sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) per decoded frame
    frame_arrivals: list[float] = field(default_factory=list)  # time.monotonic() of each decoded frame
    readings: list[dict[str, Any]] = field(default_factory=list)
    control: list[dict[str, Any]] = field(default_factory=list)
    consult: dict[str, Any] | None = None
    # The files channel, receiver side (as the specialist page does it): offers, bytes so far,
    # verified files, and every offset we asked the sender to resume from.
    stills: FileReceiver = field(default_factory=FileReceiver)
    # Fault injection: after this many bytes of a file the link "goes dark" (nothing more is
    # taken in or acknowledged) until the test drops the connection with reconnect().
    files_blackout_after: int | None = None
    speaks: bool = True  # answer with a microphone (observers stay silent)
    invitations: list[dict[str, Any]] = field(default_factory=list)
    presence: list[dict[str, Any]] = field(default_factory=list)  # peer_joined, peer_left, consult_ended
    errors: list[dict[str, Any]] = field(default_factory=list)
    offers_from: list[str] = field(default_factory=list)
    waiting: list[dict[str, Any]] = field(default_factory=list)  # the latest waiting room
    pushed: list[dict[str, Any]] = field(default_factory=list)  # readings the server pushed (backfill)

    async def __aenter__(self) -> SpecialistPeer:
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with self.session.post(self.url + "api/login", json={"name": self.name, "password": self.password}) as res:
            res.raise_for_status()
        await self._connect()
        return self

    async def _connect(self) -> None:
        self.ws = await self.session.ws_connect(self.url + "ws")
        self.pc: RTCPeerConnection | None = None
        self.channels: dict[str, Any] = {}
        self.ice: list[dict[str, Any]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._reader = asyncio.create_task(self._read())

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        self.stills.close()
        for task in self._tasks:
            task.cancel()
        if self.pc is not None:
            await self.pc.close()
        await self.ws.close()
        await self.session.close()

    async def join_first_waiting(self, timeout: float = 20.0) -> dict[str, Any]:
        await self.wait_for(lambda: self.waiting, timeout)
        consult_id = self.waiting[0]["id"]
        await self.ws.send_json({"type": "join", "consult": consult_id})
        return {"id": consult_id}

    async def reconnect(self) -> None:
        """Drop the peer connection and the WebSocket (the specialist's network died), then
        come back and rejoin the consult, as the page does after an outage."""
        consult = self.consult
        assert consult is not None
        self._reader.cancel()
        for task in self._tasks:
            task.cancel()
        if self.pc is not None:
            await self.pc.close()
        await self.ws.close()
        self.files_blackout_after = None
        await self._connect()
        await self.ws.send_json({"type": "join", "consult": consult["id"]})

    async def send_control(self, message: dict[str, Any]) -> None:
        self.channels["control"].send(json.dumps(message))
    async def enter(self, consult_id: str, *, observe: bool = False) -> None:
        await self.ws.send_json({"type": "observe" if observe else "join", "consult": consult_id})

    async def invite(self, user: str, as_: str = "specialist") -> None:
        assert self.consult is not None
        await self.ws.send_json({"type": "invite", "consult": self.consult["id"], "user": user, "as": as_})

    async def send_chat(self, text: str) -> None:
        self.channels["control"].send(json.dumps({"type": "chat", "text": text, "from": self.name}))

    def video_jitter_buffer(self) -> object:
        """The jitter buffer of the live video receiver (None before the offer)."""
        for receiver in self.pc.getReceivers() if self.pc is not None else []:
            if receiver.track.kind == "video":
                return getattr(receiver, "_RTCRtpReceiver__jitter_buffer")
        return None

    async def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        async def poll() -> None:
            while not predicate():
                await asyncio.sleep(0.05)
        await asyncio.wait_for(poll(), timeout)

    async def _read(self) -> None:
        async for msg in self.ws:
            message = json.loads(msg.data)
            kind = message["type"]
            if kind == "welcome":
                self.ice = message["ice_servers"]
                self.member = message["member"]
            elif kind == "waiting_room":
                self.waiting = [c for c in message["consults"] if c["state"] == "waiting"]
            elif kind == "joined":
                self.consult = message["consult"]
            elif kind == "invited":
                self.invitations.append(message)
            elif kind in ("peer_joined", "peer_left", "consult_ended"):
                self.presence.append(message)
            elif kind == "error":
                self.errors.append(message)
            elif kind == "readings":
                self.pushed.extend(message["readings"])
            elif kind == "signal" and message["data"].get("kind") == "offer":
                await self._answer(message["from"], message["data"]["sdp"])

    async def _answer(self, station: str, sdp: str) -> None:
        self.offers_from.append(station)
        if self.pc is not None:
            await self.pc.close()
        pc = RTCPeerConnection(ice_configuration(self.ice))
        self.pc = pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self._tasks.append(asyncio.create_task(self._consume_video(track)))

        @pc.on("datachannel")
        def on_channel(channel: Any) -> None:
            self.channels[channel.label] = channel

            @channel.on("message")
            def on_message(raw: str | bytes) -> None:
                if channel.label == "files":
                    self._file_message(channel, raw)
                    return
                if channel.label == "vitals":
                    self.readings.extend(r.to_json() for r in vitalschannel.decode(raw)[1])
                else:
                    self.control.append(json.loads(raw))

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        if self.speaks:
            pc.addTrack(ToneTrack(frequency=880))  # reuses the offered audio transceiver: sendrecv
        await pc.setLocalDescription(await pc.createAnswer())
        assert self.consult is not None
        await self.ws.send_json({"type": "signal", "consult": self.consult["id"], "to": station,
                                 "data": {"kind": "answer", "sdp": pc.localDescription.sdp}})

    async def _consume_video(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.frames += 1
                self.frame_sizes.append((frame.width, frame.height))
                self.frame_arrivals.append(time.monotonic())
                stamp = timecode.read(frame.to_ndarray(format="bgr24"))
                if stamp is not None:
                    self.frame_times.append(stamp)
        except MediaStreamError:
            return

    def _file_message(self, channel: Any, raw: str | bytes) -> None:
        if isinstance(raw, bytes) and self.files_blackout_after is not None:
            still_id, _, _ = parse_chunk(raw)
            if len(self.stills.partial.get(still_id, b"")) >= self.files_blackout_after:
                return
        self.stills.message(channel, raw)
