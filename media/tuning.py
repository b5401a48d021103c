"""The one place where Farlink changes aiortc and aioice behaviour. Nothing happens at import:
call ``apply()`` (idempotent; ``restore()`` undoes it, for tests).

What it changes, and where:

* ``aiortc.rtcrtpsender.get_encoder``: VP8 and Opus come from ``media.encoders`` (VP8 from
  2 kbit/s instead of 250, rate changed only by the controller, never by REMB; Opus mono at
  6-32 kbit/s, chosen packet time, in-band FEC). ``RTCRtpSender._next_encoded_frame`` hands each
  encoder its sender's current settings (``state(sender).video`` / ``.audio``).
* ``RTCRtpSender._handle_rtcp_packet``: receiver reports, with a round trip measured against
  every sender report we sent (aiortc only matches the latest one, which never matches once the
  RTT exceeds the ~1 s report interval) and the loss counted over at least
  ``LOSS_MIN_PACKETS`` from the cumulative counts (not the block's fraction, which covers
  only the time since the receiver's last RTCP packet), and REMB are queued for the controller
  (``state(sender).take_feedback()``); NACKs are answered within ``RetransmitPolicy`` (a bits/s
  budget, nothing that would arrive too late, nothing twice within a round trip); a NACK for
  video no longer in the history (sent into an outage) is answered with a keyframe, at most one
  per ~1.5 round trips: Chromium waits for the packet through ten NACKs, ~4 s on a 700 ms round
  trip, before it asks for one itself (PLI), frozen meanwhile.
* ``RTCDtlsTransport._send_rtp``: the RTP and RTX packets of a sender the controller paces
  (``pace(sender, ...)``) join its ``media.pacer.Pacer`` and leave from a task at the pacer's
  rate, retransmissions first, their abs-send-time stamped when they really leave (Chromium's
  REMB reads a spread between stamp and arrival as a queue); everything else (audio, RTCP) goes
  at once, and the data channels never pass here. ``_next_encoded_frame`` drops a paced
  sender's frame before the encoder while the pacer holds more than its limit, so a frame
  never queues behind seconds of video (see ``pace``).
* ``RTCRtpSender._run_rtp`` (aiortc's sending loop, redone): while ``state(sender).protect_base``
  is set and the far end negotiated RED and ULPFEC (Chromium does, and our receivers below),
  video goes out inside RED and the base-layer (TL0) packets get ULPFEC parity packets in the
  same sequence space (``media.fec``), sent behind their frame: on a long round trip with
  random loss a lost TL0 packet is rebuilt at once instead of a round trip later by a NACK. A
  NACK for a parity packet is not answered (nothing waits for it; it is in no history). The
  controller pays for the parity out of the rung's video budget (``media.adaptive``).
* ``pad(sender, bps)``: padding-only packets on the sender's RTX stream at ``bps`` while its
  pacer holds no video, the way Chromium probes (the far end drops them on arrival). It lets the
  controller measure the link above the rung it sends (``media.estimator``, ``exploring``).
* ``RTCRtpReceiver`` (video): the jitter buffer becomes ``media.jitter.DeadlineJitterBuffer``
  and NACKs are paced by ``media.retransmit.NackScheduler``; video inside RED is unwrapped and
  a lost packet is rebuilt from parity (``media.fec.Recovery``, not counted as received: our
  reports keep the link's loss); ``RTCDtlsTransport._handle_rtp_data`` keeps each packet's bytes
  on it for that (parity covers the bytes as they came, header extensions included).
* ``aiortc.codecs.CODECS``: the Opus we offer and answer carries ``OPUS_RECEIVE_PARAMETERS``
  (what the far end may send us: at most 16 kbit/s, with in-band FEC), and video offers and
  answers RED and ULPFEC (``media.fec.RED``, ``ULPFEC``).
* ``aiortc.codecs.HEADER_EXTENSIONS`` and ``RTCRtpSender.send``: video offers and answers the
  playout-delay header extension (``PLAYOUT_DELAY_URI``), and once it is negotiated every video
  RTP and RTX packet we send carries ``PLAYOUT_DELAY_MS`` (``PlayoutDelayExtensionsMap``).
  Chromium's jitter estimator adds the round trip to its playout delay once it has sent a few
  NACKs (libwebrtc ``JitterEstimator``: ``nack_count >= kNackLimit`` -> ``rtt * multiplier``),
  so on a satellite link every frame waited ~0.9 s for retransmissions most frames never need.
  A minimum of 0 and a maximum <= 500 ms switch Chromium to its low-latency renderer: each
  frame is shown as soon as it is decoded, and a frame that waits for a retransmission shows
  as a short freeze instead of delaying every frame by a round trip. Lip sync would raise
  the minimum and undo this: see ``own_stream``.
* ``RTCRtpSender._stream_id``: ``own_stream`` puts a sender's track in a media stream of its
  own (the SDP's msid), so Chromium does not play it in sync with the audio (see there).
* ``aioice.ice.Connection.query_consent``: answers count for up to ~7 s (retransmitted
  requests), and consent expires only after ``consent_timeout_s`` with no answer at all, so a
  2 s round trip or a 90 s outage does not close the session; while no request is answered one
  goes out every ``consent_probe_s``, which brings a far end's failed ICE back within about a
  second of the link (Chromium's: see ``_query_consent``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aioice import ice, stun
from aiortc import clock, rtcrtpsender
from aiortc.codecs import CODECS, HEADER_EXTENSIONS, is_rtx
from aiortc.codecs.base import Encoder
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
    RTCRtpSendParameters,
)
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_RTPFB_NACK,
    RTP_HISTORY_SIZE,
    AnyRtcpPacket,
    HeaderExtensions,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    is_rtcp,
    pack_header_extensions,
    unpack_header_extensions,
    unpack_remb_fci,
)
from aiortc.utils import random32, uint16_add, uint32_add

from media import fec
from media.encoders import (
    AudioSettings,
    TunedOpusEncoder,
    TunedVp8Encoder,
    VideoSettings,
    layer_of,
)
from media.estimator import ReceiverReport
from media.jitter import DeadlineJitterBuffer
from media.pacer import Pacer
from media.retransmit import NackScheduler, RetransmitPolicy

logger = logging.getLogger(__name__)

#: what our SDP asks of the far end's Opus: in-band FEC, and at most 16 kbit/s. Chromium sends
#: 32 kbit/s in 20 ms packets otherwise, ~50 kbit/s on the wire: on a 48 kbit/s BGAN downlink
#: that alone fills the queue our receiver reports come back through.
OPUS_RECEIVE_PARAMETERS = {"maxaveragebitrate": 16_000, "useinbandfec": 1}
#: https://webrtc.googlesource.com/src/+/refs/heads/main/docs/native-code/rtp-hdrext/playout-delay/
PLAYOUT_DELAY_URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
#: (min, max) playout delay the far end's video may use, ms. Min 0 and max <= 500 ms is
#: Chromium's low-latency renderer (render as soon as decoded); 200 ms caps the delay its
#: smoothing may add where the renderer is not used, well below the 350 ms over the one-way
#: delay the benchmark allows.
PLAYOUT_DELAY_MS = (0, 200)
#: receiver reports are counted for loss once they cover this many packets (see SenderState._loss)
LOSS_MIN_PACKETS = 20
#: a paced sender's queue is looked at this often while it waits (a new rate takes effect then)
PACER_TICK_S = 0.05
#: IPv4 + UDP + SRTP tag, added to an RTP packet's size when charging the retransmission budget
_WIRE_OVERHEAD_BYTES = 38
#: padding bytes in each padding-only packet: the most RTP's one-byte padding count allows
PADDING_BYTES = 255
#: a padding packet on the wire: the padding, the RTP header and the overhead above
PADDING_WIRE_BYTES = PADDING_BYTES + 12 + _WIRE_OVERHEAD_BYTES


@dataclass(frozen=True)
class TuningConfig:
    consent_interval_s: float = 5.0
    #: retransmissions of each consent request (RTO 0.5 s doubling: 3 -> answers count for 7.5 s)
    consent_retransmissions: int = 3
    #: consent expires only after this long without any answer (outages of 90 s must survive)
    consent_timeout_s: float = 120.0
    #: while the link is out (a request went unanswered), a request goes out this often
    consent_probe_s: float = 1.0
    #: None keeps aiortc's jitter buffer
    jitter_deadline_ms: float | None = 800.0
    nack_retry_ms: float = 1_000.0
    nack_max_requests: int = 3
    #: retransmission budget until a controller sets one
    rtx_rate_bps: float = 64_000.0
    #: how long beyond a round trip a receiver still waits for a retransmission
    rtx_deadline_ms: float = 1_000.0


@dataclass
class Feedback:
    """What a sender heard since the controller last asked; times on ``time.monotonic()`` ms."""

    reports: list[tuple[float, ReceiverReport]] = field(default_factory=list)  # (arrival, report)
    rembs: list[tuple[float, int]] = field(default_factory=list)  # (arrival, bps)
    nacked: int = 0


class SenderState:
    """Farlink's per-sender settings and feedback, attached to an ``RTCRtpSender``."""

    def __init__(self, config: TuningConfig) -> None:
        self.video = VideoSettings()
        self.audio = AudioSettings()
        self.retransmit = RetransmitPolicy(config.rtx_rate_bps, config.rtx_deadline_ms)
        self.feedback = Feedback()
        self.rtt_ms: float | None = None
        #: set by ``pace``; None: the sender's packets leave as aiortc sends them
        self.pacer: Pacer | None = None
        #: the sender's own header extensions map, set by ``pace``: the pacer rewrites packets
        #: with it (the transport's map knows nothing of the playout delay and would drop it)
        self.rtp_extensions: HeaderExtensionsMap | None = None
        self._pacing: asyncio.Task[None] | None = None
        #: protect the base layer with parity packets (see _run_rtp), where ``fec_types`` allow
        self.protect_base = False
        #: (RED, ULPFEC) payload types once both are negotiated
        self.fec_types: tuple[int, int] | None = None
        #: RTP payload bytes and packets of the parity packets sent, and their recent sequence
        #: numbers (a NACK for one is not answered: it is in no history, and no frame waits on it)
        self.parity_bytes = 0
        self.parity_packets = 0
        self.parity_seqs: deque[int] = deque(maxlen=RTP_HISTORY_SIZE)
        self.parity_group = fec.Grouper()  # base-layer packets waiting for their parity
        #: padding rate set by ``pad``, and the RTP padding bytes and packets it sent
        self.padding_bps = 0.0
        self.padding_bytes = 0
        self.padding_packets = 0
        self._padding: asyncio.Task[None] | None = None
        self._sr_sent: dict[int, float] = {}  # LSR (middle 32 bits of the NTP time) -> monotonic s
        #: the sender's reports (SR) go at most this often; 0: as aiortc sends them, every 0.5-1.5 s
        self.report_every_s = 0.0
        self._reported_at: float | None = None  # monotonic s of the last SR sent
        self._loss_base: tuple[int, int] | None = None  # (highest sequence, cumulative lost) last counted
        self.keyframes_for_loss = 0
        self._keyframe_ms: float | None = None

    def take_feedback(self) -> Feedback:
        feedback, self.feedback = self.feedback, Feedback()
        return feedback

    def keyframe_for_loss(self, now_ms: float) -> bool:
        """Whether a loss we cannot resend gets a keyframe now: not again within ~1.5 round
        trips of the last one (the receiver keeps asking for the lost packets until the keyframe
        reaches it)."""
        if self._keyframe_ms is not None and now_ms - self._keyframe_ms < max(1000.0, 1.5 * (self.rtt_ms or 0.0)):
            return False
        self._keyframe_ms = now_ms
        self.keyframes_for_loss += 1
        return True

    def note_sender_report(self, packet: RtcpSrPacket, now_s: float) -> None:
        self._sr_sent[(packet.sender_info.ntp_timestamp >> 16) & 0xFFFFFFFF] = now_s
        if len(self._sr_sent) > 64:
            del self._sr_sent[next(iter(self._sr_sent))]

    def report(self, block: RtcpReceiverInfo, now_s: float) -> ReceiverReport:
        loss = self._loss(block)
        sent = self._sr_sent.get(block.lsr) if block.lsr else None
        if sent is None:
            return ReceiverReport(loss)
        rtt_ms = max(0.0, (now_s - sent - block.dlsr / 65536) * 1000)
        self.rtt_ms = rtt_ms
        self.retransmit.rtt_ms = rtt_ms
        return ReceiverReport(loss, rtt_ms, sent * 1000)

    def send_paced(self, transport: RTCDtlsTransport, data: bytes, retransmission: bool) -> None:
        """Queue one RTP packet of this sender on its pacer; a task sends the queue."""
        assert self.pacer is not None  # only ``pace`` registers a sender for this
        self.pacer.push(data, retransmission=retransmission)
        if self._pacing is None or self._pacing.done():
            self._pacing = asyncio.ensure_future(self._send_queue(transport, self.pacer))

    async def _send_queue(self, transport: RTCDtlsTransport, pacer: Pacer) -> None:
        """Send what the pacer holds, each packet when it is due; ends when the queue is empty
        (or the transport closed: what was queued is dropped)."""
        extensions = self.rtp_extensions
        assert extensions is not None  # set by ``pace`` with the pacer
        while True:
            now_ms = time.monotonic() * 1000
            due_ms = pacer.due_ms(now_ms)
            if due_ms is None:
                return
            if due_ms > now_ms:
                await asyncio.sleep(min(PACER_TICK_S, (due_ms - now_ms) / 1000))
                continue
            packet = RtpPacket.parse(pacer.pop(now_ms), extensions)
            if packet.extensions.abs_send_time is not None:
                packet.extensions.abs_send_time = (clock.current_ntp_time() >> 14) & 0x00FFFFFF
            try:
                await _originals["dtls_send_rtp"](transport, packet.serialize(extensions))
            except ConnectionError:
                pacer.clear()
            except ValueError:  # SRTP refused it (too long): that packet is lost, not the queue
                logger.warning("RTP packet of %d bytes not sent", len(packet.serialize(extensions)))

    def _loss(self, block: RtcpReceiverInfo) -> float | None:
        """The share lost since the last counted report, from the cumulative counts, once at
        least LOSS_MIN_PACKETS were expected; None until then.

        The block's own fraction covers the time since the receiver's previous RTCP packet, and
        Chromium sends one with every NACK (aiortc negotiates no rtcp-rsize, so each carries a
        report): one lost packet in three read as 33 %, and two such reports as congestion.
        """
        base = self._loss_base
        if base is None or block.highest_sequence < base[0]:  # the first report, or a new stream
            self._loss_base = (block.highest_sequence, block.packets_lost)
            return None
        expected = block.highest_sequence - base[0]
        if expected < LOSS_MIN_PACKETS:
            return None
        self._loss_base = (block.highest_sequence, block.packets_lost)
        return min(1.0, max(0.0, (block.packets_lost - base[1]) / expected))


class PlayoutDelayExtensionsMap(HeaderExtensionsMap):
    """aiortc's header extensions of a video sender, plus the playout delay once negotiated
    (aiortc's map only knows a fixed list of extensions)."""

    def __init__(self) -> None:
        super().__init__()
        self.playout_delay_id: int | None = None

    def configure(self, parameters: RTCRtpParameters) -> None:
        super().configure(parameters)
        for extension in parameters.headerExtensions:
            if extension.uri == PLAYOUT_DELAY_URI:
                self.playout_delay_id = extension.id

    def set(self, values: HeaderExtensions) -> tuple[int, bytes]:
        profile, data = super().set(values)
        if self.playout_delay_id is None:
            return profile, data
        extensions = unpack_header_extensions(profile, data) if data else []
        return pack_header_extensions([*extensions, (self.playout_delay_id, playout_delay_value(*PLAYOUT_DELAY_MS))])


def playout_delay_value(min_ms: int, max_ms: int) -> bytes:
    """The extension's 3 bytes: min and max, 12 bits each, in 10 ms units."""
    return ((min_ms // 10) << 12 | (max_ms // 10)).to_bytes(3, "big")


_STATE_ATTR = "_farlink_state"
_PACED_ATTR = "_farlink_paced"  # on an RTCDtlsTransport: {ssrc: (SenderState, is RTX)} of paced senders
_RAW_ATTR = "_farlink_raw"  # on a received RtpPacket: its bytes as they came
_RECOVERY_ATTR = "_farlink_recovery"  # on an RTCRtpReceiver: its media.fec.Recovery
_config = TuningConfig()
_originals: dict[str, Any] = {}


def state(sender: RTCRtpSender) -> SenderState:
    """The sender's Farlink state (created on first use)."""
    existing = sender.__dict__.get(_STATE_ATTR)
    if isinstance(existing, SenderState):
        return existing
    created = SenderState(_config)
    sender.__dict__[_STATE_ATTR] = created
    return created


def applied() -> bool:
    return bool(_originals)


def apply(config: TuningConfig | None = None) -> None:
    """Install the changes (again: only the configuration is replaced)."""
    global _config
    _config = config or TuningConfig()
    if _originals:
        return
    _originals.update(
        get_encoder=rtcrtpsender.get_encoder,
        next_encoded_frame=RTCRtpSender._next_encoded_frame,
        sender_rtcp=RTCRtpSender._handle_rtcp_packet,
        sender_send_rtcp=RTCRtpSender._send_rtcp,
        sender_send=RTCRtpSender.send,
        receiver_init=RTCRtpReceiver.__init__,
        receiver_rtp=RTCRtpReceiver._handle_rtp_packet,
        query_consent=ice.Connection.query_consent,
        dtls_send_rtp=RTCDtlsTransport._send_rtp,
        run_rtp=RTCRtpSender._run_rtp,
        dtls_handle_rtp=RTCDtlsTransport._handle_rtp_data,
    )
    rtcrtpsender.get_encoder = _get_encoder  # type: ignore[assignment]
    RTCRtpSender._next_encoded_frame = _next_encoded_frame  # type: ignore[method-assign]
    RTCRtpSender._handle_rtcp_packet = _sender_handle_rtcp  # type: ignore[method-assign]
    RTCRtpSender._send_rtcp = _sender_send_rtcp  # type: ignore[method-assign]
    RTCRtpSender.send = _sender_send  # type: ignore[method-assign]
    RTCRtpReceiver.__init__ = _receiver_init  # type: ignore[method-assign]
    RTCRtpReceiver._handle_rtp_packet = _receiver_handle_rtp  # type: ignore[method-assign]
    ice.Connection.query_consent = _query_consent  # type: ignore[method-assign]
    RTCDtlsTransport._send_rtp = _dtls_send_rtp  # type: ignore[method-assign]
    RTCDtlsTransport._handle_rtp_data = _dtls_handle_rtp  # type: ignore[method-assign]
    RTCRtpSender._run_rtp = _run_rtp  # type: ignore[method-assign]
    CODECS["video"].extend([fec.RED, fec.ULPFEC])
    opus = next(i for i, c in enumerate(CODECS["audio"]) if c.mimeType.lower() == "audio/opus")
    _originals["opus_codec"] = (opus, CODECS["audio"][opus])
    CODECS["audio"][opus] = dataclasses.replace(CODECS["audio"][opus], parameters=dict(OPUS_RECEIVE_PARAMETERS))
    # an id no other extension uses in any media section (BUNDLE shares the ids)
    free_id = 1 + max(e.id for extensions in HEADER_EXTENSIONS.values() for e in extensions)
    HEADER_EXTENSIONS["video"].append(RTCRtpHeaderExtensionParameters(id=free_id, uri=PLAYOUT_DELAY_URI))


def restore() -> None:
    """Put aiortc and aioice back as they were."""
    if not _originals:
        return
    rtcrtpsender.get_encoder = _originals["get_encoder"]
    RTCRtpSender._next_encoded_frame = _originals["next_encoded_frame"]  # type: ignore[method-assign]
    RTCRtpSender._handle_rtcp_packet = _originals["sender_rtcp"]  # type: ignore[method-assign]
    RTCRtpSender._send_rtcp = _originals["sender_send_rtcp"]  # type: ignore[method-assign]
    RTCRtpSender.send = _originals["sender_send"]  # type: ignore[method-assign]
    RTCRtpReceiver.__init__ = _originals["receiver_init"]  # type: ignore[method-assign]
    RTCRtpReceiver._handle_rtp_packet = _originals["receiver_rtp"]  # type: ignore[method-assign]
    ice.Connection.query_consent = _originals["query_consent"]  # type: ignore[method-assign]
    RTCDtlsTransport._send_rtp = _originals["dtls_send_rtp"]  # type: ignore[method-assign]
    RTCDtlsTransport._handle_rtp_data = _originals["dtls_handle_rtp"]  # type: ignore[method-assign]
    RTCRtpSender._run_rtp = _originals["run_rtp"]  # type: ignore[method-assign]
    CODECS["video"][:] = [c for c in CODECS["video"] if c not in (fec.RED, fec.ULPFEC)]
    opus, codec = _originals["opus_codec"]
    CODECS["audio"][opus] = codec
    HEADER_EXTENSIONS["video"][:] = [e for e in HEADER_EXTENSIONS["video"] if e.uri != PLAYOUT_DELAY_URI]
    _originals.clear()


def encoder_of(sender: RTCRtpSender) -> Encoder | None:
    """The sender's live encoder, None before its first frame."""
    encoder = getattr(sender, "_RTCRtpSender__encoder", None)
    return encoder if isinstance(encoder, Encoder) else None


# --- sender -------------------------------------------------------------------------------


def _get_encoder(codec: RTCRtpCodecParameters) -> Encoder:
    mime = codec.mimeType.lower()
    if mime == "video/vp8":
        return TunedVp8Encoder()
    if mime == "audio/opus":
        return TunedOpusEncoder()
    encoder: Encoder = _originals["get_encoder"](codec)
    return encoder


async def _next_encoded_frame(self: RTCRtpSender, codec: RTCRtpCodecParameters) -> Any:
    encoder = encoder_of(self)
    if encoder is None:
        encoder = _get_encoder(codec)
        self._RTCRtpSender__encoder = encoder  # type: ignore[attr-defined]
    settings = state(self)
    pacer = settings.pacer
    if pacer is not None and not pacer.admit(time.monotonic() * 1000):
        await self.track.recv()  # taken from the source (or it would pile up there), not encoded
        return None
    if isinstance(encoder, TunedVp8Encoder):
        encoder.settings = settings.video
    elif isinstance(encoder, TunedOpusEncoder):
        encoder.settings = settings.audio
    return await _originals["next_encoded_frame"](self, codec)


def set_video(sender: RTCRtpSender, settings: VideoSettings) -> None:
    """``sender``'s video settings from its next encoded frame on, a frame it already waits for
    included: ``_next_encoded_frame`` hands the encoder the settings before that wait, and the
    still that came with the rung change from ``vitals`` was encoded for no rung (aiortc's
    packets, two of 1190 bytes: each held a 24 kbit/s uplink, and the vitals behind it, 400 ms)."""
    state(sender).video = settings
    encoder = encoder_of(sender)
    if isinstance(encoder, TunedVp8Encoder):
        encoder.settings = settings


def pace(sender: RTCRtpSender, rate_bps: float, limit_ms: float) -> None:
    """From now on ``sender``'s RTP and RTX packets leave at ``rate_bps`` at most (the adaptive
    controller calls this at every step), and a frame is dropped before the encoder while the
    queue holds more than ``limit_ms``.

    That check is made when the sender asks for the next frame, right after it queued the last
    one and up to a frame interval before the next arrives: a limit of one frame interval plus
    the longest wait worth it lets every frame through that the rung's rate can carry.
    """
    tuned = state(sender)
    now_ms = time.monotonic() * 1000
    if tuned.pacer is None:
        tuned.pacer = Pacer(rate_bps, limit_ms=limit_ms)
    tuned.pacer.set_rate(rate_bps, now_ms)
    tuned.pacer.limit_ms = limit_ms
    tuned.rtp_extensions = extensions_of(sender)
    # The transport routes by SSRC: registered at every call, since negotiation may bundle the
    # sender onto another transport.
    paced: dict[int, tuple[SenderState, bool]] = sender.transport.__dict__.setdefault(_PACED_ATTR, {})
    paced[sender._ssrc] = (tuned, False)
    paced[sender._rtx_ssrc] = (tuned, True)


def quiet(sender: RTCRtpSender, from_s: float, until_s: float) -> None:
    """``sender``'s paced packets do not leave between these ``time.monotonic()`` seconds (see
    ``Pacer.quiet``); nothing where it is not paced."""
    pacer = state(sender).pacer
    if pacer is not None:
        pacer.quiet(from_s * 1000, until_s * 1000)


def pad(sender: RTCRtpSender, rate_bps: float) -> None:
    """From now on ``sender`` adds ``rate_bps`` of padding (0 stops it) on its RTX stream; none
    where RTX was not negotiated."""
    tuned = state(sender)
    tuned.padding_bps = max(0.0, rate_bps)
    if tuned.padding_bps and (tuned._padding is None or tuned._padding.done()):
        tuned._padding = asyncio.ensure_future(_send_padding(sender, tuned))


async def _send_padding(sender: RTCRtpSender, tuned: SenderState) -> None:
    """Padding-only RTX packets at ``tuned.padding_bps``, each tick what the ticks since the last
    allow, while the pacer holds no video (padding must not delay it); ends when the rate is 0."""
    bits = PADDING_WIRE_BYTES * 8
    credit, last = 0.0, time.monotonic()
    while tuned.padding_bps > 0:
        await asyncio.sleep(PACER_TICK_S)
        now = time.monotonic()
        credit = min(credit + tuned.padding_bps * (now - last), max(bits, 2 * PACER_TICK_S * tuned.padding_bps))
        last = now
        payload_type = getattr(sender, "_RTCRtpSender__rtx_payload_type")
        transport = sender.transport
        if payload_type is None or transport.state != "connected" or (tuned.pacer is not None and len(tuned.pacer)):
            continue
        while credit >= bits:
            credit -= bits
            sequence = getattr(sender, "_RTCRtpSender__rtx_sequence_number")
            setattr(sender, "_RTCRtpSender__rtx_sequence_number", (sequence + 1) & 0xFFFF)
            packet = RtpPacket(payload_type=payload_type, sequence_number=sequence,
                               timestamp=getattr(sender, "_RTCRtpSender__rtp_timestamp"), ssrc=sender._rtx_ssrc)
            packet.padding_size = PADDING_BYTES
            try:
                await _originals["dtls_send_rtp"](transport, packet.serialize())
            except ConnectionError:
                return
            tuned.padding_bytes += PADDING_BYTES
            tuned.padding_packets += 1


async def _dtls_send_rtp(self: RTCDtlsTransport, data: bytes) -> None:
    paced: dict[int, tuple[SenderState, bool]] = self.__dict__.get(_PACED_ATTR, {})
    if paced and self.state == "connected" and len(data) >= 12 and not is_rtcp(data):
        stream = paced.get(int.from_bytes(data[8:12], "big"))
        if stream is not None:
            tuned, rtx = stream
            tuned.send_paced(self, data, retransmission=rtx)
            return
    await _originals["dtls_send_rtp"](self, data)


async def _sender_send(self: RTCRtpSender, parameters: RTCRtpSendParameters) -> None:
    # before the first call configures the map from the negotiated extensions
    if self.kind == "video" and not isinstance(extensions_of(self), PlayoutDelayExtensionsMap):
        self._RTCRtpSender__rtp_header_extensions_map = PlayoutDelayExtensionsMap()  # type: ignore[attr-defined]
    mimes = {c.mimeType.lower(): c.payloadType for c in parameters.codecs}
    red, ulpfec = mimes.get(fec.RED.mimeType), mimes.get(fec.ULPFEC.mimeType)
    state(self).fec_types = (red, ulpfec) if red is not None and ulpfec is not None else None
    # the media codec first, whatever order the answer gave: aiortc encodes with the first
    parameters.codecs.sort(key=lambda c: c.payloadType in (red, ulpfec))
    await _originals["sender_send"](self, parameters)


async def _run_rtp(self: RTCRtpSender, codec: RTCRtpCodecParameters) -> None:
    """aiortc's sending loop (``RTCRtpSender._run_rtp``, aiortc 1.16), and while the base layer
    is protected with RED and ULPFEC negotiated: each media packet goes out inside RED, and the
    base-layer packets get parity packets (``media.fec.Grouper``), sent behind a frame in the
    same sequence space. The history keeps the plain packets: a retransmission is plain VP8 on RTX."""
    getattr(self, "_RTCRtpSender__rtp_started").set()
    tuned = state(self)
    payload_type = codec.payloadType
    assert payload_type is not None  # negotiated codecs have one
    sequence_number = rtcrtpsender.random_sequence_number()
    timestamp_origin = random32()
    try:
        while True:
            if not getattr(self, "_RTCRtpSender__track"):
                await asyncio.sleep(0.02)
                continue
            enc_frame = await self._next_encoded_frame(codec)
            if enc_frame is None:
                continue
            timestamp = uint32_add(timestamp_origin, enc_frame.timestamp)
            history: dict[int, RtpPacket] = getattr(self, "_RTCRtpSender__rtp_history")
            extensions = extensions_of(self)
            types = tuned.fec_types if tuned.protect_base else None
            mutable = mutable_ids(extensions)
            protect = (types is not None and layer_of(enc_frame.payloads[0]) in (0, None)
                       and max(map(len, enc_frame.payloads)) <= fec.MAX_PAYLOAD)  # else SRTP refuses the parity
            plain: list[bytes] = []
            for i, payload in enumerate(enc_frame.payloads):
                packet = RtpPacket(payload_type=payload_type, sequence_number=sequence_number, timestamp=timestamp)
                packet.ssrc = self._ssrc
                packet.payload = payload
                packet.marker = 1 if i == len(enc_frame.payloads) - 1 else 0
                packet.extensions.abs_send_time = (clock.current_ntp_time() >> 14) & 0x00FFFFFF
                packet.extensions.mid = getattr(self, "_RTCRtpSender__mid")
                if enc_frame.audio_level is not None:
                    packet.extensions.audio_level = (False, -enc_frame.audio_level)
                history[packet.sequence_number % RTP_HISTORY_SIZE] = packet
                data = packet.serialize(extensions)
                if types is not None:
                    if protect:
                        plain.append(fec.zero_mutable(data, mutable))
                    data = _wrapped(packet, types[0], fec.red(payload_type, payload), extensions)
                await self.transport._send_rtp(data)
                _count_sent(self, packet.timestamp, len(payload) + (1 if types is not None else 0))
                sequence_number = uint16_add(sequence_number, 1)
            if types is None:
                tuned.parity_group.drop()
                continue
            for parity in tuned.parity_group.add(plain, time.monotonic() * 1000):
                packet = RtpPacket(payload_type=types[0], sequence_number=sequence_number, timestamp=timestamp)
                packet.ssrc = self._ssrc
                packet.extensions.abs_send_time = (clock.current_ntp_time() >> 14) & 0x00FFFFFF
                packet.extensions.mid = getattr(self, "_RTCRtpSender__mid")
                packet.payload = fec.red(types[1], parity)
                tuned.parity_seqs.append(sequence_number)
                tuned.parity_bytes += len(packet.payload)
                tuned.parity_packets += 1
                await self.transport._send_rtp(packet.serialize(extensions))
                _count_sent(self, packet.timestamp, len(packet.payload))
                sequence_number = uint16_add(sequence_number, 1)
    except (asyncio.CancelledError, ConnectionError, MediaStreamError):
        pass
    except Exception:
        # aiortc's stop() waits for the loop's end: it must be reached whatever went wrong
        logger.exception("RTP sender failed")
    track = getattr(self, "_RTCRtpSender__track")
    if track:
        track.stop()
        self._RTCRtpSender__track = None  # type: ignore[attr-defined]
    self._RTCRtpSender__encoder = None  # type: ignore[attr-defined]
    getattr(self, "_RTCRtpSender__rtp_exited").set()


def mutable_ids(extensions: HeaderExtensionsMap) -> tuple[int, ...]:
    """The ids of the header extensions that change on the way (see ``media.fec.zero_mutable``)."""
    ids: HeaderExtensions = getattr(extensions, "_HeaderExtensionsMap__ids")
    found = (ids.abs_send_time, ids.transmission_offset, ids.transport_sequence_number)
    return tuple(i for i in found if i is not None)


def _wrapped(packet: RtpPacket, payload_type: int, payload: bytes, extensions: HeaderExtensionsMap) -> bytes:
    """``packet`` serialized with another payload type and payload (its header otherwise)."""
    red = RtpPacket(payload_type=payload_type, marker=packet.marker, sequence_number=packet.sequence_number,
                    timestamp=packet.timestamp, ssrc=packet.ssrc, payload=payload)
    red.extensions = packet.extensions
    return red.serialize(extensions)


def _count_sent(sender: RTCRtpSender, timestamp: int, octets: int) -> None:
    """What aiortc notes of each packet sent, for its sender reports and stats."""
    sender._RTCRtpSender__ntp_timestamp = clock.current_ntp_time()  # type: ignore[attr-defined]
    sender._RTCRtpSender__rtp_timestamp = timestamp  # type: ignore[attr-defined]
    sender._RTCRtpSender__octet_count += octets  # type: ignore[attr-defined]
    sender._RTCRtpSender__packet_count += 1  # type: ignore[attr-defined]


def own_stream(sender: RTCRtpSender) -> None:
    """Announce ``sender``'s track in a media stream of its own (call before the offer).

    aiortc puts all tracks of a peer connection in one stream, and Chromium plays the tracks of
    one stream in sync: it held the video back to the audio's jitter buffer (100-800 ms on BGAN
    after a loss burst), and the minimum playout delay that sync sets switches its low-latency
    renderer off whatever the playout-delay extension says. Without it the video is shown as
    soon as it is decoded and the audio may lag it by its jitter buffer.
    """
    sender._stream_id = str(uuid.uuid4())


def extensions_of(sender: RTCRtpSender) -> HeaderExtensionsMap:
    """The map the sender writes its RTP header extensions with."""
    extensions: HeaderExtensionsMap = getattr(sender, "_RTCRtpSender__rtp_header_extensions_map")
    return extensions


async def _sender_send_rtcp(self: RTCRtpSender, packets: list[AnyRtcpPacket]) -> None:
    """Sends the sender's RTCP, but a sender report only ``report_every_s`` (its round trip is
    measured from the SR it was sent)."""
    tuned, now_s = state(self), time.monotonic()
    if any(isinstance(packet, RtcpSrPacket) for packet in packets):
        if tuned._reported_at is not None and now_s - tuned._reported_at < tuned.report_every_s:
            return
        tuned._reported_at = now_s
    for packet in packets:
        if isinstance(packet, RtcpSrPacket):
            tuned.note_sender_report(packet, now_s)
    await _originals["sender_send_rtcp"](self, packets)


async def _sender_handle_rtcp(self: RTCRtpSender, packet: AnyRtcpPacket) -> None:
    tuned = state(self)
    now_s = time.monotonic()
    if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
        for block in packet.reports:
            if block.ssrc == self._ssrc:
                report = tuned.report(block, now_s)
                tuned.feedback.reports.append((now_s * 1000, report))
    elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
        tuned.feedback.nacked += len(packet.lost)
        await _retransmit_within_budget(self, tuned, packet.lost, now_s * 1000)
        return
    elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
        try:
            bitrate, ssrcs = unpack_remb_fci(packet.fci)
        except ValueError:
            return
        if self._ssrc in ssrcs:
            tuned.feedback.rembs.append((now_s * 1000, bitrate))
        return  # REMB informs the estimator; it never drives the encoder directly
    await _originals["sender_rtcp"](self, packet)


async def _retransmit_within_budget(sender: RTCRtpSender, tuned: SenderState, lost: list[int], now_ms: float) -> None:
    history: dict[int, RtpPacket] = getattr(sender, "_RTCRtpSender__rtp_history")
    newest_ts: int = getattr(sender, "_RTCRtpSender__rtp_timestamp")
    clock_rate = 90 if sender.kind == "video" else 48  # RTP ticks per millisecond
    gone = False
    for seq in lost:
        if seq in tuned.parity_seqs:
            continue  # a parity packet: nothing waits for it, and it is in no history
        packet = history.get(seq % RTP_HISTORY_SIZE)
        if packet is None or packet.sequence_number != seq:
            gone = True
            continue
        age_ms = ((newest_ts - packet.timestamp) & 0xFFFFFFFF) / clock_rate
        size = len(packet.payload) + 12 + _WIRE_OVERHEAD_BYTES
        if tuned.retransmit.allow(seq, age_ms, size, now_ms):
            await sender._retransmit(seq)
    if gone and sender.kind == "video" and tuned.keyframe_for_loss(now_ms):
        request_keyframe(sender)


def request_keyframe(sender: RTCRtpSender) -> None:
    """The sender's next frame is a keyframe (what aiortc does when a PLI arrives)."""
    sender._RTCRtpSender__force_keyframe = True  # type: ignore[attr-defined]


# --- receiver -----------------------------------------------------------------------------


class PacedNackGenerator:
    """aiortc's ``NackGenerator`` contract (``add`` says whether to send, ``missing`` what)
    over a ``NackScheduler``: each loss is asked for once, then again only after a while."""

    def __init__(self, scheduler: NackScheduler, clock: Callable[[], float] = time.monotonic) -> None:
        self.scheduler = scheduler
        self._clock = clock
        self._due: list[int] = []

    @property
    def missing(self) -> list[int]:
        return self._due

    def add(self, packet: RtpPacket) -> bool:
        now_ms = self._clock() * 1000
        self.scheduler.on_packet(packet.sequence_number, now_ms)
        self._due = self.scheduler.due(now_ms)
        return bool(self._due)


def _receiver_init(self: RTCRtpReceiver, kind: str, transport: Any) -> None:
    _originals["receiver_init"](self, kind, transport)
    if kind != "video":
        return
    if _config.jitter_deadline_ms is not None:
        self._RTCRtpReceiver__jitter_buffer = DeadlineJitterBuffer(_config.jitter_deadline_ms)  # type: ignore[attr-defined]
    self._RTCRtpReceiver__nack_generator = PacedNackGenerator(  # type: ignore[attr-defined]
        NackScheduler(_config.nack_retry_ms, _config.nack_max_requests)
    )


async def _dtls_handle_rtp(self: RTCDtlsTransport, data: bytes, arrival_time_ms: int) -> None:
    """aiortc's, keeping each packet's bytes on it (a parity packet covers the bytes as they
    came, header extensions included, which a parsed packet does not serialize back to)."""
    try:
        packet = RtpPacket.parse(data, self._rtp_header_extensions_map)
    except ValueError:
        return
    packet.__dict__[_RAW_ATTR] = data
    receiver = self._rtp_router.route_rtp(packet)
    if receiver is not None:
        await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)


async def _receiver_handle_rtp(self: RTCRtpReceiver, packet: RtpPacket, arrival_time_ms: int) -> None:
    codecs: dict[int, RTCRtpCodecParameters] = getattr(self, "_RTCRtpReceiver__codecs")
    codec = codecs.get(packet.payload_type)
    if codec is None or codec.mimeType.lower() != fec.RED.mimeType:
        await _receive(self, packet, arrival_time_ms)
        return
    block = fec.unred(packet.payload)
    if block is None:
        return
    block_type, payload = block
    recovery: fec.Recovery = self.__dict__.setdefault(_RECOVERY_ATTR, fec.Recovery())
    block_codec = codecs.get(block_type)
    if block_codec is not None and block_codec.mimeType.lower() == fec.ULPFEC.mimeType:
        # counted as received and not asked for again, as Chromium does; it holds no video
        streams = getattr(self, "_RTCRtpReceiver__remote_streams")
        if packet.ssrc in streams:
            streams[packet.ssrc].add(packet)
        nacks = getattr(self, "_RTCRtpReceiver__nack_generator")
        if nacks is not None:
            nacks.add(packet)
        rebuilt = recovery.parity(packet.ssrc, payload)
    else:
        raw: bytes = packet.__dict__.get(_RAW_ATTR, b"")
        header = len(raw) - len(packet.payload) - packet.padding_size
        packet.payload_type, packet.payload = block_type, payload
        await _receive(self, packet, arrival_time_ms)
        plain = raw[:1] + bytes([raw[1] & 0x80 | block_type]) + raw[2:header] + raw[header + 1:]
        ids = mutable_ids(self.transport._rtp_header_extensions_map)
        rebuilt = recovery.media(fec.zero_mutable(plain, ids)) if raw else []
    for data in rebuilt:
        recovered = RtpPacket.parse(data, self.transport._rtp_header_extensions_map)
        await _receive(self, recovered, arrival_time_ms)
        # not from the network: the loss our reports count stays the link's (as Chromium's)
        stats = getattr(self, "_RTCRtpReceiver__remote_streams").get(recovered.ssrc)
        if stats is not None:
            stats.packets_received -= 1


async def _receive(self: RTCRtpReceiver, packet: RtpPacket, arrival_time_ms: int) -> None:
    """aiortc's handling of one media packet, then the frames our jitter buffer completed."""
    await _originals["receiver_rtp"](self, packet, arrival_time_ms)
    # DeadlineJitterBuffer may complete several frames at once (a retransmission filling a
    # hole); aiortc takes one per packet, so the rest go to the decoder here.
    buffer = getattr(self, "_RTCRtpReceiver__jitter_buffer")
    if not isinstance(buffer, DeadlineJitterBuffer) or not buffer.ready:
        return
    codecs: dict[int, RTCRtpCodecParameters] = getattr(self, "_RTCRtpReceiver__codecs")
    codec = codecs.get(packet.payload_type)
    if codec is not None and is_rtx(codec):
        codec = codecs.get(int(codec.parameters.get("apt", -1)))
    if codec is None or getattr(self, "_RTCRtpReceiver__decoder_thread") is None:
        return
    mapper = getattr(self, "_RTCRtpReceiver__timestamp_mapper")
    queue = getattr(self, "_RTCRtpReceiver__decoder_queue")
    while buffer.ready:
        frame = buffer.ready.pop(0)
        frame.timestamp = mapper.map(frame.timestamp)
        queue.put((codec, frame))


# --- ICE consent --------------------------------------------------------------------------


async def _query_consent(self: ice.Connection) -> None:
    """RFC 7675 consent freshness, tolerant of long round trips and long outages.

    A request goes out every ``consent_interval_s``, retransmitted, and an answer to any of them
    counts. Once a request went unanswered and none has answered since, the link is out, and a
    request goes out every ``consent_probe_s``: the far end learns that the link is back from the
    first one that reaches it (Chromium's ICE, failed after ~20 s of an outage, comes back when a
    check from us arrives, and the session with it), rather than at the next regular check up to
    ~12 s later. Consent expires after ``consent_timeout_s`` without any answer.
    """
    assert self.remote_password is not None
    loop = asyncio.get_running_loop()
    last_answer = loop.time()
    out = False
    asking: set[asyncio.Task[None]] = set()

    async def ask(pair: ice.CandidatePair) -> None:
        nonlocal last_answer, out
        assert self.remote_password is not None
        sent = loop.time()
        try:
            await pair.protocol.request(
                self.build_request(pair, nominate=False),
                pair.remote_addr,
                integrity_key=self.remote_password.encode("utf8"),
                retransmissions=_config.consent_retransmissions,
            )
            last_answer, out = loop.time(), False
        except stun.TransactionError:
            out = last_answer < sent  # nothing answered since this request left

    try:
        while True:
            interval = _config.consent_probe_s if out else _config.consent_interval_s * (0.8 + 0.4 * random.random())
            await asyncio.sleep(interval)
            for pair in list(self._nominated.values()):
                task = asyncio.ensure_future(ask(pair))
                asking.add(task)
                task.add_done_callback(asking.discard)
            if loop.time() - last_answer > _config.consent_timeout_s:
                logger.info("ICE consent expired after %.0f s without an answer", loop.time() - last_answer)
                self._query_consent_task = None
                await self.close()
                return
    finally:
        for task in asking:
            task.cancel()
