"""One consult's server-side media relay: the station's uplink in once, one peer link per viewer out.

Towards the station the relay is one more member that answers its offer; towards each viewer it
is what the station is in a one-to-one consult: it offers video, audio and the ``vitals`` and
``control`` channels (the same ``station.peer.PeerLink``), so the specialist page and
``tests/specialist.py`` need no second code path.

Video: the station's VP8 is decoded once (through Farlink's deadline jitter buffer:
``media.tuning`` is applied before the first peer connection) and encoded again for each viewer.
Every viewer's link has its own ``AdaptiveController`` (the ``PeerLink``'s), which sets that
viewer's encoder rate and cuts its ``RungTrack`` to its rung: a viewer on a thin link gets fewer, smaller frames without
slowing anyone else. aiortc has no simulcast and no RTP-level forwarding API, so a re-encode per
viewer is the price; ``bench/relay_cpu.py`` measures it.

Audio goes down to every viewer as it came; up to the station goes every specialist's voice,
mixed into one track (``media.mixer``; observers are never heard). Vitals are kept as the latest value
per measure and sent to each viewer at 5 Hz, so a viewer who joins late sees the present at once.
Control messages from the station reach every viewer; chat from a specialist reaches the station
and the other viewers; observers are read-only (their control messages are dropped, counted).
Viewers hear how the station's side stands on their control channel, ``{"type": "station",
"state": "live" | "reconnecting"}``: at every change (the station leaving signaling; its
connection coming up, going, or still up when the station returns) and when their channel opens. Their own link
to the relay stays up while the station is away, so without this a page could not tell a station
outage from a frozen picture (``peer_left``/``peer_joined`` say when the station left and came back
to signaling; this says when its media reaches the relay again).
Stills: the relay is the receiver on the station's ``files`` channel; a verified still goes into
the consult record at once (``done`` then tells the station so, and it stops being pending) and
is offered to every viewer, now and to any who join later (``relay.stills``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from devices.reading import Reading
from media import tuning
from media.adaptive import AdaptiveController
from media.feed import Feed
from media.mixer import AudioMixer
from media.ladder import RUNGS, Ladder
from relay.stills import HeldStills, StillArchive
from station import vitalschannel
from station.filechannel import LABEL as FILES_LABEL
from station.filechannel import FileReceiver
from station.peer import PeerLink, ice_configuration

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]

VITALS_HZ = 5.0
#: the lowest rung the relay gives a viewer. Viewers sit on hospital-side links, and the delay
#: signal the estimator reads also grows when the relay's own CPU is saturated (measured: on a
#: loaded 2-core host every viewer fell to the "vitals" rung on loopback): a small moving picture
#: beats none, and the smaller rung is also what frees that CPU.
VIEWER_FLOOR = "qvga6"
VIEWER_RUNGS = RUNGS[: [r.name for r in RUNGS].index(VIEWER_FLOOR) + 1]
VIEWERS = frozenset({"specialist", "observer", "admin"})
SPEAKERS = frozenset({"specialist", "admin"})


@dataclass
class Downlink:
    """One viewer: its peer link, its own rate controller and the tracks made for it."""

    role: str
    link: PeerLink
    controller: AdaptiveController
    tracks: list[MediaStreamTrack] = field(default_factory=list)
    voice: MediaStreamTrack | None = None

    async def close(self) -> None:
        await self.controller.stop()
        await self.link.close()
        for track in self.tracks:
            track.stop()


class ConsultRelay:
    """A ``signaling.relay.RelaySession``: ``receive`` takes the hub's messages for the relay member."""

    def __init__(self, consult_id: str, send: Send, ice_servers: list[dict[str, Any]], archive: StillArchive) -> None:
        if not tuning.applied():
            tuning.apply()  # the deadline jitter buffer must be in place where the relay receives video
        self._send = send
        self._ice = ice_servers
        self.consult_id = consult_id
        self.video = Feed("video")
        self.audio = Feed("audio")
        self.voice = AudioMixer()
        self._fanout = MediaRelay()
        self.upstream: RTCPeerConnection | None = None
        self._upstream_tracks: list[MediaStreamTrack] = []
        self._station_control: RTCDataChannel | None = None
        self.viewers: dict[str, Downlink] = {}
        self.latest: dict[tuple[str, str], Reading] = {}
        self.rejected = 0  # malformed vitals and observers' control messages, dropped
        self._archive = archive
        self.stills = HeldStills()
        self.files = FileReceiver(self._station_still)  # outlives an upstream connection: transfers resume
        self._vitals = asyncio.ensure_future(self._push_vitals())
        self._closed = False
        self.station: str | None = None  # the station's member id while it is on signaling
        self.station_live = False  # the station's peer connection to the relay is connected

    # -- the hub's messages ---------------------------------------------------------------

    async def receive(self, message: dict[str, Any]) -> None:
        if self._closed:
            return
        kind = message.get("type")
        if kind == "joined":  # may come after a peer_joined: members enter concurrently
            for peer in message.get("peers", []):
                await self._peer_joined(peer)
        elif kind == "peer_joined":
            await self._peer_joined(message["peer"])
        elif kind == "peer_left":
            if message["peer"] == self.station:
                self.station = None
                self._station_state(live=False)
            viewer = self.viewers.pop(message["peer"], None)
            if viewer is not None:
                if viewer.voice is not None:
                    self.voice.remove(viewer.voice)
                await viewer.close()
        elif kind == "signal":
            await self._signal(message["from"], message.get("from_role", ""), message["data"])
        elif kind == "consult_ended":
            await self.close()
        elif kind == "error":
            log.warning("the hub refused a relay message: %s %s", message.get("code"), message.get("message"))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.files.close()
        self._vitals.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._vitals
        await self._close_upstream()
        viewers, self.viewers = self.viewers, {}
        for viewer in viewers.values():
            await viewer.close()
        for track in (self.video, self.audio, self.voice):
            track.stop()

    # -- viewers --------------------------------------------------------------------------

    async def _peer_joined(self, peer: dict[str, Any]) -> None:
        if peer.get("role") == "station":
            self.station = peer["id"]
            # Back on signaling with its connection to us still up (the station keeps a link
            # that survived): no fresh offer comes, the media never stopped.
            self._station_state(live=self.upstream is not None and self.upstream.connectionState == "connected")
        if peer.get("role") not in VIEWERS:
            return  # the station offers to us when the hub tells it to
        peer_id = peer["id"]
        if peer_id in self.viewers:
            return  # announced twice (joins racing with the relay's own entry): one link is enough
        video = self._fanout.subscribe(self.video, buffered=False)
        audio = self._fanout.subscribe(self.audio)
        link = PeerLink(peer_id, self._ice, video, audio, self._viewer_control, self.stills,
                        on_audio=lambda track: self._viewer_voice(peer_id, track), ladder=Ladder(VIEWER_RUNGS),
                        consult=self.consult_id)
        controller = link.controller  # the link's own, on the viewer rungs; it scales the video
        assert controller is not None
        controller.start()
        self.viewers[peer_id] = Downlink(peer["role"], link, controller, [video, audio])
        link.control.on("open", lambda: link.send_control(self._station_message()))
        await self._signal_to(peer_id, await link.offer())

    def _viewer_voice(self, peer_id: str, track: MediaStreamTrack) -> None:
        viewer = self.viewers.get(peer_id)
        if viewer is not None and viewer.role in SPEAKERS:
            viewer.voice = track
            self.voice.add(track)

    async def _viewer_control(self, link: PeerLink, message: dict[str, Any]) -> None:
        viewer = self.viewers.get(link.peer_id)
        if viewer is None or viewer.role not in SPEAKERS:
            self.rejected += 1
            return
        self._to_station(message)
        if message.get("type") == "chat":
            for other in self.viewers.values():
                if other is not viewer:
                    other.link.send_control(message)

    async def _push_vitals(self) -> None:
        while True:
            await asyncio.sleep(1 / VITALS_HZ)
            for viewer in self.viewers.values():
                viewer.link.send_vitals(self.latest.values())

    # -- the station ----------------------------------------------------------------------

    async def _signal(self, sender: str, role: str, data: dict[str, Any]) -> None:
        if role == "station" and data.get("kind") == "offer" and isinstance(data.get("sdp"), str):
            await self._answer_station(sender, data["sdp"])
        elif sender in self.viewers and data.get("kind") == "renegotiate":
            viewer = self.viewers.pop(sender)  # the viewer's connection failed: offer a fresh one
            await viewer.close()
            await self._peer_joined({"id": sender, "role": viewer.role})
        elif sender in self.viewers:
            await self.viewers[sender].link.accept(data)

    async def _answer_station(self, station_id: str, sdp: str) -> None:
        await self._close_upstream()
        self._station_state(live=False)  # until the fresh connection is up
        pc = RTCPeerConnection(ice_configuration(self._ice))
        self.upstream = pc

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            (self.video if track.kind == "video" else self.audio).attach(track)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc is self.upstream and pc.connectionState in ("connected", "failed"):
                self._station_state(live=pc.connectionState == "connected")

        @pc.on("datachannel")
        def on_channel(channel: RTCDataChannel) -> None:
            if channel.label == "vitals":
                channel.on("message", self._station_vitals)
            elif channel.label == "control":
                self._station_control = channel
                channel.on("message", self._station_control_message)
            elif channel.label == FILES_LABEL:
                self.files.attach(channel)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        voice = self._fanout.subscribe(self.voice)
        self._upstream_tracks = [voice]
        pc.addTrack(voice)  # takes the offered audio transceiver: the specialists' voice goes up
        await pc.setLocalDescription(await pc.createAnswer())
        await self._signal_to(station_id, {"kind": "answer", "sdp": pc.localDescription.sdp})

    def _station_vitals(self, raw: str | bytes) -> None:
        try:
            _, readings = vitalschannel.decode(raw)
        except ValueError as exc:
            self.rejected += 1
            log.debug("relay dropped malformed vitals: %s", exc)
            return
        for reading in readings:
            self.latest[(reading.source, reading.kind)] = reading

    async def _station_still(self, offer: dict[str, Any], data: bytes) -> bool:
        """A still verified on the station's ``files`` channel: into the record, then to the viewers
        (a still of an earlier consult, offered because it was still pending, is only recorded)."""
        if not await self._archive.put(self.consult_id, offer, data):
            return False
        if offer.get("consult") == self.consult_id:
            still = self.stills.add(offer, data)
            for viewer in self.viewers.values():
                if viewer.link.files is not None:
                    viewer.link.files.offer(still)
        return True

    def _station_control_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            self.rejected += 1
            return
        if isinstance(message, dict):
            for viewer in self.viewers.values():
                viewer.link.send_control(message)

    def _station_state(self, *, live: bool) -> None:
        if live != self.station_live:
            self.station_live = live
            for viewer in self.viewers.values():
                viewer.link.send_control(self._station_message())

    def _station_message(self) -> dict[str, Any]:
        return {"type": "station", "state": "live" if self.station_live else "reconnecting"}

    def _to_station(self, message: dict[str, Any]) -> None:
        channel = self._station_control
        if channel is not None and channel.readyState == "open":
            channel.send(json.dumps(message))

    async def _close_upstream(self) -> None:
        pc, self.upstream = self.upstream, None
        for track in self._upstream_tracks:
            track.stop()
        self._upstream_tracks = []
        self._station_control = None
        if pc is not None:
            await pc.close()

    async def _signal_to(self, peer_id: str, data: dict[str, Any]) -> None:
        await self._send({"type": "signal", "consult": self.consult_id, "to": peer_id, "data": data})
