"""The control loop: RTCP feedback of a live ``RTCPeerConnection`` -> estimator -> ladder ->
encoders, retransmission budget and the capture track.

``AdaptiveController`` is the only piece here that reads a clock (injected, monotonic seconds).
Every ``interval_s`` it drains what ``media.tuning`` collected on each sender (receiver reports
with round trips, REMB), measures what was sent from ``RTCRtpSender.getStats()``, updates the
estimator and the ladder, paces the video to what the target leaves for it (``pacing_bps``),
pads up to the target while the estimator explores rates above the rung (``padding_bps``),
and when the rung changes: sets the VP8 and Opus settings, enables or disables the senders,
sizes the retransmission budget and tells its observers (the peer's
``media.rungtrack.RungTrack`` scales resolution and frame rate to ``rung``). ``media.tuning.apply()`` must have been called
before the peer connection was created.

On a long round trip with loss (``protect_base``) the base video layer gets parity packets
(``media.fec``, sent by ``media.tuning``): a lost base-layer packet otherwise freezes the
picture for a round trip. Where the encoder keeps enough (``encoder_bps``) the parity comes
out of the rung's video budget: the encoder then gets ``1 / (1 + parity_share(rung, loss))`` of
it, and what it sends on the wire is still the rung's. On thinner rungs and for each still the
parity comes on top, and the pacer lets it through beside the video.

Through an outage (no feedback at all for ``silence_ms``) the rung holds (see
``media.estimator``) and the senders keep sending; the first feedback after it brings a keyframe
at once: the far end cannot decode past the outage without one, and Chromium asks for it (PLI)
only after ~3 s without a decodable frame. ``silent_s`` tells how long the far end has not been
heard, for the station to judge a link it kept through a signaling reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.rtcrtpsender import RTCRtpSender

from devices.errors import LocalError
from media import fec, tuning
from media.audio import opus_settings
from media.encoders import BASE_SHARE, VideoSettings
from media.estimator import BandwidthEstimator, ReceiverReport
from media.ladder import RESERVE, RTCP_BPS, RTP_OVERHEAD_BYTES, Ladder, Rung
from media.pacer import Pacer

logger = logging.getLogger(__name__)

RungObserver = Callable[[Rung], None]
MIN_RTX_BPS = 4_000
#: on a rung without motion the next one up is tried by climbing to it: (first wait, longest
#: wait) in seconds, the wait doubling after each try that fell back within
#: ``CLIMB_PROBE_FAILED_S``. Soon from ``vitals`` (nothing but numbers is a poor consult); a
#: minute from ``stills`` (audio and stills are a working one, and each try queues seconds of
#: the next rung in front of the vitals on a link that does not carry it)
CLIMB_PROBE_S = {"vitals": (10.0, 80.0), "stills": (60.0, 480.0)}
#: ...but as soon as from ``vitals`` where the target is within this share of the next rung's
#: requirement (bgan-64 link checks read 40-57 kbit/s: one that read 40.3 started a call on
#: stills, short of qvga6's 45.7, and the call waited a minute for its video; on bgan-field
#: stills sits at ~0.4 of qvga6)
CLIMB_CLOSE = 0.75
CLIMB_PROBE_FAILED_S = 30.0
#: the longest a new frame may wait in the pacer behind earlier video; beyond it frames are
#: dropped before the encoder (a keyframe on a thin link) rather than pile up behind it
PACER_WAIT_MS = 400.0
#: video leaves at most this many times the rung's rate (Chromium paces at 2.5 times its target):
#: on a fast link a keyframe still leaves within a few frame intervals
PACE_FACTOR = 2.5
#: without motion the senders report (RTCP SR) this seldom: aiortc sends one per sender every
#: 0.5-1.5 s, and with the receiver's reports that was 2.6 kbit/s of bgan-field's 24 kbit/s
#: uplink (RFC 3550 asks for 5 % of the session); every 3 s the SRs take a third of that
THIN_REPORT_S = 3.0
#: padding reaches this far beyond what the next rung needs to climb
PAD_BEYOND = 1.05
#: a REMB for the video below this share of the video we send is the receiver seeing overuse
REMB_OVERUSE = 0.9
#: the base layer is protected by parity from this round trip and smoothed loss on...
PROTECT_RTT_MS = 400.0
PROTECT_LOSS = 0.005
#: ...until the loss falls below this (the smoothed loss swings between reports); the loss
#: looked at is the highest smoothed figure of the last ``PROTECT_WINDOW_S`` (at vsat-geo's
#: 0.5 % a few clean reports turned the protection off for seconds, and each base-layer packet lost
#: meanwhile froze the picture for a round trip)
PROTECT_OFF_LOSS = 0.001
PROTECT_WINDOW_S = 30.0
#: reports that must count the loss before it is known (until then the link is taken to lose
#: enough): at vsat-geo's 0.5 % five seconds often lose nothing, the protection went off, and
#: the next base-layer packet lost froze the picture for a round trip
PROTECT_KNOWN = 15
#: parity comes out of the rung's video rate where the encoder keeps at least this much, else on
#: top of it: at 12.5 of ``qvga6``'s 20 kbit/s libvpx dropped a frame in three (3.5 fps)
PROTECT_MIN_ENCODER_BPS = 32_000


def parity_share(rung: Rung, loss: float) -> float:
    """What parity adds to the video the encoder makes on ``rung`` at ``loss``: a parity packet
    per ``media.fec.group_for(loss)`` base-layer packets, but where base frames come further apart
    than a packet waits for others (``media.fec.HOLD_MS``) a group is one frame's packets: on
    ``qvga6`` (a one-packet base frame every 333 ms) each parity packet is a copy."""
    group = fec.group_for(loss)
    base_ms = 2000 / rung.fps  # two temporal layers: every other frame is a base frame
    if base_ms > fec.HOLD_MS:
        frame_bytes = rung.video_bps * BASE_SHARE * base_ms / 1000 / 8
        group = min(group, math.ceil(frame_bytes / rung.packet_bytes))
    return BASE_SHARE * fec.budget_share(group)


def encoder_bps(rung: Rung, loss: float, protect: bool) -> float:
    """The rate the encoder gets on ``rung``: less its parity (``protect``) where it keeps
    ``PROTECT_MIN_ENCODER_BPS``; a thinner rung and a still get theirs on top."""
    if not (protect and rung.motion):
        return rung.video_bps
    paid = rung.video_bps / (1 + parity_share(rung, loss))
    return paid if paid >= PROTECT_MIN_ENCODER_BPS else rung.video_bps


def protect_base(rung: Rung, rtt_ms: float | None, loss: float, protecting: bool) -> bool:
    """Whether to protect the base layer (or each still) with parity: video on a long round trip
    with loss, with hysteresis on the loss (``protecting``: what was decided last); who pays for
    it: ``encoder_bps``. On bgan-64's ``qvga6`` a lost base-layer packet, each a 1.3 s freeze,
    came about every 35 s; there the parity is a copy (``parity_share``), ~10 kbit/s on top.
    On bgan-field two stills in five lost a packet, and the retransmission brought each 3-5 s
    late, 13-15 s after the one before; their parity is ~1 kbit/s."""
    if not rung.has_video or rtt_ms is None or rtt_ms < PROTECT_RTT_MS:
        return False
    return loss >= (PROTECT_OFF_LOSS if protecting else PROTECT_LOSS)


def remb_bound(remb_bps: int, rung: Rung, video_sent_bps: float, unbounded: int) -> int:
    """The bound on the whole target that a REMB for the video stream of ``rung`` sets, while
    the video sent lately was ``video_sent_bps`` on the wire.

    aiortc negotiates REMB (goog-remb with abs-send-time) for video only, so a REMB is the
    receiver's estimate for the video: the rest of the rung (audio, vitals, RTCP) comes on top.
    And a receiver's estimate of an app-limited stream only follows what arrives (Chromium
    allows 1.5 times it), so a REMB at or near the video sent says nothing about the link:
    ``unbounded`` (else the ladder could never climb past the next rung). One clearly below it
    (Chromium answers overuse with 0.85 of what arrives) is the receiver seeing the video queue
    up. The comparison is with what the encoder really sent: on a simple picture it stays well
    under the rung's rate, and a REMB that follows it is no overuse.
    """
    if remb_bps >= REMB_OVERUSE * video_sent_bps:
        return unbounded
    return int(remb_bps + rung.wire_bps() - rung.video_wire_bps())


def climb_bps(ladder: Ladder) -> float | None:
    """The target at which the ladder climbs to the next rung up (with its headroom, and a little
    beyond so the target can clear it); None on the top rung or without motion (see
    ``AdaptiveController._probe_by_climbing``)."""
    index = ladder.rungs.index(ladder.rung)
    if index == 0 or not ladder.rung.motion:
        return None
    return ladder.rungs[index - 1].required_bps() * ladder.config.up_headroom * PAD_BEYOND


def padding_bps(ladder: Ladder, estimator: BandwidthEstimator, media_bps: float, now_ms: float) -> float:
    """Padding that brings what is sent (``media_bps`` on the wire, all but padding) up to the
    target, while the estimator allows a probe for the next rung up, and only as far as that
    rung needs to climb: the probe that tells whether it fits, ramping at the estimator's pace.
    None on the top rung or without motion (the padding rides the video's RTX stream)."""
    climb = climb_bps(ladder)
    if climb is None or not estimator.may_probe(climb, now_ms):
        return 0.0
    return max(0.0, min(estimator.target_bps, climb) - media_bps)


def pacing_bps(rung: Rung, target_bps: float, parity_bps: float = 0.0) -> float:
    """The rate the video of ``rung`` and its retransmissions may leave at.

    What the target leaves beside the rung's audio, vitals and RTCP, so that everything
    together stays under the target and the bottleneck queue that vitals and audio wait in stays
    short; but never below the rung's video rate and the parity on top of it (``parity_bps``),
    which the encoder produces whatever the pacer does (slower, frames would only wait and be
    dropped: bgan-64's frames waited 0.4 s), and never above ``PACE_FACTOR`` times it: the
    video needs more only for a keyframe, and a target far above the rung is no measure of the
    link (on stills the station sends so little that the estimator never meets the link: on
    bgan-field it held 42 kbit/s on a 24 kbit/s uplink, and each still went out at 23).
    """
    video = rung.video_wire_bps() + parity_bps
    spare = target_bps - (rung.wire_bps() - rung.video_wire_bps())
    return max(MIN_RTX_BPS, video, min(spare, PACE_FACTOR * video))


class AdaptiveController:
    """Adapts one peer connection's senders to what its link carries."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        ladder: Ladder | None = None,
        estimator: BandwidthEstimator | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = 0.5,
    ) -> None:
        if not tuning.applied():
            raise LocalError("call media.tuning.apply() before creating the peer connection", code="not_tuned")
        self.pc = pc
        self.ladder = ladder or Ladder()
        self.estimator = estimator or BandwidthEstimator()
        self.interval_s = interval_s
        self._clock = clock
        self._observers: list[RungObserver] = []
        #: (now_ms, then octets and packets of: all senders, the video with its protection, the
        #: padding, the parity packets)
        self._sent: deque[tuple[float, ...]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._applied: Rung | None = None
        self._loss_bucket: object = None
        self._waiting: tuple[str, float] | None = None  # (rung, since) waiting to probe by climbing
        self._probed: tuple[str, float] | None = None  # (rung, when) the last probe by climbing left
        self._probe_waits: dict[str, float] = {}  # rung -> current wait, s
        self._protecting = False
        self._parity_bps = 0.0
        self._parity_on_top_bps = 0.0  # what the rung's protection adds to its video rate
        self._group = fec.GROUP  # packets per parity packet, as last applied
        self._losses: deque[tuple[float, float]] = deque()  # (now_ms, smoothed loss) as polled
        self._loss_counts = 0  # polls whose reports counted the loss
        self._padding_bps = 0.0
        self._heard_ms = self._now_ms()  # the far end's last feedback (or our start)
        self._outage = False  # no feedback for longer than the estimator's silence_ms
        self._media_ms = self._heard_ms  # when the senders last started sending after a rung without media

    @property
    def rung(self) -> Rung:
        return self.ladder.rung

    def add_observer(self, observer: RungObserver) -> None:
        """``observer(rung)`` is called on every rung change (and once with the current rung)."""
        self._observers.append(observer)
        observer(self.rung)

    def silent_s(self) -> float:
        """Seconds since the far end's last feedback of any kind (since the start, before any)."""
        return (self._now_ms() - self._heard_ms) / 1000

    def start(self) -> None:
        self._heard_ms = self._now_ms()
        self._apply(self.rung)
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        for sender in self._senders():
            if sender.kind == "video":
                tuning.pad(sender, 0.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def force(self, name: str) -> Rung:
        """An override from the specialist (e.g. "stills"); the ladder climbs back on its own."""
        rung = self.ladder.force(name, self._now_ms())
        self._apply(rung)
        return rung

    def status(self) -> dict[str, Any]:
        """The view the station sends to the specialist page on the control channel."""
        rung = self.rung
        rtt = self.estimator.rtt_ms
        return {
            "target_kbps": round(self.estimator.target_bps / 1000, 1),
            "pace_kbps": round(self._pacing_bps(rung) / 1000, 1),
            "padding_kbps": round(self._padding_bps / 1000, 1),
            "parity": self._protecting,
            "parity_kbps": round(self._parity_bps / 1000, 1),
            "rung": rung.name,
            "width": rung.width,
            "height": rung.height,
            "fps": rung.fps,
            "video_kbps": rung.video_bps / 1000,
            "audio_kbps": rung.audio_bps / 1000,
            "rtt_ms": None if rtt is None else round(rtt),
            "loss": round(self.estimator.loss, 3),
            "queue_ms": round(self.estimator.queue_ms),
            "trend": self.estimator.trend.value,
        }

    async def poll(self) -> Rung:
        """One control step (the loop calls this every ``interval_s``)."""
        now_ms = self._now_ms()
        offset_ms = now_ms - time.monotonic() * 1000  # tuning stamps feedback on time.monotonic
        sent_bps, video_bps, padded_bps, self._parity_bps = await self._sent_bps(now_ms)
        before = self.estimator.target_bps
        reports: list[ReceiverReport] = []
        rembs: list[int] = []
        heard = False
        for sender in self._senders():
            feedback = tuning.state(sender).take_feedback()
            heard = heard or bool(feedback.reports or feedback.rembs or feedback.nacked)
            if sender.kind == "video":
                for arrival, bps in feedback.rembs:
                    bound = remb_bound(bps, self.rung, video_bps, self.estimator.config.max_bps)
                    self.estimator.on_remb(bound, arrival + offset_ms)
                    rembs.append(bps)
            if sender is self._reporting_sender():
                reports += [report for _, report in feedback.reports]
        self._note_silence(heard, now_ms)
        if reports:
            timed = [r for r in reports if r.rtt_ms is not None and r.probe_ms is not None]
            latest = max(timed, key=lambda r: r.probe_ms or 0.0, default=None)
            losses = [r.fraction_lost for r in reports if r.fraction_lost is not None]
            self._loss_counts += bool(losses)
            combined = ReceiverReport(
                max(losses) if losses else None,
                latest.rtt_ms if latest else None,
                latest.probe_ms + offset_ms if latest and latest.probe_ms is not None else None,
            )
            self.estimator.on_report(combined, sent_bps, now_ms, padding_bps=padded_bps)
        if self.estimator.target_bps < 0.95 * before:
            logger.info("target down to %d bit/s: sent %d, %s, REMB %s", self.estimator.target_bps, sent_bps,
                        self.status(), rembs)
        # Before the first round trip nothing has measured the link: the estimator's start is a
        # guess, not headroom (on a 24 kbit/s link it took a station to VGA before any report).
        rung = self.ladder.update(self.estimator.target_bps, now_ms, self.estimator.rtt_ms,
                                  climb=self.estimator.rtt_ms is not None)
        rung = self._probe_by_climbing(rung, now_ms)
        self._losses.append((now_ms, self.estimator.loss))
        while self._losses[0][0] < now_ms - PROTECT_WINDOW_S * 1000:
            self._losses.popleft()
        if rung != self._applied or self._loss_changed() or self._protection_changed():
            self._apply(rung)
        else:
            self._pace(rung)
        self._pad(sent_bps - padded_bps)
        return rung

    def _probe_by_climbing(self, rung: Rung, now_ms: float) -> Rung:
        """On a rung without motion padding cannot find the next one up: on ``vitals`` no receiver
        report can show the link's capacity returning (the vitals go over SCTP, which aiortc does
        not measure), and from ``stills`` the next rung is three times the rate, seconds of queue
        in front of the vitals before a probe could end. After a wait (``CLIMB_PROBE_S``, twice as
        long after each try that fell back within ``CLIMB_PROBE_FAILED_S``), try the next rung up
        as a probe; its reports decide whether it stays."""
        if rung.motion:
            self._waiting = None
            return rung
        index = self.ladder.rungs.index(rung)
        if self._waiting is None or self._waiting[0] != rung.name:
            first, longest = CLIMB_PROBE_S[rung.name]
            if index > 0 and self.estimator.target_bps >= CLIMB_CLOSE * self.ladder.rungs[index - 1].required_bps():
                first = min(first, CLIMB_PROBE_S["vitals"][0])
            failed = self._probed is not None and self._probed[0] == rung.name and (
                now_ms - self._probed[1] < CLIMB_PROBE_FAILED_S * 1000)
            wait = min(longest, 2 * self._probe_waits.get(rung.name, first)) if failed else first
            self._probe_waits[rung.name] = wait
            self._waiting = (rung.name, now_ms)
        waited_s = (now_ms - self._waiting[1]) / 1000
        if index == 0 or waited_s < self._probe_waits[rung.name]:
            return rung
        up = self.ladder.rungs[index - 1]
        logger.info("%.0f s on %s: probing %s", waited_s, rung.name, up.name)
        self.estimator.probe(up.required_bps() * self.ladder.config.up_headroom, now_ms)
        self._probed = (rung.name, now_ms)
        self._waiting = None
        return self.ladder.force(up.name, now_ms)

    def _note_silence(self, heard: bool, now_ms: float) -> None:
        """Note an outage when it starts; when the far end is heard again, send a keyframe. The
        silence counts from when there was media to report on: on ``vitals`` nothing reports, and
        the first poll on ``stills`` after ten seconds there had taken the quiet for an outage."""
        silent_ms = now_ms - max(self._heard_ms, self._media_ms)
        if heard:
            if self._outage:
                logger.info("feedback back after %.1f s: rung %s (target %d bit/s), keyframe", silent_ms / 1000,
                            self.rung.name, self.estimator.target_bps)
                for sender in self._senders():
                    if sender.kind == "video":
                        tuning.request_keyframe(sender)
            self._heard_ms, self._outage = now_ms, False
        elif silent_ms > self.estimator.config.silence_ms and not self._outage and (
                self.rung.has_audio or self.rung.has_video):  # on `vitals` nothing reports
            logger.info("no feedback for %.1f s: an outage, holding rung %s (target %d bit/s)", silent_ms / 1000,
                        self.rung.name, self.estimator.target_bps)
            self._outage = True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.poll()
            except Exception:  # keep adapting: one bad poll must not freeze the rung
                logger.exception("adaptive control step failed")

    def _apply(self, rung: Rung) -> None:
        changed = rung != self._applied
        if self._applied is None or not (self._applied.has_audio or self._applied.has_video):
            self._media_ms = self._now_ms()
        self._applied = rung
        audio = opus_settings(rung, self.estimator.loss)
        self._loss_bucket = audio.expected_loss if audio else None
        protect = self._protecting = self._protect(rung)
        loss = self._recent_loss()
        self._group = fec.group_for(loss)
        encoded = encoder_bps(rung, loss, protect)
        self._parity_on_top_bps = rung.video_bps * parity_share(rung, loss) if protect and encoded == rung.video_bps else 0.0
        for sender in self._senders():
            state = tuning.state(sender)
            state.report_every_s = 0.0 if rung.motion else THIN_REPORT_S
            if sender.kind == "video":
                sender._enabled = rung.has_video
                if rung.has_video:
                    state.parity_group.group = self._group
                    packet_bytes = min(rung.packet_bytes, fec.MAX_PAYLOAD) if state.fec_types else rung.packet_bytes
                    tuning.set_video(sender, VideoSettings(round(encoded), stills=rung.stills, packet_bytes=packet_bytes))
                if protect != state.protect_base:
                    logger.info("base layer protected by parity: %s", protect)
                state.protect_base = protect
                state.retransmit.set_rate(max(MIN_RTX_BPS, RESERVE * rung.video_wire_bps()))
            elif sender.kind == "audio":
                sender._enabled = audio is not None
                if audio is not None:
                    state.audio = audio
        self._pace(rung)
        if changed:
            refused = sum(p.refused for p in self._pacers())
            logger.info("rung %s (target %d bit/s, video paced at %d bit/s; %d frames refused by the pacer so far)",
                        rung.name, self.estimator.target_bps, self._pacing_bps(rung), refused)
            for observer in self._observers:
                observer(rung)

    def _pace(self, rung: Rung) -> None:
        limit_ms = (1000 / rung.fps if rung.has_video else 0.0) + PACER_WAIT_MS
        for sender in self._senders():
            if sender.kind == "video":
                tuning.pace(sender, self._pacing_bps(rung), limit_ms)

    def _pacing_bps(self, rung: Rung) -> float:
        return pacing_bps(rung, self.estimator.target_bps, self._parity_on_top_bps)

    def _pad(self, media_bps: float) -> None:
        padding = padding_bps(self.ladder, self.estimator, media_bps, self._now_ms())
        if bool(padding) != bool(self._padding_bps):
            logger.info("padding %s: %d bit/s (target %d bit/s, rung %s)", "on" if padding else "off", padding,
                        self.estimator.target_bps, self.rung.name)
        self._padding_bps = padding
        for sender in self._senders():
            if sender.kind == "video":
                tuning.pad(sender, padding)

    def _pacers(self) -> list[Pacer]:
        return [p for s in self._senders() if (p := tuning.state(s).pacer) is not None]

    def _protection_changed(self) -> bool:
        """Protection on or off, or its parity groups resized by the loss."""
        if self._protect(self.rung) != self._protecting:
            return True
        return self._protecting and fec.group_for(self._recent_loss()) != self._group

    def _protect(self, rung: Rung) -> bool:
        """``protect_base``, where the far end negotiated parity (RED and ULPFEC)."""
        video = [tuning.state(s) for s in self._senders() if s.kind == "video"]
        return bool(video and video[0].fec_types) and protect_base(
            rung, self.estimator.rtt_ms, self._recent_loss(), self._protecting)

    def _recent_loss(self) -> float:
        """The highest smoothed loss of the last ``PROTECT_WINDOW_S``; until ``PROTECT_KNOWN``
        reports have counted the loss, the link is taken to lose enough for the protection (the
        smoothed figure takes a few reports to rise: certus froze twice in its first 15 s)."""
        recent = max((loss for _, loss in self._losses), default=self.estimator.loss)
        return recent if self._loss_counts >= PROTECT_KNOWN else max(recent, PROTECT_LOSS)

    def _loss_changed(self) -> bool:
        audio = opus_settings(self.rung, self.estimator.loss)
        return (audio.expected_loss if audio else None) != self._loss_bucket

    def _senders(self) -> list[RTCRtpSender]:
        return [s for s in self.pc.getSenders() if s.kind in ("audio", "video")]

    def _reporting_sender(self) -> RTCRtpSender | None:
        """Video reports carry the most packets; audio's when video is off or only stills."""
        by_kind = {s.kind: s for s in self._senders()}
        rung = self.rung
        if "video" in by_kind and rung.motion:
            return by_kind["video"]
        return by_kind.get("audio") or by_kind.get("video")

    async def _sent_bps(self, now_ms: float) -> tuple[float, float, float, float]:
        """What went out lately on the wire: everything, vitals, RTCP and padding included (the
        ladder's budget), the video alone (with its protection), the padding alone, and the
        parity packets alone."""
        counts = [0] * 8  # octets and packets: all, video (with its protection), padding, parity
        for sender in self._senders():
            for stats in (await sender.getStats()).values():
                if stats.type == "outbound-rtp":
                    counts[0] += stats.bytesSent
                    counts[1] += stats.packetsSent
                    if sender.kind == "video":  # with its parity packets
                        state = tuning.state(sender)
                        counts[2], counts[3] = stats.bytesSent, stats.packetsSent
                        counts[4], counts[5] = state.padding_bytes, state.padding_packets
                        counts[6], counts[7] = state.parity_bytes, state.parity_packets  # in bytesSent
                        counts[0] += state.padding_bytes
                        counts[1] += state.padding_packets
        self._sent.append((now_ms, *counts))
        while len(self._sent) > 2 and self._sent[1][0] <= now_ms - 1500:
            self._sent.popleft()
        then, *before = self._sent[0]
        if now_ms - then < 200:
            return self.rung.wire_bps() + self._padding_bps, self.rung.video_wire_bps(), self._padding_bps, 0.0

        def wire(i: int) -> float:
            octets, packets = counts[i] - before[i], counts[i + 1] - before[i + 1]
            return (octets + packets * RTP_OVERHEAD_BYTES) * 8 * 1000 / (now_ms - then)

        return wire(0) + self.rung.vitals_bps() + RTCP_BPS, wire(2), wire(4), wire(6)

    def _now_ms(self) -> float:
        return self._clock() * 1000

