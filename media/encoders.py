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
change therefore costs no rebuild and no keyframe (measured: 64 -> 32 -> 16 -> 64 kbit/s at
320x240 followed within 25 %, no keyframe). Only a new resolution, the stills mode, or a rate
beyond ``MAX_STRETCH`` of the opened one reopens the context.
"""

from __future__ import annotations

import fractions
import multiprocessing
from dataclasses import dataclass

import av
from aiortc.codecs.base import Encoder
from aiortc.codecs.vpx import Vp8Encoder, number_of_threads
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


@dataclass(frozen=True)
class VideoSettings:
    """``stills``: every frame is a keyframe (a still every few seconds must not depend on the
    previous one, which may have been lost)."""

    bitrate_bps: int = 500_000
    stills: bool = False

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
        pts = frame.pts or 0
        if self._last_pts is not None:
            self._encoder_pts += max(1, pts - self._last_pts) * settings.bitrate_bps / built.bitrate_bps
        self._last_pts = pts
        timestamp = int(pts * frame.time_base * 90_000) if frame.time_base is not None else 0
        frame.pts = int(self._encoder_pts)
        if force_keyframe or settings.stills:
            frame.pict_type = av.video.frame.PictureType.I
        data = b"".join(bytes(packet) for packet in codec.encode(frame))
        payloads = self._packetize(data, self.picture_id)
        self.picture_id = (self.picture_id + 1) % (1 << 15)
        return payloads, timestamp

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
        codec.options = {
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
        codec.thread_count = number_of_threads(frame.width * frame.height, multiprocessing.cpu_count())
        return codec


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
