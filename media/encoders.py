"""aiortc encoders whose rates the adaptive controller sets, without aiortc's floors.

aiortc's ``Vp8Encoder`` clamps its target to 250-1500 kbit/s and rebuilds the libvpx context (a
new keyframe) whenever REMB moves the target by more than 10 %; its ``OpusEncoder`` is fixed at
96 kbit/s stereo in 20 ms packets. These replacements take their settings from an immutable
value the controller swaps in (the encoders run on aiortc's executor thread; swapping one
reference is atomic), so nothing but the controller changes a rate.

FFmpeg's libvpx wrapper reads the bitrate only when the context opens (setting ``bit_rate`` on an
open context is accepted and ignored: measured with PyAV 18 / FFmpeg 8). But libvpx budgets each
frame as bitrate x the time since the previous frame, taken from the timestamps we pass: so the
VP8 context keeps the rate it was opened with, and a new rate is reached by stretching the
encoder's time (``rate / opened rate``); the RTP timestamps keep the capture time. A bitrate
change therefore costs no rebuild and no keyframe. Only a new resolution, the stills mode, or a
rate beyond ``MAX_STRETCH`` of the opened one reopens the context. With temporal layers (below)
libvpx sizes upper-layer frames in bits per frame fixed when the context opens, so a new rate
at an unchanged frame rate is reached over ~5 s; the ladder's steps change both together and
are followed within ~2 s (measured at 320x240: 64k@10 -> 36k@8 -> 18k@5 -> 64k@10 fps, each
within 20 % second by second, no keyframe).

Motion is coded in two temporal layers (libvpx's 2-layer pattern, FFmpeg ``ts_layering_mode=2``):
every other frame is a base-layer frame (TL0) that references only the previous TL0 frame; the
frames between (TL1) reference their TL0 frame and are referenced by nothing. With 1 % loss on a
900 ms round trip a lost packet used to freeze the picture until its retransmission or a
keyframe came, a round trip later; a lost TL1 frame now costs that one frame, because the VP8
payload descriptor (RFC 7741) carries what a receiver needs to decode the next TL0 frame without
it: the picture id, TL0PICIDX (the base frame a frame belongs to), TID and the layer-sync bit Y
(set on every TL1 frame: it depends on its base frame only). TL0 gets ``BASE_SHARE`` of the rate.
Error-resilient mode keeps a TL1 frame from changing the entropy context TL0 frames decode with
(without it a TL0-only decode differs from the full one). FFmpeg picks each frame's layer from
its own counter (restarted at a forced keyframe); the encoder mirrors that counter, and labels
any keyframe TL0, to write the descriptor. Stills are keyframes only and stay unlayered.
"""

from __future__ import annotations

import fractions
import math
import multiprocessing
from dataclasses import dataclass

import av
from aiortc.codecs.base import Encoder
from aiortc.codecs.vpx import PACKET_MAX, Vp8Encoder, VpxPayloadDescriptor, number_of_threads
from av import AudioFrame, AudioResampler, VideoFrame
from av.frame import Frame
from av.packet import Packet
from av.video.codeccontext import VideoCodecContext

from devices.errors import LocalError

MIN_VIDEO_BPS = 2_000
MAX_VIDEO_BPS = 4_000_000
OPUS_RATE = 48_000
OPUS_PTIMES = (10, 20, 40, 60, 80, 100, 120)
#: a VP8 context follows rates from 1/8 to 8 times the one it was opened with
MAX_STRETCH = 8.0
#: the base temporal layer's share of the video bitrate (WebRTC's split for two layers)
BASE_SHARE = 0.6


@dataclass(frozen=True)
class VideoSettings:
    """``stills``: every frame is a keyframe (a still every few seconds must not depend on the
    previous one, which may have been lost)."""

    bitrate_bps: int = 500_000
    stills: bool = False
    #: RTP payloads are cut at this size, descriptor included (thin rungs want smaller packets)
    packet_bytes: int = PACKET_MAX

    def __post_init__(self) -> None:
        if not MIN_VIDEO_BPS <= self.bitrate_bps <= MAX_VIDEO_BPS:
            raise LocalError(f"video bitrate {self.bitrate_bps} out of range", code="bad_bitrate")


@dataclass(frozen=True)
class AudioSettings:
    """Opus, mono. ``expected_loss`` sizes the in-band FEC; ``dtx`` stops sending in silence."""

    bitrate_bps: int = 32_000
    ptime_ms: int = 20
    expected_loss: float = 0.02
    dtx: bool = False

    def __post_init__(self) -> None:
        if not 6_000 <= self.bitrate_bps <= 64_000:
            raise LocalError(f"Opus bitrate {self.bitrate_bps} out of 6-64 kbit/s", code="bad_bitrate")
        if self.ptime_ms not in OPUS_PTIMES:
            raise LocalError(f"Opus packet time {self.ptime_ms} ms not one of {OPUS_PTIMES}", code="bad_ptime")


class TunedVp8Encoder(Vp8Encoder):
    """VP8 at exactly the controller's rate (2 kbit/s - 4 Mbit/s), rate changes without a rebuild."""

    def __init__(self, settings: VideoSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or VideoSettings()
        self.rebuilds = 0
        self._built_for: VideoSettings | None = None
        self._last_pts: int | None = None  # capture pts of the previous frame
        self._encoder_pts = 0.0  # the stretched clock libvpx sees
        self._phase = 0  # FFmpeg's temporal layer counter: the next frame's layer
        self.tl0picidx = 0  # TL0PICIDX of the last base-layer frame sent

    @property
    def target_bitrate(self) -> int:
        return self.settings.bitrate_bps

    @target_bitrate.setter
    def target_bitrate(self, bitrate: int) -> None:
        """Ignored: REMB is an input to the estimator, never a direct encoder control."""

    def encode(self, frame: Frame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        assert isinstance(frame, VideoFrame)
        # Our own frame, since its timestamp is rewritten below: the relay hands one capture
        # frame to every peer's encoder.
        if frame.format.name == "yuv420p":
            own = VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")
            own.pts, own.time_base = frame.pts, frame.time_base
            frame = own
        else:
            frame = frame.reformat(format="yuv420p")
        settings = self.settings
        codec, built = self.codec, self._built_for
        if codec is None or built is None or (
            frame.width != codec.width
            or frame.height != codec.height
            or settings.stills != built.stills
            or not 1 / MAX_STRETCH <= settings.bitrate_bps / built.bitrate_bps <= MAX_STRETCH
        ):
            codec = self.codec = self._open(frame, settings)
            self._built_for = built = settings
            self.rebuilds += 1
            self._phase = 0
        pts = frame.pts or 0
        if self._last_pts is not None:
            self._encoder_pts += max(1, pts - self._last_pts) * settings.bitrate_bps / built.bitrate_bps
        self._last_pts = pts
        timestamp = int(pts * frame.time_base * 90_000) if frame.time_base is not None else 0
        frame.pts = int(self._encoder_pts)
        if force_keyframe or settings.stills:
            frame.pict_type = av.video.frame.PictureType.I
            self._phase = 0  # FFmpeg restarts its layer pattern at a forced keyframe
        layer, self._phase = self._phase, (self._phase + 1) % 2
        data = b"".join(bytes(packet) for packet in codec.encode(frame))
        if not data:  # dropped by rate control: no picture id, no TL0PICIDX spent
            return [], timestamp
        if not data[0] & 0x01:  # a keyframe (libvpx may place one anywhere) is a base frame
            layer = 0
        if layer == 0:
            self.tl0picidx = (self.tl0picidx + 1) % 256
        descriptor = VpxPayloadDescriptor(
            partition_start=1, partition_id=0, picture_id=self.picture_id, tl0picidx=self.tl0picidx,
            tid=(layer, int(layer > 0)),
        )
        self.picture_id = (self.picture_id + 1) % (1 << 15)
        return packetize(data, descriptor, settings.packet_bytes), timestamp

    @staticmethod
    def _open(frame: VideoFrame, settings: VideoSettings) -> VideoCodecContext:
        rate = settings.bitrate_bps
        codec = av.CodecContext.create("libvpx", "w")
        assert isinstance(codec, VideoCodecContext)
        codec.width = frame.width
        codec.height = frame.height
        codec.bit_rate = rate
        codec.pix_fmt = "yuv420p"
        # libvpx derives the per-frame budget from the timestamps, so the frame rate the capture
        # track chooses (5 fps, a still every 10 s) is honoured without telling it.
        codec.time_base = frame.time_base or fractions.Fraction(1, 90_000)
        codec.gop_size = 3000
        codec.qmin = 2
        codec.qmax = 63  # thin links need the coarsest quantizers to hold the rate
        options = {
            "bufsize": str(rate),  # a 1 s rate-control buffer
            "cpu-used": "-6",
            "deadline": "realtime",
            "lag-in-frames": "0",
            "minrate": str(rate),
            "maxrate": str(rate),
            "noise-sensitivity": "4",
            "overshoot-pct": "15",
            "partitions": "0",
            "static-thresh": "1",
            "undershoot-pct": "100",
            # drop a frame rather than blow the buffer (a late frame is worse); a still never
            "drop-threshold": "0" if settings.stills else "30",
        }
        if settings.stills:
            # a still (a keyframe) no bigger than its share of the rate: uncapped, libvpx let
            # them grow from 0.7 to 4.4 kB at 2 kbit/s and 0.1 fps, and on bgan-field such a still
            # took 5 s to cross, 14 s after the one before
            options["max-intra-rate"] = "100"
        else:
            base_kbps = max(1, round(rate * BASE_SHARE / 1000))
            options["error-resilient"] = "default"
            options["ts-parameters"] = f"ts_target_bitrate={base_kbps},{max(2, round(rate / 1000))}:ts_layering_mode=2"
        codec.options = options
        codec.thread_count = number_of_threads(frame.width * frame.height, multiprocessing.cpu_count())
        return codec


def packetize(data: bytes, descriptor: VpxPayloadDescriptor, packet_bytes: int = PACKET_MAX) -> list[bytes]:
    """One VP8 frame in RTP payloads of at most ``packet_bytes`` (aiortc's ``PACKET_MAX`` unless
    told), each behind the descriptor (start bit on the first only), split about equally (as
    libwebrtc does): a parity packet is as long as the longest it protects, and 1250 bytes in
    1200 + 50 made one of 1200 where 625 + 625 makes one of 625."""
    most = packet_bytes - len(bytes(descriptor))  # the same length with or without the start bit
    size, longer = divmod(len(data), max(1, math.ceil(len(data) / most)))  # the first `longer` get a byte more
    payloads: list[bytes] = []
    pos = 0
    while pos < len(data):
        end = pos + size + (len(payloads) < longer)
        payloads.append(bytes(descriptor) + data[pos:end])
        descriptor.partition_start = 0
        pos = end
    return payloads


def layer_of(payload: bytes) -> int | None:
    """The temporal layer a VP8 RTP payload belongs to, None when its descriptor has no TID."""
    try:
        descriptor, _ = VpxPayloadDescriptor.parse(payload)
    except ValueError:
        return None
    return None if descriptor.tid is None else descriptor.tid[0]


class TunedOpusEncoder(Encoder):
    """Opus mono at a chosen bitrate and packet time, with in-band FEC; reopened on a change.

    Constant bitrate: the ladder budgets the rung's audio rate on the wire, and CBR spends exactly
    that. Speech then sounds the same whatever the room did before, and the link never sees audio
    jump when someone starts talking after a silence (with VBR the silence's savings are climbed
    into by the video, then taken back as congestion when speech resumes).
    RTP timestamps count samples across reopenings, so a change is a short glitch at most.
    """

    def __init__(self, settings: AudioSettings | None = None) -> None:
        self.settings = settings or AudioSettings()
        self.rebuilds = 0
        self._built_for: AudioSettings | None = None
        self._codec: av.AudioCodecContext | None = None
        self._resampler: AudioResampler | None = None
        self._samples = 0

    def encode(self, frame: Frame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        assert isinstance(frame, AudioFrame)
        settings = self.settings
        if settings != self._built_for or self._codec is None or self._resampler is None:
            self._open(settings)
        assert self._codec is not None and self._resampler is not None
        packets: list[Packet] = []
        for chunk in self._resampler.resample(frame):
            packets += self._codec.encode(chunk)
        if not packets:
            return [], self._samples
        timestamp = self._samples
        self._samples += len(packets) * OPUS_RATE * settings.ptime_ms // 1000
        return [bytes(p) for p in packets], timestamp

    def pack(self, packet: Packet) -> tuple[list[bytes], int]:
        timestamp = int(packet.pts * packet.time_base * OPUS_RATE) if packet.pts is not None else 0
        return [bytes(packet)], timestamp

    def _open(self, settings: AudioSettings) -> None:
        codec = av.CodecContext.create("libopus", "w")
        assert isinstance(codec, av.AudioCodecContext)
        codec.bit_rate = settings.bitrate_bps
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = OPUS_RATE
        codec.time_base = fractions.Fraction(1, OPUS_RATE)
        codec.options = {
            "application": "voip",
            "frame_duration": str(settings.ptime_ms),
            "fec": "1",
            "packet_loss": str(max(1, min(100, round(settings.expected_loss * 100)))),
            "dtx": "1" if settings.dtx else "0",
            "vbr": "off",
        }
        self._codec = codec
        self._resampler = AudioResampler(
            format="s16", layout="mono", rate=OPUS_RATE, frame_size=OPUS_RATE * settings.ptime_ms // 1000
        )
        self._built_for = settings
        self.rebuilds += 1
