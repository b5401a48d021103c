"""The deadline jitter buffer on real VP8 packets (aiortc's packetizer) and aiortc's decoder."""

from __future__ import annotations

import fractions
from collections.abc import Iterator

import av
from aiortc.codecs import depayload
from aiortc.codecs.vpx import Vp8Decoder
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media.encoders import TunedVp8Encoder, VideoSettings
from media.jitter import DeadlineJitterBuffer
from tests.media.peers import MovingTrack

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=97)
FPS = 10


def rtp_stream(frames: int, bitrate: int = 300_000, first_seq: int = 65_500) -> Iterator[tuple[int, RtpPacket]]:
    """(frame index, packet) for a real VP8 stream, several packets per frame, seq wrapping."""
    encoder = TunedVp8Encoder(VideoSettings(bitrate))
    track = MovingTrack((640, 480), FPS)
    seq = first_seq
    for index in range(frames):
        track._count = index
        frame = av.VideoFrame.from_ndarray(track.draw(), format="bgr24")
        frame.pts = index * 90_000 // FPS
        frame.time_base = fractions.Fraction(1, 90_000)
        payloads, timestamp = encoder.encode(frame, force_keyframe=index == 40)
        for i, payload in enumerate(payloads):
            packet = RtpPacket(payload_type=97, sequence_number=seq & 0xFFFF, timestamp=timestamp)
            packet.marker = int(i == len(payloads) - 1)
            packet.payload = payload
            packet._data = depayload(VP8, payload)  # type: ignore[attr-defined]
            seq += 1
            yield index, packet


def test_complete_frames_come_out_at_once_and_decode() -> None:
    buffer = DeadlineJitterBuffer(deadline_ms=500)
    decoder = Vp8Decoder()
    decoded = 0
    for index, packet in rtp_stream(12):
        _, frames = buffer.push(packet, now_ms=index * 100)
        for frame in frames:
            decoded += len(decoder.decode(frame))
    assert decoded == 12  # the last frame too: its marker completes it, no need to wait for more


def deliver(packets: list[tuple[int, RtpPacket]], lost: RtpPacket) -> tuple[list[int], int, DeadlineJitterBuffer]:
    """Feed ``packets`` but ``lost`` at 10 fps: (timestamps handed out, PLIs asked for, buffer);
    everything handed out must decode."""
    buffer = DeadlineJitterBuffer(deadline_ms=500)
    decoder = Vp8Decoder()
    out: list[int] = []
    plis = 0
    for index, packet in packets:
        if packet is lost:
            continue
        pli, frames = buffer.push(packet, now_ms=index * 1000 / FPS)
        plis += pli
        for frame in frames:
            assert decoder.decode(frame)  # everything handed out is decodable
            out.append(frame.timestamp)
    return out, plis, buffer


def test_a_permanently_lost_base_layer_packet_stalls_for_the_deadline_only() -> None:
    packets = list(rtp_stream(60))
    # frame 4 is a base-layer (TL0) frame: every later frame up to the keyframe depends on it
    lost = next(p for i, p in packets if i == 4 and not p.marker)  # mid-frame, never retransmitted
    out, plis, _ = deliver(packets, lost)
    delivered = set(out)
    timestamps = sorted({p.timestamp for _, p in packets})
    assert timestamps[3] in delivered and timestamps[4] not in delivered
    assert plis >= 1  # a keyframe was asked for
    assert timestamps[40] in delivered and timestamps[-1] in delivered  # from the keyframe on
    # frames 5..39 reference the lost one: dropped, not shown corrupted
    assert not delivered & set(timestamps[5:40])


def test_a_lost_upper_layer_packet_costs_its_frame_only_and_no_wait() -> None:
    packets = list(rtp_stream(60))
    lost = next(p for i, p in packets if i == 5 and not p.marker)  # frame 5: TL1, nothing references it
    out, plis, buffer = deliver(packets, lost)
    timestamps = sorted({p.timestamp for _, p in packets})
    assert out == timestamps[:5] + timestamps[6:]  # in order, only frame 5 missing
    assert plis == 0 and buffer.thinned_frames == 1 and buffer.skipped_frames == 0


def test_aiortcs_buffer_stalls_on_the_same_stream() -> None:
    """What the deadline buffer fixes: stock aiortc hands out nothing after the hole for 512 packets."""
    packets = list(rtp_stream(60))
    lost = next(p for i, p in packets if i == 5 and not p.marker)
    stock = JitterBuffer(capacity=512, is_video=True)
    timestamps = []
    for _, packet in packets:
        if packet is not lost:
            _, frame = stock.add(packet)
            if frame is not None:
                timestamps.append(frame.timestamp)
    assert max(timestamps) < sorted({p.timestamp for _, p in packets})[5]


def test_the_first_frame_handed_out_is_a_keyframe() -> None:
    packets = [p for i, p in rtp_stream(45) if i > 0]  # joined after the opening keyframe
    buffer = DeadlineJitterBuffer()
    plis, out = 0, []
    for n, packet in enumerate(packets):
        pli, frames = buffer.push(packet, now_ms=n * 10)
        plis += pli
        out += frames
    assert plis >= 1 and out and not out[0].data[0] & 0x01
    assert out[0].timestamp == packets[-1].timestamp - 4 * 9000  # frame 40, the forced keyframe


def test_late_retransmission_inside_the_deadline_fills_the_hole() -> None:
    packets = list(rtp_stream(20))
    hole = next(p for i, p in packets if i == 4 and not p.marker)  # a base-layer frame's
    buffer = DeadlineJitterBuffer(deadline_ms=1000)
    out = []
    for index, packet in packets:
        if packet is hole:
            continue
        out += buffer.push(packet, now_ms=index * 100)[1]
        if index == 9:
            out += buffer.push(hole, now_ms=index * 100)[1]  # the NACKed copy, 500 ms late
    assert len(out) == 20


def test_aiortc_adapter_returns_one_frame_and_keeps_the_rest() -> None:
    packets = [p for _, p in rtp_stream(3)]
    buffer = DeadlineJitterBuffer(clock=lambda: 0.0)
    held_back = next(p for p in packets if p.marker)  # the end of the first frame
    results = [buffer.add(p) for p in packets if p is not held_back]
    assert all(frame is None for _, frame in results)
    _, frame = buffer.add(held_back)  # completes all three frames
    assert frame is not None and len(buffer.ready) == 2
