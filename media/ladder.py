"""The degradation ladder: a target bitrate picks a rung (resolution, frame rate, video and audio
bitrates, audio packet time); hysteresis keeps it from flapping.

Every rung's cost is counted on the wire: Opus payload plus IP/UDP/RTP/SRTP headers per packet at
its packet time (16 kbit/s in 60 ms packets is ~23 kbit/s), the VP8 payload plus headers per
packet, the vitals data channel with its SCTP acknowledgements, RTCP, and a reserve for
retransmissions. A rung fits a target when its wire cost plus a retransmission reserve on the video is below it.

Going down is immediate (a congested link only gets worse while we wait); going up needs the
target to clear the upper rung with headroom for a sustained time, longer on long round trips,
and a settling time after every switch. A session starts where it is told (a station starts it
on the best fit of what its link check measured, ``station.linkcheck.start_at``), or at
``qvga10`` (~100 kbit/s) when nothing is known: cheap enough to step down from quickly on a thin
link, high enough to climb to VGA in seconds on a LAN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from devices.errors import LocalError

#: IPv4 20 + UDP 8 + RTP 12 + SRTP tag 10 + header extensions (mid, audio level / abs-send-time)
RTP_OVERHEAD_BYTES = 58
#: VP8 payload packets are split at this size (aiortc's PACKET_MAX)...
VIDEO_PACKET_BYTES = 1300
#: ...or smaller on thin rungs: a packet holds the link no longer than this at the rung's media
#: rate (on a 24 kbit/s uplink a 1300-byte packet of a still is 430 ms that a vitals message
#: behind it waits), but not below the smallest size. Not much smaller either: loss takes
#: packets, not bytes, and a lost base-layer packet freezes the picture for a round trip; at
#: 0.1 s a qvga6 base frame (~500 bytes) went in two packets, twice the freezes on bgan-64
PACKET_TIME_S = 0.15
MIN_PACKET_BYTES = 250
#: one vitals message a second as small JSON over SCTP/DTLS (measured: 4-6 kbit/s on the wire at
#: 5 Hz), with the SCTP acknowledgements coming back
VITALS_BPS_PER_HZ = 1_200
#: RTCP sender/receiver reports, NACKs and REMB, both ways
RTCP_BPS = 2_000
#: share on top of the video kept free for its retransmissions (audio is never retransmitted)
RESERVE = 0.08


@dataclass(frozen=True)
class Rung:
    """One step of the ladder.

    ``fps`` 0 means no video; below 1 it is a still picture every ``1/fps`` seconds (each still
    a keyframe, so a lost one costs nothing later). ``audio_bps`` 0 means no audio.
    ``vitals_hz``: how often the vitals channel sends the latest readings; the thinnest rungs
    send them less often (a monitor's numbers change about once a second; every reading still
    reaches the record through the station's outbox), which on a 24 kbit/s uplink is the
    difference between audio with stills and no audio at all, and on bgan-64 (``qvga6``) room
    for the parity that keeps its picture from freezing.
    """

    name: str
    width: int
    height: int
    fps: float
    video_bps: int
    audio_bps: int
    ptime_ms: int
    vitals_hz: float = 5.0

    @property
    def has_video(self) -> bool:
        return self.fps > 0 and self.video_bps > 0

    @property
    def stills(self) -> bool:
        """True when video is a still every few seconds rather than motion."""
        return self.has_video and self.fps < 1

    @property
    def motion(self) -> bool:
        """Moving video: not stills, not vitals only (a link that carries it has bytes to spare)."""
        return self.has_video and not self.stills

    @property
    def has_audio(self) -> bool:
        return self.audio_bps > 0

    def audio_wire_bps(self) -> float:
        if not self.has_audio:
            return 0.0
        return self.audio_bps + RTP_OVERHEAD_BYTES * 8 * 1000 / self.ptime_ms

    @property
    def packet_bytes(self) -> int:
        """The largest VP8 RTP payload on this rung (see ``PACKET_TIME_S``)."""
        media_bps = self.video_bps + self.audio_bps + self.vitals_bps()
        return int(min(VIDEO_PACKET_BYTES, max(MIN_PACKET_BYTES, media_bps * PACKET_TIME_S / 8)))

    def video_wire_bps(self) -> float:
        if not self.has_video:
            return 0.0
        frame_bytes = self.video_bps / 8 / self.fps
        packets_per_frame = max(1, math.ceil(frame_bytes / self.packet_bytes))
        return self.video_bps + self.fps * packets_per_frame * (RTP_OVERHEAD_BYTES + 4) * 8

    def vitals_bps(self) -> float:
        return self.vitals_hz * VITALS_BPS_PER_HZ

    def wire_bps(self) -> float:
        """Everything this rung puts on the link, vitals and RTCP included."""
        return self.audio_wire_bps() + self.video_wire_bps() + self.vitals_bps() + RTCP_BPS

    def required_bps(self) -> float:
        """The smallest target at which this rung fits, the retransmission reserve included."""
        return self.wire_bps() + RESERVE * self.video_wire_bps()


#: Best first. Designed against media/links.toml: vsat-geo (1000 up) holds vga27, bgan-256 vga12
#: with 18 kbit/s audio, bgan-64 qvga6 with 9 kbit/s audio, bgan-field (24 up) stills. Frame and
#: audio rates sit a little above the targets they serve (25 fps on vsat-geo, 10 fps and
#: 16 kbit/s on bgan-256, 5 fps and 8 kbit/s on bgan-64): what arrives is what is sent less the
#: link's loss and the frames a lost packet spoils. The thin rungs
#: use 120 ms audio packets (a third of the header cost of 60 ms; on a 900 ms round trip the
#: extra packetisation delay does not matter).
RUNGS: tuple[Rung, ...] = (
    Rung("hd30", 1280, 720, 30, 1_800_000, 32_000, 20),
    Rung("vga30", 640, 480, 30, 900_000, 32_000, 20),
    Rung("vga27", 640, 480, 27, 600_000, 24_000, 20),
    Rung("vga15", 640, 480, 15, 300_000, 24_000, 20),
    Rung("vga12", 640, 480, 12, 130_000, 18_000, 60),
    Rung("qvga10", 320, 240, 10, 64_000, 12_000, 60),
    Rung("qvga8", 320, 240, 8, 36_000, 10_000, 60),
    Rung("qvga6", 320, 240, 6, 20_000, 9_000, 120, vitals_hz=2.0),
    Rung("stills", 320, 240, 0.1, 2_000, 6_000, 120, vitals_hz=2.0),
    Rung("vitals", 0, 0, 0, 0, 0, 120, vitals_hz=2.0),
)


@dataclass(frozen=True)
class LadderConfig:
    #: an up-switch needs the target above the upper rung's requirement by this factor...
    up_headroom: float = 1.12
    #: ...continuously for this long, or this many round trips, whichever is longer
    up_hold_ms: float = 3_000.0
    up_hold_rtts: float = 4.0
    #: after any switch no up-switch for this long, or 1 s plus this many round trips (the new
    #: rung's cost needs a round trip and a report interval to show in the feedback)
    settle_ms: float = 3_000.0
    settle_rtts: float = 3.0
    #: a rung is kept while the target stays above this share of its requirement: the estimator
    #: backs off a little below the capacity it measured, which must not cost a rung
    down_margin: float = 0.92
    #: after a failed climb the ladder holds the rung it came back to unless the target falls
    #: below this share of its requirement (the link collapsed rather than refused the probe)
    collapse: float = 0.5


class Ladder:
    """Picks the rung for a target bitrate, with hysteresis. Pure: time is an argument."""

    def __init__(
        self,
        rungs: tuple[Rung, ...] = RUNGS,
        *,
        top: str = "vga30",
        start: str | None = None,
        config: LadderConfig | None = None,
    ) -> None:
        names = [r.name for r in rungs]
        if top not in names or (start is not None and start not in names):
            raise LocalError(f"unknown rung {top!r}/{start!r}; known: {names}", code="unknown_rung")
        self.rungs = rungs[names.index(top):]
        self.config = config or LadderConfig()
        self._index = self.rungs.index(self.by_name(start or "qvga10"))
        self._headroom_since_ms: float | None = None
        self._switched_ms: float | None = None
        self._climbed: tuple[int, float] | None = None  # (the rung left, when) on the last climb
        self._held_until_ms = float("-inf")

    def by_name(self, name: str) -> Rung:
        for rung in self.rungs:
            if rung.name == name:
                return rung
        raise LocalError(f"unknown rung {name!r}", code="unknown_rung")

    @property
    def rung(self) -> Rung:
        return self.rungs[self._index]

    def best_fit(self, target_bps: float) -> Rung:
        """The best rung that fits ``target_bps`` with no hysteresis (the last rung always fits)."""
        return self.rungs[self._fit_index(target_bps)]

    def update(self, target_bps: float, now_ms: float, rtt_ms: float | None = None, *, climb: bool = True) -> Rung:
        """Feed the current target; returns the rung to use now. ``climb`` False: down only
        (the target is still a guess, nothing measured it yet)."""
        cfg = self.config
        rtt = rtt_ms or 0.0
        settle = max(cfg.settle_ms, 1000 + cfg.settle_rtts * rtt)
        held = now_ms < self._held_until_ms and target_bps >= cfg.collapse * self.rung.required_bps()
        if target_bps < self.rung.required_bps() * cfg.down_margin and not held:
            # down: at once, straight to the rung that fits
            # (a ladder cut short above "vitals", like the relay's, stays on its last rung)
            down = min(len(self.rungs) - 1, max(self._index + 1, self._fit_index(target_bps / cfg.down_margin)))
            if self._climbed is not None and now_ms - self._climbed[1] < 2 * settle:
                # A climb that failed at once was a probe: back to the rung it left, which held
                # before, and stay there while the queue the probe left drains (the estimator reads
                # that queue as far less capacity than the link has), unless the target collapses.
                down = min(down, self._climbed[0])
                self._held_until_ms = now_ms + 2 * settle
            self._climbed = None
            self._switch(down, now_ms)
            return self.rung
        fit = self._fit_index(target_bps / cfg.up_headroom)
        settling = self._switched_ms is not None and now_ms - self._switched_ms < settle
        if fit >= self._index or settling or not climb:
            self._headroom_since_ms = None
            return self.rung
        if self._headroom_since_ms is None:
            self._headroom_since_ms = now_ms
        if now_ms - self._headroom_since_ms >= max(cfg.up_hold_ms, cfg.up_hold_rtts * rtt):
            self._climbed = (self._index, now_ms)
            self._switch(fit, now_ms)  # up: to the best rung the sustained headroom allows
        return self.rung

    def force(self, name: str, now_ms: float) -> Rung:
        """An operator's override (e.g. the specialist asks for stills); hysteresis restarts."""
        self._climbed, self._held_until_ms = None, float("-inf")
        self._switch(self.rungs.index(self.by_name(name)), now_ms)
        return self.rung

    def _fit_index(self, target_bps: float) -> int:
        for index, rung in enumerate(self.rungs):
            if rung.required_bps() <= target_bps:
                return index
        return len(self.rungs) - 1

    def _switch(self, index: int, now_ms: float) -> None:
        self._index = index
        self._switched_ms = now_ms
        self._headroom_since_ms = None
