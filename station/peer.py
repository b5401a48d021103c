"""One WebRTC peer connection from the station to one consult member (specialist or observer).

With ``MediaMode.FARLINK`` (the default) each link runs its own ``AdaptiveController``: the
link's rung cuts the shared capture to its size and frame rate (``RungTrack``) and sets the
encoders; the rung's budget reserves the vitals and control channels' share. ``MediaMode.STOCK``
leaves aiortc as it ships, for comparison in benchmarks.
"""

from __future__ import annotations

import asyncio
import enum
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
from media import tuning
from media.adaptive import AdaptiveController
from media.estimator import BandwidthEstimator
from media.ladder import Ladder, Rung
from media.rungtrack import RungTrack
from station import vitalschannel
from station.filechannel import LABEL as FILES_LABEL
from station.filechannel import FileSender, StillSource

log = logging.getLogger(__name__)

SendSignal = Callable[[dict[str, Any]], Awaitable[None]]
#: a vitals message this early is on time (the callers tick at 5 Hz, a rung may ask for 2)
VITALS_SLACK_S = 0.05
#: the link status goes to the page at every rung change and at least this often
LINK_STATUS_S = 10.0
#: a link whose rung needs less is thin: on bgan-64 (``qvga6``, its parity on top) the outbox's
#: batches, 3 kbit/s with their TCP and HTTP, filled the uplink to 91 % (vitals p99 727 of 750 ms)
THIN_BPS = 64_000
#: on ``stills`` no video packet leaves from this long before the next vitals message is
#: expected until this long after: on bgan-field's 24 kbit/s uplink a still's packet is 100 ms
#: of the link, and a vitals message behind one (and audio, RTCP) came 300 ms over the one-way delay
QUIET_BEFORE_VITALS_S = 0.25
QUIET_AFTER_VITALS_S = 0.1
#: the next vitals message is expected as far from the last as that one from the one before,
#: but no further than this
VITALS_GAP_MAX_S = 2.0


class MediaMode(enum.StrEnum):
    FARLINK = "farlink"
    STOCK = "stock"


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
        stills: StillSource | None = None,
        on_audio: Callable[[MediaStreamTrack], None] | None = None,
        *,
        media: MediaMode = MediaMode.FARLINK,
        ladder: Ladder | None = None,
        estimator: BandwidthEstimator | None = None,
        on_failed: Callable[[PeerLink], None] | None = None,
        consult: str | None = None,
        recorder: bool = False,
    ) -> None:
        """``on_audio`` takes the member's incoming audio track (a relay forwards it); without
        it the audio is consumed and counted here. ``consult``: the consult whose stills this link
        may carry. ``recorder``: the member is the server's relay, which puts the stills it
        receives (of any consult) into the consult record."""
        self.peer_id = peer_id
        self.pc = RTCPeerConnection(ice_configuration(ice_servers))
        self.audio_frames_received = 0
        self._vitals_sent: dict[tuple[str, str], Reading] = {}
        self._vitals_at = 0.0  # when the next vitals message is due (monotonic)
        self._vitals_left: float | None = None  # when the last one left (monotonic)
        self._on_control = on_control
        self._on_audio = on_audio
        self._on_failed = on_failed
        self._tasks: set[asyncio.Task[None]] = set()
        self._reporting = False
        self.controller: AdaptiveController | None = None
        if media is MediaMode.FARLINK:
            self.controller = AdaptiveController(self.pc, ladder, estimator)
            if video is not None:
                video = RungTrack(video)
                self.controller.add_observer(video.follow)
        if video is not None:
            sender = self.pc.addTrack(video)
            if media is MediaMode.FARLINK:
                tuning.own_stream(sender)
        if audio is not None:
            self.pc.addTrack(audio)
        else:
            self.pc.addTransceiver("audio", direction="recvonly")
        self.vitals: RTCDataChannel = self.pc.createDataChannel("vitals", ordered=False, maxRetransmits=0)
        self.control: RTCDataChannel = self.pc.createDataChannel("control")
        self.control.on("message", self._control_message)
        self.files = (FileSender(self.pc.createDataChannel(FILES_LABEL), stills, consult=consult, recorder=recorder)
                      if stills is not None else None)
        self.control.on("open", self._send_link_status)
        self.pc.on("track", self._track)
        self.pc.on("connectionstatechange", self._connection_state)
        if self.controller is not None:
            self.controller.add_observer(self._rung_changed)

    async def offer(self) -> dict[str, str]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        description = self.pc.localDescription
        return {"sdp": description.sdp, "kind": description.type}

    async def accept(self, data: dict[str, Any]) -> None:
        if data.get("kind") == "answer" and isinstance(data.get("sdp"), str):
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="answer"))

    def send_vitals(self, latest: Iterable[Reading]) -> None:
        """Send the readings of ``latest`` this member has not had yet (once its channel is open:
        a member who joins late first gets the present value of every measure), at most at the
        rung's ``vitals_hz`` (values that changed twice in between go once, as their latest).
        Nothing is added while the last message has not left: after an outage, messages queued
        behind the association's reliable traffic came 15 s late, all stale."""
        if self.vitals.readyState != "open" or self.vitals.bufferedAmount or not self._vitals_due():
            return  # still waiting to leave (an association stalled by an outage): the newest go later
        fresh = [r for r in latest if self._vitals_sent.get((r.source, r.kind)) is not r]
        if not fresh:
            return
        for reading in fresh:
            self._vitals_sent[(reading.source, reading.kind)] = reading
        self.vitals.send(vitalschannel.encode(fresh, time.time()))
        self._keep_clear_for_vitals(time.monotonic())

    def _vitals_due(self) -> bool:
        if self.controller is None:
            return True
        now, interval = time.monotonic(), 1 / self.controller.rung.vitals_hz
        if now < self._vitals_at - VITALS_SLACK_S:
            return False
        # on time: keep the cadence; late (a rung change, a pause): restart it from now
        self._vitals_at = self._vitals_at + interval if now - self._vitals_at < interval else now + interval
        return True

    def _keep_clear_for_vitals(self, now: float) -> None:
        """On ``stills`` the video leaves the uplink free when the next vitals message is due
        (``QUIET_BEFORE_VITALS_S``): the messages come at the devices' pace, about a second apart."""
        last, self._vitals_left = self._vitals_left, now
        if self.controller is None or not self.controller.rung.stills or last is None:
            return
        expected = now + min(VITALS_GAP_MAX_S, max(1 / self.controller.rung.vitals_hz, now - last))
        for sender in self.pc.getSenders():
            if sender.kind == "video":
                tuning.quiet(sender, expected - QUIET_BEFORE_VITALS_S, expected + QUIET_AFTER_VITALS_S)

    @property
    def thin(self) -> bool:
        """The link's rung needs less than ``THIN_BPS`` (bgan-64's ``qvga6`` and below): no byte
        to spare beside it for the station's own uploads."""
        return self.controller is not None and self.controller.rung.required_bps() < THIN_BPS

    def send_control(self, message: dict[str, Any]) -> None:
        if self.control.readyState == "open":
            self.control.send(json.dumps(message))

    def settled_bps(self) -> int | None:
        """The rate this link's estimator settled at, once feedback measured it on a link that is
        still up (a failed link's low target says nothing of the next call); else None."""
        if self.controller is None or self.controller.estimator.rtt_ms is None or self.pc.connectionState != "connected":
            return None
        return self.controller.estimator.target_bps

    def resumable(self) -> bool:
        """Worth keeping when the station's signaling comes back: adapted media whose connection
        is still up (consent survives a long outage, see ``media.tuning``)."""
        return self.controller is not None and self.pc.connectionState == "connected"

    def silent_s(self) -> float | None:
        """Seconds since the far end's last RTCP feedback; None without a controller (stock)."""
        return None if self.controller is None else self.controller.silent_s()

    async def close(self) -> None:
        if self.files is not None:
            self.files.close()
        self._on_failed = None  # closing is not a failure
        for task in self._tasks:
            task.cancel()
        if self.controller is not None:
            await self.controller.stop()
        tracks = [s.track for s in self.pc.getSenders() if s.track is not None]
        await self.pc.close()
        for track in tracks:
            track.stop()  # unsubscribes from the capture relay, which would keep queueing frames

    def _connection_state(self) -> None:
        state = self.pc.connectionState
        log.info("peer %s: %s", self.peer_id, state)
        if state == "connected" and self.controller is not None:
            self.controller.start()
            if not self._reporting:
                self._reporting = True
                self._spawn(self._report_link())
        elif state == "failed" and self._on_failed is not None:
            self._on_failed(self)

    def _rung_changed(self, rung: Rung) -> None:
        self._send_link_status()

    async def _report_link(self) -> None:
        """The link status also every ``LINK_STATUS_S`` (round trip, loss and rates move
        between rung changes; ~0.3 kbit/s), while there is motion to report on (not on stills
        or vitals, where a 24 kbit/s uplink has no byte to spare) and the far end is heard (not
        into an outage: a reliable message queued there holds the vitals behind it)."""
        while True:
            await asyncio.sleep(LINK_STATUS_S)
            controller = self.controller
            if controller is not None and controller.rung.motion and controller.silent_s() < LINK_STATUS_S:
                self._send_link_status()

    def _send_link_status(self) -> None:
        """The page shows what the link carries now (rung, target, round trip)."""
        if self.controller is not None:
            self.send_control({"type": "link", **self.controller.status()})

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
