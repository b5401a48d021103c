"""A specialist peer in Python (aiortc), driving the real server the way the browser page does."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media import timecode
from media.pattern import ToneTrack
from station.peer import ice_configuration


@dataclass
class SpecialistPeer:
    url: str
    name: str
    password: str
    frames: int = 0
    frame_times: list[int] = field(default_factory=list)
    readings: list[dict[str, Any]] = field(default_factory=list)
    control: list[dict[str, Any]] = field(default_factory=list)
    consult: dict[str, Any] | None = None

    async def __aenter__(self) -> SpecialistPeer:
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with self.session.post(self.url + "api/login", json={"name": self.name, "password": self.password}) as res:
            res.raise_for_status()
        self.ws = await self.session.ws_connect(self.url + "ws")
        self.pc: RTCPeerConnection | None = None
        self.channels: dict[str, Any] = {}
        self.ice: list[dict[str, Any]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        for task in self._tasks:
            task.cancel()
        if self.pc is not None:
            await self.pc.close()
        await self.ws.close()
        await self.session.close()

    async def join_first_waiting(self, timeout: float = 20.0) -> dict[str, Any]:
        self._room: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        consult_id = await asyncio.wait_for(self._room, timeout)
        await self.ws.send_json({"type": "join", "consult": consult_id})
        return {"id": consult_id}

    async def send_chat(self, text: str) -> None:
        self.channels["control"].send(json.dumps({"type": "chat", "text": text, "from": self.name}))

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
            elif kind == "waiting_room":
                waiting = [c for c in message["consults"] if c["state"] == "waiting"]
                room = getattr(self, "_room", None)
                if waiting and room is not None and not room.done():
                    room.set_result(waiting[0]["id"])
            elif kind == "joined":
                self.consult = message["consult"]
            elif kind == "signal" and message["data"].get("kind") == "offer":
                await self._answer(message["from"], message["data"]["sdp"])

    async def _answer(self, station: str, sdp: str) -> None:
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
            def on_message(raw: str) -> None:
                message = json.loads(raw)
                if channel.label == "vitals":
                    self.readings.extend(message["readings"])
                else:
                    self.control.append(message)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
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
                stamp = timecode.read(frame.to_ndarray(format="bgr24"))
                if stamp is not None:
                    self.frame_times.append(stamp)
        except MediaStreamError:
            return
