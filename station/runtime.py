"""The station at run time: devices feed the reading bus; each consult member gets a peer link."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import av
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from devices.errors import FarlinkError, LocalError
from devices.reading import Reading
from devices.source import DeviceSource, Gap, StateChange
from media import tuning
from media.stills import encode_jpeg
from station.bus import ReadingBus
from media.links import get_profile
from station.linkcheck import AUTO, LinkCheck, check_link, start_at, start_bps
from station.outbox import ItemKind, Outbox, reading_item, text_item
from station.outbox_upload import OutboxUploader
from station.peer import MediaMode, PeerLink
from station.signaling_client import SignalingClient
from station.stills import Still, StillStore
from station.upload import StillUploader

log = logging.getLogger(__name__)

VITALS_HZ = 5.0
#: an "auto" starting profile whose link check failed (server unreachable) is tried again this often
LINK_CHECK_RETRY_S = 30.0
#: a consult asked for at start waits this long at most for the first link check (which is
#: bounded by ``station.linkcheck.TIMEOUT_S``), so that its call starts at the measured rate
LINK_CHECK_WAIT_S = 40.0
#: fresh offers to one member at most this often (a failing path must not spin offers)
REOFFER_MIN_S = 5.0
#: a link kept through a signaling reconnect gets a fresh offer when its far end has still not
#: been heard this long after the rejoin (a revived link reports within ~2 s: a consent check,
#: a round trip, the far end's report interval)
REJOIN_GRACE_S = 6.0


class ConsultPhase(StrEnum):
    """The consult as the clinic staff see it."""

    NONE = "none"
    WAITING = "waiting"
    LIVE = "live"


@dataclass
class ConsultRequest:
    priority: str = "routine"
    reason: str = "Consult requested"
    again_after_s: float | None = 3.0  # ask again after a consult ends (unattended stations, the demo)


@dataclass
class StationSetup:
    server: str
    token: str
    video: MediaStreamTrack | None
    audio: MediaStreamTrack | None
    sources: list[DeviceSource] = field(default_factory=list)
    request: ConsultRequest | None = field(default_factory=ConsultRequest)
    data_dir: Path | None = None  # the outbox and stills, kept until the server has them; None: neither
    media: MediaMode = MediaMode.FARLINK
    #: a media/links.toml preset whose uplink calls start from, AUTO: the uplink the pre-call link
    #: check measures at start; None: the ladder's and estimator's own start and no check
    profile: str | None = None


class Station:
    """Runs until cancelled. ``chat_log`` keeps the consult's chat as seen by the station; with a
    data directory, ``outbox`` stores every reading, chat message and note for the server's record."""

    def __init__(self, setup: StationSetup) -> None:
        self.setup = setup
        self.bus = ReadingBus()
        self.client = SignalingClient(setup.server, setup.token, self._on_message)
        self.peers: dict[str, PeerLink] = {}
        self._consult_id: str | None = None
        self.consult_state = ConsultPhase.NONE
        self.queue_position: tuple[int, int] | None = None
        self.chat_log: list[dict[str, Any]] = []
        self._link_check: LinkCheck | None = None
        #: where the next call starts (bit/s): the preset's uplink, then what the last link check
        #: measured or the last call settled at, whichever is newer; None: nothing known
        self.start_bps: int | None = None
        if setup.profile not in (None, AUTO):
            self.start_bps = start_bps(get_profile(setup.profile).up_kbps)
        self._first_check = asyncio.Event()  # the first link check at start finished, or none runs
        if setup.profile != AUTO:
            self._first_check.set()
        self._start_request: asyncio.Task[None] | None = None
        self.stills = StillStore(setup.data_dir / "stills") if setup.data_dir is not None else None
        self.outbox = Outbox(setup.data_dir / "outbox.db") if setup.data_dir is not None else None
        self.on_chat: Callable[[dict[str, Any]], None] | None = None
        self._relay = MediaRelay()
        self._ice_servers: list[dict[str, Any]] = []
        self._name = ""
        self._offered_at: dict[str, float] = {}
        self._relays: set[str] = set()  # the peers that are the server's relay (they record stills)
        self._reoffers: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        if self.setup.media is MediaMode.FARLINK:
            tuning.apply()  # process-wide and idempotent; before any peer connection exists
        tasks: list[asyncio.Task[None]] = []
        if self.outbox is not None:  # subscribed to the bus before the first reading arrives
            tasks.append(asyncio.create_task(self._store_readings(self.outbox)))
            tasks.append(asyncio.create_task(self.outbox.run()))
            uploads = OutboxUploader(self.setup.server, self.setup.token, self.outbox,
                                     paused=lambda: any(peer.thin for peer in self.peers.values()))
            tasks.append(asyncio.create_task(uploads.run()))
        tasks += [asyncio.create_task(self._read(source)) for source in self.setup.sources]
        tasks.append(asyncio.create_task(self._push_vitals()))
        tasks.append(asyncio.create_task(self._push_device_events()))
        if self.setup.profile == AUTO:
            tasks.append(asyncio.create_task(self._check_link_at_start()))
        if self.stills is not None:
            uploader = StillUploader(self.setup.server, self.setup.token, self.stills,
                                     paused=lambda: self.consult_state is ConsultPhase.LIVE)
            tasks.append(asyncio.create_task(uploader.run()))
        try:
            await self.client.run()
        finally:
            if self._start_request is not None:
                tasks.append(self._start_request)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._close_peers()
            if self.outbox is not None:
                self.outbox.close()

    async def send_chat(self, text: str) -> None:
        message = {"type": "chat", "text": text, "from": self._name or "station", "time": time.time()}
        await self._keep(ItemKind.CHAT, message)
        self.chat_log.append(message)
        for peer in self.peers.values():
            peer.send_control(message)

    async def add_note(self, text: str) -> None:
        """A note for the record of the current consult (or the station's, when there is none)."""
        await self._keep(ItemKind.NOTE, {"text": text, "time": time.time()})

    async def _keep(self, kind: ItemKind, message: dict[str, Any]) -> None:
        """Store a chat message or note in the outbox before anyone hears of it."""
        if self.outbox is not None:
            body: dict[str, Any] = {key: message[key] for key in ("from", "text", "time") if key in message}
            await self.outbox.add([text_item(kind, self.outbox.consult, body)])

    async def request_consult(self, priority: str, reason: str) -> bool:
        """Ask for a specialist; False when the server cannot be reached right now."""
        vitals = [r.to_json() for r in self.bus.latest.values()]
        return await self.client.send(
            {"type": "request_consult", "priority": priority, "reason": reason, "vitals": vitals})

    @property
    def link_check(self) -> LinkCheck | None:
        """The last pre-call link check."""
        return self._link_check

    @link_check.setter
    def link_check(self, check: LinkCheck) -> None:
        self._link_check = check
        if self.setup.profile is not None:
            self.start_bps = start_bps(check.up_kbps)

    @property
    def consult_id(self) -> str | None:
        """The open consult (waiting or live), as far as the station knows."""
        return self._consult_id

    @consult_id.setter
    def consult_id(self, consult: str | None) -> None:
        self._consult_id = consult
        if self.outbox is not None:
            self.outbox.consult = consult  # kept across restarts: what readings belong to

    @property
    def name(self) -> str:
        """The station id the server knows it by (empty until the first welcome)."""
        return self._name

    async def take_still(self, by: str) -> Still:
        """A full-resolution still: stored first, then offered to every member of a live consult."""
        if self.stills is None:
            raise LocalError("this station has no data directory for stills", code="no_store")
        frame = await self.snapshot()
        if frame is None:
            raise LocalError("this station has no camera", code="no_camera")
        data = await asyncio.to_thread(encode_jpeg, frame)
        still = self.stills.add(data, consult=self.consult_id, by=by, width=frame.width, height=frame.height)
        log.info("still %s taken (%d bytes, %dx%d) for %s", still.id, still.size, still.width, still.height, by)
        for peer in self.peers.values():
            if peer.files is not None:
                peer.files.offer(still)
        return still

    async def snapshot(self) -> av.VideoFrame | None:
        """One current frame of the station's own camera at full resolution (self-view, stills)."""
        if self.setup.video is None:
            return None
        track = self._relay.subscribe(self.setup.video, buffered=False)
        try:
            frame = await track.recv()
        finally:
            track.stop()
        assert isinstance(frame, av.VideoFrame)
        return frame

    # -- devices ----------------------------------------------------------------------------

    async def _read(self, source: DeviceSource) -> None:
        async for event in source.events():
            self.bus.publish(event)

    async def _check_link_at_start(self) -> None:
        while self.link_check is None:
            try:
                self.link_check = await check_link(self.setup.server, self.setup.token)
                log.info("link check: %s; calls start at %d bit/s", self.link_check, self.start_bps)
            except FarlinkError as exc:
                log.warning("link check failed (%s); calls start on the default rung", exc)
                if isinstance(exc, LocalError):
                    return
            finally:
                self._first_check.set()  # a consult asked for at start waits for the first attempt only
            if self.link_check is None:
                await asyncio.sleep(LINK_CHECK_RETRY_S)

    async def _store_readings(self, outbox: Outbox) -> None:
        """Every reading on the bus into the outbox, attributed to the consult open now."""
        async for event in self.bus.subscribe():
            if isinstance(event, Reading):
                outbox.put(reading_item(event, outbox.consult))

    async def _push_vitals(self) -> None:
        """Send the latest value of each measure at VITALS_HZ: the vitals channel carries the
        present, not the history, so a congested link skips stale values instead of queueing."""
        while True:
            await asyncio.sleep(1 / VITALS_HZ)
            for peer in self.peers.values():
                peer.send_vitals(self.bus.latest.values())

    async def _push_device_events(self) -> None:
        async for event in self.bus.subscribe():
            if isinstance(event, Reading):
                continue
            if isinstance(event, StateChange):
                log.info("device %s %s%s", event.source, event.state.value, f": {event.reason}" if event.reason else "")
                message: dict[str, Any] = {"type": "device", "source": event.source, "state": event.state.value,
                                           "time": event.time, "reason": event.reason}
            elif isinstance(event, Gap):
                message = {"type": "gap", "source": event.source, "start": event.start, "end": event.end}
            for peer in self.peers.values():
                peer.send_control(message)

    # -- signaling ----------------------------------------------------------------------------

    async def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "welcome":
            self._ice_servers = message.get("ice_servers", [])
            self._name = message.get("name", "")
            if message.get("consult") is None:  # whatever was open ended while we were away
                self.consult_id, self.consult_state, self.queue_position = None, ConsultPhase.NONE, None
            if message.get("consult") is None and self.setup.request is not None:
                self._request_after_first_check(self.setup.request)
        elif kind == "consult_requested":
            self.consult_id = message["consult"]["id"]
            self.consult_state = ConsultPhase.WAITING
            log.info("consult %s requested; waiting for a specialist", self.consult_id)
        elif kind == "queue_position":
            self.queue_position = (message["position"], message["of"])
            log.info("waiting: position %s of %s", message["position"], message["of"])
        elif kind == "joined":  # back in an open consult after a reconnect
            self.consult_id = message["consult"]["id"]
            live = message["consult"]["state"] == "live"
            self.consult_state = ConsultPhase.LIVE if live else ConsultPhase.WAITING
            if live:
                self.queue_position = None
            await self._resume_peers()
        elif kind == "peer_joined" and message["peer"]["role"] != "station":
            self.consult_state = ConsultPhase.LIVE
            self.queue_position = None
        elif kind == "uplink":
            self._relays = {peer["id"] for peer in message["peers"] if peer.get("role") == "relay"}
            await self._stream_to({peer["id"] for peer in message["peers"]})
        elif kind == "signal" and message.get("from") in self.peers:
            if message["data"].get("kind") == "renegotiate":
                self._reoffer(message["from"])  # the member's side of the link failed
            else:
                await self.peers[message["from"]].accept(message["data"])
        elif kind == "consult_ended":
            log.info("consult %s ended: %s", message["consult"], message.get("reason"))
            self.consult_id = None
            self.consult_state = ConsultPhase.NONE
            self.queue_position = None
            await self._close_peers()
            request = self.setup.request
            if request is not None and request.again_after_s is not None:
                await asyncio.sleep(request.again_after_s)
                await self.request_consult(request.priority, request.reason)
        elif kind == "error":
            log.warning("server refused a message: %s %s", message.get("code"), message.get("message"))

    def _request_after_first_check(self, request: ConsultRequest) -> None:
        """Ask for the consult once the first link check has finished (or failed, or after
        ``LINK_CHECK_WAIT_S``), so that the call starts at the rate the link carries; later
        requests (a clinic pressing "request") find it finished long ago."""
        if self._start_request is not None and not self._start_request.done():
            return  # a reconnect while waiting: the pending request still goes out

        async def later() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._first_check.wait(), LINK_CHECK_WAIT_S)
            await self.request_consult(request.priority, request.reason)

        self._start_request = asyncio.ensure_future(later())

    async def _stream_to(self, peer_ids: set[str]) -> None:
        """The server names the peers the station streams to: each viewer of a one-to-one
        consult, or the server's relay (the uplink then carries one copy for every viewer)."""
        for gone in set(self.peers) - peer_ids:
            await self._close_peer(self.peers.pop(gone))
        for peer_id in peer_ids - set(self.peers):
            await self._open_peer(peer_id)

    async def _resume_peers(self) -> None:
        """Back on signaling after a reconnect (an outage took both): a peer link that is still
        up is kept, since its far end comes back with the link (Chromium's ICE, failed after
        ~20 s without answers, revives on our next consent check, which goes out every second
        while the link is out) and its media with it, at the rung it had; a fresh connection
        costs an offer, ICE and DTLS (~3 s on a 700 ms round trip) and a climb. A kept link
        whose far end stays silent gets a fresh offer after REJOIN_GRACE_S; any other link is
        closed now, and fresh ones follow the server's ``uplink``."""
        for peer_id, peer in list(self.peers.items()):
            if peer.resumable():
                self._reoffer(peer_id, unless_heard=True)
            else:
                await self._close_peer(self.peers.pop(peer_id))

    async def _open_peer(self, peer_id: str) -> None:
        replaced = self.peers.pop(peer_id, None)
        if replaced is not None:  # a re-offer: the old connection must not go on sending
            await self._close_peer(replaced)
        video = self._relay.subscribe(self.setup.video) if self.setup.video is not None else None
        audio = self._relay.subscribe(self.setup.audio) if self.setup.audio is not None else None
        ladder, estimator = start_at(self.start_bps) if self.start_bps is not None else (None, None)
        peer = PeerLink(peer_id, self._ice_servers, video, audio, self._on_control, self.stills,
                        media=self.setup.media, on_failed=lambda link: self._reoffer(link.peer_id),
                        ladder=ladder, estimator=estimator, consult=self.consult_id,
                        recorder=peer_id in self._relays)
        self.peers[peer_id] = peer
        self._offered_at[peer_id] = time.monotonic()
        offer = await peer.offer()
        await self.client.send({"type": "signal", "consult": self.consult_id, "to": peer_id, "data": offer})

    def _reoffer(self, peer_id: str, *, unless_heard: bool = False) -> None:
        """Recover a failed link with a fresh peer connection (aiortc has no ICE restart), at
        most every ``REOFFER_MIN_S`` per member; when signaling is down, the station's rejoin
        after it reconnects makes the offer instead. ``unless_heard``: only if the far end has
        not been heard from REJOIN_GRACE_S from now (a link kept through a rejoin)."""
        if peer_id in self._reoffers:
            return

        async def later() -> None:
            try:
                wait = self._offered_at.get(peer_id, 0.0) + REOFFER_MIN_S - time.monotonic()
                await asyncio.sleep(max(REJOIN_GRACE_S if unless_heard else 0.0, wait))
                peer = self.peers.get(peer_id)
                silent = peer.silent_s() if peer is not None else None
                if unless_heard and silent is not None and silent < REJOIN_GRACE_S:
                    return  # the kept link came back
                if peer is not None and self.client.connected.is_set():
                    log.info("renegotiating with %s", peer_id)
                    await self._open_peer(peer_id)
            finally:
                self._reoffers.pop(peer_id, None)

        self._reoffers[peer_id] = asyncio.ensure_future(later())

    async def _on_control(self, peer: PeerLink, message: dict[str, Any]) -> None:
        if message.get("type") == "still_request":
            try:
                await self.take_still("specialist")
            except LocalError as exc:
                peer.send_control({"type": "error", "code": exc.code, "message": exc.args[0]})
        if message.get("type") == "chat" and isinstance(message.get("text"), str):
            entry = {"type": "chat", "text": message["text"][:2000], "from": str(message.get("from", peer.peer_id)),
                     "time": time.time()}
            await self._keep(ItemKind.CHAT, entry)
            self.chat_log.append(entry)
            log.info("chat from %s: %s", entry["from"], entry["text"])
            for other in self.peers.values():
                if other is not peer:
                    other.send_control(entry)
            if self.on_chat is not None:
                self.on_chat(entry)

    async def _close_peers(self) -> None:
        for task in self._reoffers.values():
            task.cancel()
        peers, self.peers = self.peers, {}
        for peer in peers.values():
            await self._close_peer(peer)

    async def _close_peer(self, peer: PeerLink) -> None:
        """Close a peer link; the rate its call settled at is where the next call starts."""
        settled = peer.settled_bps()
        if settled is not None and self.setup.profile is not None:
            self.start_bps = settled
            log.info("the call to %s settled at %d bit/s: the next call starts there", peer.peer_id, settled)
        await peer.close()
