"""One WebRTC peer connection from the station to one consult member (specialist or observer)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiortc import (
    RTCConfiguration, RTCDataChannel, RTCIceServer, RTCPeerConnection, RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from devices.reading import Reading
from station.filechannel import LABEL as FILES_LABEL
from station.filechannel import FileSender
from station.stills import StillStore

log = logging.getLogger(__name__)

SendSignal = Callable[[dict[str, Any]], Awaitable[None]]


def ice_configuration(servers: list[dict[str, Any]]) -> RTCConfiguration:
    """Exactly the configured ICE servers: aiortc's default adds a public STUN server, which
    stalls ICE on an offline clinic LAN or a satellite terminal without internet."""
    return RTCConfiguration(iceServers=[
        RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential")) for s in servers
    ])


class PeerLink:
    """Offers the station's tracks and data channels to one remote member."""

    def __init__(
        self,
        peer_id: str,
        ice_servers: list[dict[str, Any]],
        video: MediaStreamTrack | None,
        audio: MediaStreamTrack | None,
        on_control: Callable[[PeerLink, dict[str, Any]], Awaitable[None]],
        stills: StillStore | None = None,
        on_audio: Callable[[MediaStreamTrack], None] | None = None,
    ) -> None:
        """``on_audio`` takes the member's incoming audio track (a relay forwards it); without
        it the audio is consumed and counted here."""
        self.peer_id = peer_id
        self.pc = RTCPeerConnection(ice_configuration(ice_servers))
        self.audio_frames_received = 0
        self._vitals_sent: dict[tuple[str, str], Reading] = {}
        self._on_control = on_control
        self._on_audio = on_audio
        self._tasks: set[asyncio.Task[None]] = set()
        if video is not None:
            self.pc.addTrack(video)
        if audio is not None:
            self.pc.addTrack(audio)
        else:
            self.pc.addTransceiver("audio", direction="recvonly")
        self.vitals: RTCDataChannel = self.pc.createDataChannel("vitals", ordered=False, maxRetransmits=0)
        self.control: RTCDataChannel = self.pc.createDataChannel("control")
        self.control.on("message", self._control_message)
        self.files = FileSender(self.pc.createDataChannel(FILES_LABEL), stills) if stills is not None else None
        self.pc.on("track", self._track)

    async def offer(self) -> dict[str, str]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        description = self.pc.localDescription
        return {"sdp": description.sdp, "kind": description.type}

    async def accept(self, data: dict[str, Any]) -> None:
        if data.get("kind") == "answer" and isinstance(data.get("sdp"), str):
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="answer"))

    def send_vitals(self, latest: Iterable[Reading]) -> None:
        """Send the readings of ``latest`` this member has not had yet (once its channel is open:
        a member who joins late first gets the present value of every measure)."""
        if self.vitals.readyState != "open":
            return
        fresh = [r for r in latest if self._vitals_sent.get((r.source, r.kind)) is not r]
        if not fresh:
            return
        for reading in fresh:
            self._vitals_sent[(reading.source, reading.kind)] = reading
        self.vitals.send(json.dumps({"type": "readings", "sent": time.time(), "readings": [r.to_json() for r in fresh]}))

    def send_control(self, message: dict[str, Any]) -> None:
        if self.control.readyState == "open":
            self.control.send(json.dumps(message))

    async def close(self) -> None:
        if self.files is not None:
            self.files.close()
        for task in self._tasks:
            task.cancel()
        await self.pc.close()

    def _control_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.debug("peer %s sent a non-JSON control message", self.peer_id)
            return
        if isinstance(message, dict):
            self._spawn(self._on_control(self, message))

    def _track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio":
            return
        if self._on_audio is not None:
            self._on_audio(track)
        else:
            self._spawn(self._consume_audio(track))

    async def _consume_audio(self, track: MediaStreamTrack) -> None:
        """The specialist's voice. Counted here; a speaker sink can be attached later."""
        try:
            while True:
                await track.recv()
                self.audio_frames_received += 1
        except MediaStreamError:
            return

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
