"""media.tuning and the pieces it installs, on real aiortc/aioice objects."""

from __future__ import annotations

import asyncio
import fractions
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import av
import numpy as np
import pytest
from aioice import ice, stun
from aiortc import RTCPeerConnection
from aiortc.codecs import get_encoder as stock_get_encoder
from aiortc.codecs import CODECS
from aiortc.codecs.opus import OpusDecoder
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import (
    RTCP_RTPFB_NACK, AnyRtcpPacket, RtcpReceiverInfo, RtcpRtpfbPacket, RtcpSrPacket, RtpPacket,
    unpack_header_extensions,
)

from media import tuning
from media.encoders import AudioSettings, TunedOpusEncoder, TunedVp8Encoder, VideoSettings, layer_of, packetize
from media.ladder import RUNGS
from media.retransmit import NackScheduler, RetransmitPolicy
from media.tuning import PacedNackGenerator, TuningConfig
from tests.media.peers import AudioStreamTrack, MovingTrack, connected_pair, offline_peer, playout_delay_ids


def video_frames(count: int, fps: float, size: tuple[int, int] = (320, 240)) -> Iterator[av.VideoFrame]:
    track = MovingTrack(size, fps)
    for i in range(count):
        track._count = i
        frame = av.VideoFrame.from_ndarray(track.draw(), format="bgr24")
        frame.pts = int(i * 90_000 / fps)
        frame.time_base = fractions.Fraction(1, 90_000)
        yield frame


def tone(seconds: float, chunk: int = 960, amplitude: int = 6000) -> Iterator[av.AudioFrame]:
    for i in range(int(seconds * 48_000 / chunk)):
        t = (np.arange(chunk) + i * chunk) / 48_000
        samples = (np.sin(2 * np.pi * 440 * t) * amplitude).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48_000
        frame.pts = i * chunk
        frame.time_base = fractions.Fraction(1, 48_000)
        yield frame


VP8_PAYLOAD_TYPES = {c.payloadType for c in CODECS["video"] if c.mimeType.lower() == "video/vp8"}


def is_keyframe(payloads: list[bytes]) -> bool:
    return not VpxPayloadDescriptor.parse(payloads[0])[1][0] & 0x01


# --- encoders -------------------------------------------------------------------------------


@pytest.mark.parametrize(("bitrate", "fps"), [(18_000, 5), (64_000, 10)])
def test_vp8_holds_rates_far_below_aiortcs_floor(bitrate: int, fps: int) -> None:
    encoder = TunedVp8Encoder(VideoSettings(bitrate))
    seconds = 12
    sent = sum(len(p) for f in video_frames(seconds * fps, fps) for p in encoder.encode(f)[0])
    assert 0.6 * bitrate < sent * 8 / seconds < 1.3 * bitrate


def test_vp8_rate_follows_the_controller_without_rebuild_or_keyframe() -> None:
    # The ladder's QVGA steps: each rung change moves the rate and the frame rate together
    # (libvpx sizes upper-layer frames in bits per frame, fixed when the context opens).
    steps = [(64_000, 10), (36_000, 8), (18_000, 5), (64_000, 10)]
    encoder = TunedVp8Encoder(VideoSettings(64_000))
    track = MovingTrack((320, 240), 10)
    pts = 0

    def encode(fps: int) -> tuple[list[bytes], int]:
        nonlocal pts
        track._count += 1
        frame = av.VideoFrame.from_ndarray(track.draw(), format="bgr24")
        frame.pts, frame.time_base = pts, fractions.Fraction(1, 90_000)
        pts += 90_000 // fps
        return encoder.encode(frame)

    first = [encode(10) for _ in range(100)]
    encoder.target_bitrate = 900_000  # what aiortc does on every REMB: ignored
    rates = []
    for bitrate, fps in steps[1:]:
        encoder.settings = VideoSettings(bitrate)
        encoded = [encode(fps) for _ in range(6 * fps)]
        assert not any(is_keyframe(payloads) for payloads, _ in encoded if payloads)
        rates.append((bitrate, sum(len(p) for payloads, _ in encoded[fps:] for p in payloads) * 8 / 5))
    assert encoder.rebuilds == 1
    for bitrate, measured in rates:
        assert 0.6 * bitrate < measured < 1.35 * bitrate, rates
    # RTP timestamps stay on the capture clock whatever the encoder's clock does.
    assert [t for _, t in first[:3]] == [0, 9000, 18000]
    # A new size needs a new context, and a keyframe.
    bigger = next(video_frames(1, 10, size=(640, 480)))
    bigger.pts = pts
    assert is_keyframe(encoder.encode(bigger)[0]) and encoder.rebuilds == 2


def test_vp8_stills_are_each_a_keyframe() -> None:
    encoder = TunedVp8Encoder(VideoSettings(2_000, stills=True))
    encoded = [encoder.encode(f)[0] for f in video_frames(4, 0.1)]
    assert all(is_keyframe(payloads) for payloads in encoded)
    assert all(VpxPayloadDescriptor.parse(p[0])[0].tid == (0, 0) for p in encoded)


def test_vp8_stills_stay_within_their_share_of_the_rate() -> None:
    encoder = TunedVp8Encoder(VideoSettings(2_000, stills=True))
    sizes = [sum(map(len, encoder.encode(f)[0])) for f in video_frames(8, 0.1)]
    assert max(sizes) <= 2_000 / 8 / 0.1, sizes  # 2.5 kB each at 2 kbit/s and a still every 10 s


def test_vp8_packets_on_thin_rungs_are_small_and_still_decode() -> None:
    stills = next(r for r in RUNGS if r.name == "stills")
    encoder = TunedVp8Encoder(VideoSettings(2_000, stills=True, packet_bytes=stills.packet_bytes))
    payloads = encoder.encode(next(video_frames(1, 0.1)))[0]
    assert len(payloads) > 1 and max(len(p) for p in payloads) <= stills.packet_bytes < 1300
    assert max(len(p) for p in payloads) - min(len(p) for p in payloads) <= 1  # split about equally
    decoder = av.CodecContext.create("libvpx", "r")
    frames = decoder.decode(av.Packet(b"".join(VpxPayloadDescriptor.parse(p)[1] for p in payloads)))  # type: ignore[attr-defined]
    assert frames and frames[0].width == 320


def test_a_frame_is_split_into_packets_of_about_equal_size() -> None:
    descriptor = VpxPayloadDescriptor(partition_start=1, partition_id=0, picture_id=300)
    payloads = packetize(bytes(range(256)) * 5, descriptor, packet_bytes=1200)  # 1280 bytes
    assert [len(p) for p in payloads] == [644, 644]  # not 1200 + 84: parity is as long as the longest
    assert b"".join(VpxPayloadDescriptor.parse(p)[1] for p in payloads) == bytes(range(256)) * 5
    assert [VpxPayloadDescriptor.parse(p)[0].partition_start for p in payloads] == [1, 0]


def test_vp8_motion_is_two_temporal_layers_that_a_receiver_can_thin() -> None:
    encoder = TunedVp8Encoder(VideoSettings(64_000))
    frames: list[tuple[VpxPayloadDescriptor, bytes]] = []
    for i, frame in enumerate(video_frames(41, 10)):
        payloads, _ = encoder.encode(frame, force_keyframe=i == 21)  # a PLI on an odd frame
        parsed = [VpxPayloadDescriptor.parse(p) for p in payloads]
        assert parsed and all(d.tid == parsed[0][0].tid for d, _ in parsed)
        assert [d.partition_start for d, _ in parsed] == [1] + [0] * (len(parsed) - 1)
        frames.append((parsed[0][0], b"".join(data for _, data in parsed)))
    descriptors = [d for d, _ in frames]
    layers = [d.tid[0] for d in descriptors]  # type: ignore[index]
    assert layers == [0, 1] * 10 + [0] + [0, 1] * 10  # the keyframe restarts the pattern
    assert [is_keyframe([bytes(d) + data]) for d, data in frames].count(True) == 2
    assert all(d.tid == (1, 1) for d in descriptors if d.tid[0] == 1)  # type: ignore[index]
    ids = [d.picture_id for d in descriptors]
    assert ids == [(ids[0] + i) % (1 << 15) for i in range(len(ids))]
    base = [d.tl0picidx for d in descriptors if d.tid[0] == 0]  # type: ignore[index]
    assert base == [(base[0] + i) % 256 for i in range(len(base))]
    # each TL1 frame names the base frame before it
    pairs = zip(descriptors, descriptors[1:])
    assert all(d.tl0picidx == prev.tl0picidx for prev, d in pairs if d.tid[0] == 1)  # type: ignore[index]

    def decode(selected: list[tuple[int, bytes]]) -> dict[int, np.ndarray]:
        decoder = av.CodecContext.create("libvpx", "r")
        decoded = ((i, f) for i, data in selected for f in decoder.decode(av.Packet(data)))  # type: ignore[attr-defined]
        return {i: f.to_ndarray() for i, f in decoded}

    everything = decode([(i, data) for i, (_, data) in enumerate(frames)])
    base_only = decode([(i, data) for i, (_, data) in enumerate(frames) if layers[i] == 0])
    assert len(everything) == 41 and len(base_only) == 21
    # TL1 frames change nothing a TL0 frame decodes from: the same pictures without them
    assert all(np.array_equal(picture, everything[i]) for i, picture in base_only.items())


def test_opus_at_a_chosen_rate_and_packet_time_decodes() -> None:
    encoder = TunedOpusEncoder(AudioSettings(16_000, ptime_ms=60, expected_loss=0.05))
    packets: list[tuple[bytes, int]] = []
    for frame in tone(3.0):
        payloads, timestamp = encoder.encode(frame)
        packets += [(p, timestamp + i * 2880) for i, p in enumerate(payloads)]
    assert 48 <= len(packets) <= 50  # 60 ms packets
    assert [t for _, t in packets] == [i * 2880 for i in range(len(packets))]
    assert 8_000 < sum(len(p) for p, _ in packets) * 8 / 3 < 22_000
    decoder = OpusDecoder()
    decoded = sum(f.samples for p, t in packets for f in decoder.decode(JitterFrame(p, t)))
    assert decoded == len(packets) * 2880


@pytest.mark.parametrize("bitrate", [8_000, 16_000])
def test_opus_spends_its_budget_on_silence_too(bitrate: int) -> None:
    """Constant bitrate: a silent room costs the link what speech will, so nothing jumps when
    someone starts talking."""
    encoder = TunedOpusEncoder(AudioSettings(bitrate, ptime_ms=60))
    sent = sum(len(p) for frame in tone(5.0, amplitude=0) for p in encoder.encode(frame)[0])
    assert 0.9 * bitrate < sent * 8 / 5 < 1.1 * bitrate


def test_opus_settings_change_keeps_timestamps_running() -> None:
    encoder = TunedOpusEncoder(AudioSettings(32_000, ptime_ms=20))
    stamps = []
    frames = tone(2.0)
    for _ in range(40):
        payloads, timestamp = encoder.encode(next(frames))
        stamps += [timestamp] if payloads else []
    encoder.settings = AudioSettings(8_000, ptime_ms=120)
    for frame in frames:
        payloads, timestamp = encoder.encode(frame)
        stamps += [timestamp] if payloads else []
    assert stamps == sorted(set(stamps)) and encoder.rebuilds == 2
    assert stamps[-1] - stamps[-2] == 120 * 48


# --- apply / restore ------------------------------------------------------------------------


def test_apply_is_explicit_idempotent_and_restorable() -> None:
    from aiortc import rtcrtpsender

    assert rtcrtpsender.get_encoder is stock_get_encoder  # nothing happened at import
    tuning.apply()
    tuning.apply(TuningConfig(consent_timeout_s=30))
    try:
        assert rtcrtpsender.get_encoder is not stock_get_encoder
        assert tuning.applied()
    finally:
        tuning.restore()
    assert rtcrtpsender.get_encoder is stock_get_encoder and not tuning.applied()


# --- live peers -----------------------------------------------------------------------------


@pytest.fixture
async def live_pair(tuned: None) -> AsyncIterator[tuple[RTCRtpSender, RTCRtpSender, list[av.VideoFrame]]]:
    sender_pc, receiver_pc = await connected_pair(MovingTrack((320, 240), 15), AudioStreamTrack())
    video, audio = sorted(sender_pc.getSenders(), key=lambda s: s.kind != "video")
    tuning.state(video).video = VideoSettings(40_000)
    tuning.state(audio).audio = AudioSettings(12_000, ptime_ms=60)
    received: list[av.VideoFrame] = []
    tasks: list[asyncio.Task[None]] = []

    async def consume(track: object) -> None:
        while True:
            received.append(await track.recv())  # type: ignore[attr-defined]

    for transceiver in receiver_pc.getTransceivers():
        if transceiver.kind == "video":
            tasks.append(asyncio.ensure_future(consume(transceiver.receiver.track)))
    try:
        yield video, audio, received
    finally:
        for task in tasks:
            task.cancel()
        await sender_pc.close()
        await receiver_pc.close()


async def test_live_senders_use_the_tuned_encoders_and_report_rtt(
    live_pair: tuple[RTCRtpSender, RTCRtpSender, list[av.VideoFrame]],
) -> None:
    video, audio, received = live_pair
    reports = []
    for _ in range(100):
        await asyncio.sleep(0.1)
        reports += [r for _, r in tuning.state(video).take_feedback().reports if r.rtt_ms is not None]
        if reports and len(received) > 10:
            break
    vp8, opus = tuning.encoder_of(video), tuning.encoder_of(audio)
    assert isinstance(vp8, TunedVp8Encoder) and vp8.settings.bitrate_bps == 40_000
    assert isinstance(opus, TunedOpusEncoder) and opus.settings.ptime_ms == 60
    assert reports and 0 <= reports[0].rtt_ms < 500  # type: ignore[operator]
    assert len(received) > 10


def test_a_burst_of_losses_is_resent_at_once_and_the_budget_holds_on_average() -> None:
    """A Starlink handover at vga15: seven 1.2 KB packets lost at once go back at once on the
    rung's budget (8 % of its video), and over ten seconds no more than the budget goes."""
    vga15 = next(r for r in RUNGS if r.name == "vga15")
    rate = 0.08 * vga15.video_wire_bps()
    policy = RetransmitPolicy(rate)
    assert all(policy.allow(seq, 20.0, 1200, 1000.0) for seq in range(7))
    sent = 7 + sum(policy.allow(seq, 20.0, 1200, 1000.0 + seq) for seq in range(7, 10_000))
    assert sent * 1200 * 8 <= rate * 13  # ten seconds of the rate plus the three saved up


async def test_nacks_are_answered_within_the_budget_and_not_twice(
    live_pair: tuple[RTCRtpSender, RTCRtpSender, list[av.VideoFrame]],
) -> None:
    video, _, _ = live_pair
    history: dict[int, RtpPacket] = {}
    while len(history) < 40:
        await asyncio.sleep(0.1)
        history = dict(getattr(video, "_RTCRtpSender__rtp_history"))
    policy = tuning.state(video).retransmit
    policy.set_rate(3_000)  # 3 s of burst: ~1 KB
    lost = sorted(p.sequence_number for p in history.values())[-30:]
    nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=video._ssrc, lost=lost)
    await video._handle_rtcp_packet(nack)
    assert 0 < policy.sent < 30 and policy.skipped_budget > 0
    policy.set_rate(10_000_000)
    sent = policy.sent
    await video._handle_rtcp_packet(nack)
    assert policy.skipped_repeat == sent  # the ones just resent are not resent again
    assert policy.sent > sent  # the ones the budget refused go now


async def test_a_receiver_that_loses_every_upper_layer_packet_keeps_decoding(tuned: None) -> None:
    sender_pc, receiver_pc = await connected_pair(MovingTrack((320, 240), 10))
    tuning.state(sender_pc.getSenders()[0]).video = VideoSettings(64_000)
    receiver = receiver_pc.getReceivers()[0]
    deliver = receiver._handle_rtp_packet
    dropped: list[int] = []

    async def lossy(packet: RtpPacket, arrival_time_ms: int) -> None:
        if packet.payload_type in VP8_PAYLOAD_TYPES and layer_of(packet.payload) == 1:
            dropped.append(packet.sequence_number)  # every TL1 frame lost (and its retransmissions)
            return
        await deliver(packet, arrival_time_ms)

    receiver._handle_rtp_packet = lossy  # type: ignore[method-assign]
    received: list[av.VideoFrame] = []
    try:
        while not received:  # connecting, then the first keyframe
            received.append(await asyncio.wait_for(receiver.track.recv(), 10))
        start = len(received)
        for _ in range(20):  # 4 s at 10 fps: ~20 base-layer frames
            received.append(await asyncio.wait_for(receiver.track.recv(), 2))
    finally:
        await sender_pc.close()
        await receiver_pc.close()
    buffer = getattr(receiver, "_RTCRtpReceiver__jitter_buffer")
    assert len(received) - start == 20 and len(dropped) >= 15
    assert buffer.skipped_frames == 0 and buffer.thinned_frames >= 15  # no deadline waits, no PLI


async def test_sender_reports_go_no_more_often_than_asked(tuned: None) -> None:
    """A sender told to report every 3 s sends an SR that seldom; its neighbour, as aiortc does."""
    sender_pc, receiver_pc = await connected_pair(MovingTrack((320, 240), 10), AudioStreamTrack())
    try:
        video, audio = (next(s for s in sender_pc.getSenders() if s.kind == kind) for kind in ("video", "audio"))
        tuning.state(video).report_every_s = 3.0
        reports: Counter[int] = Counter()
        for receiver in receiver_pc.getReceivers():
            async def record(packet: AnyRtcpPacket, handle=receiver._handle_rtcp_packet) -> None:  # type: ignore[no-untyped-def]
                if isinstance(packet, RtcpSrPacket):
                    reports[packet.ssrc] += 1
                await handle(packet)

            receiver._handle_rtcp_packet = record  # type: ignore[method-assign]
        await asyncio.sleep(6.5)
        assert reports[audio._ssrc] >= 4 and 1 <= reports[video._ssrc] <= 3, reports
    finally:
        await sender_pc.close()
        await receiver_pc.close()


async def test_padding_goes_on_rtx_at_the_rate_asked_and_stops(tuned: None) -> None:
    """Padding-only packets on the RTX stream, about the rate asked; the receiver keeps decoding
    the video, and 0 stops them."""
    sender_pc, receiver_pc = await connected_pair(MovingTrack((320, 240), 10))
    sender = sender_pc.getSenders()[0]
    state = tuning.state(sender)
    state.video = VideoSettings(64_000)
    receiver = receiver_pc.getReceivers()[0]
    deliver = receiver._handle_rtp_packet
    padding: list[RtpPacket] = []

    async def record(packet: RtpPacket, arrival_time_ms: int) -> None:
        if packet.ssrc == sender._rtx_ssrc:
            padding.append(packet)
        await deliver(packet, arrival_time_ms)

    receiver._handle_rtp_packet = record  # type: ignore[method-assign]
    try:
        await asyncio.wait_for(receiver.track.recv(), 10)  # the stream runs (RTX negotiated)
        tuning.pad(sender, 100_000)
        started = time.monotonic()
        await asyncio.sleep(2.0)
        tuning.pad(sender, 0)
        elapsed = time.monotonic() - started
        sent = state.padding_packets
        for _ in range(5):
            await asyncio.wait_for(receiver.track.recv(), 10)  # video goes on
        await asyncio.sleep(0.3)
        assert state.padding_packets == sent  # stopped
    finally:
        await sender_pc.close()
        await receiver_pc.close()
    assert padding and all(p.padding_size == tuning.PADDING_BYTES and not p.payload for p in padding)
    assert len({p.sequence_number for p in padding}) == len(padding) == sent  # each its own RTX number
    wire_bps = sent * tuning.PADDING_WIRE_BYTES * 8 / elapsed
    assert 60_000 < wire_bps < 120_000, wire_bps


async def test_video_gone_from_the_history_is_answered_with_a_keyframe_once_per_round_trips(
    live_pair: tuple[RTCRtpSender, RTCRtpSender, list[av.VideoFrame]],
) -> None:
    """Packets sent into an outage cannot be resent, and the receiver cannot decode past them
    until it gets a keyframe: send one at once, not after its own ~4 s of NACKs. A packet we
    still hold is resent instead, and one merely too late costs no keyframe (on a thin link
    keyframes for every late loss would take the rate the picture needs)."""
    video, _, _ = live_pair
    history: dict[int, RtpPacket] = {}
    while len(history) < 10:
        await asyncio.sleep(0.1)
        history = dict(getattr(video, "_RTCRtpSender__rtp_history"))
    tuned = tuning.state(video)
    newest = max(p.sequence_number for p in history.values())

    def nack(*lost: int) -> RtcpRtpfbPacket:
        return RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=video._ssrc, lost=list(lost))

    await video._handle_rtcp_packet(nack(newest))  # still in the history: resent
    assert tuned.retransmit.sent == 1 and tuned.keyframes_for_loss == 0
    await video._handle_rtcp_packet(nack(newest - 5000))  # long gone (sent during an outage)
    assert tuned.keyframes_for_loss == 1
    await video._handle_rtcp_packet(nack(newest - 5001))  # the receiver asks again: it is on its way
    assert tuned.keyframes_for_loss == 1
    tuned.retransmit.deadline_ms = -1_000_000  # every packet is now too late to be of use
    await asyncio.sleep(1.1)  # past the pause between keyframes (loopback: a round trip is ~0)
    history = dict(getattr(video, "_RTCRtpSender__rtp_history"))
    await video._handle_rtcp_packet(nack(max(p.sequence_number for p in history.values())))
    assert tuned.retransmit.skipped_late == 1 and tuned.keyframes_for_loss == 1
    await video._handle_rtcp_packet(nack(newest - 6000))
    assert tuned.keyframes_for_loss == 2


# --- receiver NACK pacing -------------------------------------------------------------------


def test_nack_generator_asks_once_per_gap_then_retries_later() -> None:
    now = [0.0]
    generator = PacedNackGenerator(NackScheduler(retry_ms=1000, max_requests=2), clock=lambda: now[0])

    def packet(seq: int) -> RtpPacket:
        return RtpPacket(sequence_number=seq)

    assert not generator.add(packet(100))
    assert generator.add(packet(103)) and generator.missing == [101, 102]
    now[0] = 0.1
    assert generator.add(packet(105)) and generator.missing == [104]  # not 101, 102 again
    assert not generator.add(packet(101))
    now[0] = 1.2
    assert generator.add(packet(106)) and generator.missing == [102, 104]
    now[0] = 2.4
    assert not generator.add(packet(107))  # two requests each: given up


# --- ICE consent ----------------------------------------------------------------------------


async def ice_pair() -> tuple[ice.Connection, ice.Connection]:
    a = ice.Connection(ice_controlling=True, use_ipv6=False)
    b = ice.Connection(ice_controlling=False, use_ipv6=False)
    await asyncio.gather(a.gather_candidates(), b.gather_candidates())
    for local, remote in ((a, b), (b, a)):
        for candidate in remote.local_candidates:
            await local.add_remote_candidate(candidate)
        await local.add_remote_candidate(None)
        local.remote_username = remote.local_username
        local.remote_password = remote.local_password
    await asyncio.gather(a.connect(), b.connect())
    return a, b


def slow_answers(connection: ice.Connection, link: dict[str, float]) -> None:
    """Make ``connection``'s STUN answers take ``link['delay']`` s, or vanish if ``link['drop']``."""
    loop = asyncio.get_running_loop()
    for protocol in connection._protocols:
        send = protocol.send_stun

        def delayed(message: stun.Message, addr: tuple[str, int], send=send) -> None:  # type: ignore[no-untyped-def]
            if message.message_class != stun.Class.RESPONSE:
                send(message, addr)
            elif not link["drop"]:
                loop.call_later(link["delay"], send, message, addr)

        protocol.send_stun = delayed  # type: ignore[method-assign]


def is_open(connection: ice.Connection) -> bool:
    return bool(connection._nominated)


async def test_stock_consent_dies_on_a_long_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ice, "CONSENT_INTERVAL", 0.1)
    a, b = await ice_pair()
    slow_answers(b, {"delay": 0.8, "drop": 0})
    for _ in range(60):
        await asyncio.sleep(0.1)
        if not is_open(a):
            break
    assert not is_open(a)  # what the patch below is for
    await b.close()


async def test_tuned_consent_survives_long_round_trips_and_outages_but_still_expires() -> None:
    tuning.apply(TuningConfig(consent_interval_s=0.1, consent_retransmissions=2, consent_timeout_s=2.5))
    try:
        a, b = await ice_pair()
        link = {"delay": 0.8, "drop": 0}
        slow_answers(b, link)
        await asyncio.sleep(4.0)
        assert is_open(a)
        link["drop"] = 1  # an outage shorter than the timeout
        await asyncio.sleep(1.5)
        link["drop"] = 0
        await asyncio.sleep(2.0)
        assert is_open(a)
        link["drop"] = 1  # the peer is gone for good
        for _ in range(100):
            await asyncio.sleep(0.1)
            if not is_open(a):
                break
        assert not is_open(a)
        await b.close()
    finally:
        tuning.restore()


def count_requests(connection: ice.Connection) -> list[int]:
    """A counter of the STUN requests ``connection`` receives (consent checks among them)."""
    received = [0]
    handle = connection.request_received

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        received[0] += 1
        return handle(*args, **kwargs)

    connection.request_received = counted  # type: ignore[method-assign]
    return received


async def requests_within(received: list[int], seconds: float) -> int:
    before = received[0]
    await asyncio.sleep(seconds)
    return received[0] - before


async def test_tuned_consent_asks_every_probe_interval_while_the_link_is_out() -> None:
    """During an outage the far end hears a check within a probe interval of the link returning
    (Chromium's failed ICE comes back on it), not at the next regular check."""
    tuning.apply(TuningConfig(consent_interval_s=1.5, consent_retransmissions=0, consent_probe_s=0.1,
                              consent_timeout_s=60))
    try:
        a, b = await ice_pair()
        received = count_requests(b)
        link = {"delay": 0.0, "drop": 0}
        slow_answers(b, link)
        link["drop"] = 1  # the outage: b hears a's checks, a hears nothing back
        # a regular check went out and went unanswered (the next regular one may be on its way)...
        await asyncio.sleep(2 * 1.8 + 0.5)
        assert await requests_within(received, 1.0) >= 5  # ...and from then on a check every 0.1 s
        link["drop"] = 0  # the link is back: one answer, and the regular interval again
        await asyncio.sleep(0.5)
        assert await requests_within(received, 1.0) <= 1
        assert is_open(a)
        await b.close()
        await a.close()
    finally:
        tuning.restore()


def test_loss_is_counted_over_enough_packets_not_per_report() -> None:
    """A report sent with a NACK right after a loss covers a few packets: it does not read as 33 %."""
    state = tuning.SenderState(tuning.TuningConfig())

    def block(highest: int, lost: int, fraction: float) -> RtcpReceiverInfo:
        return RtcpReceiverInfo(ssrc=1, fraction_lost=int(fraction * 256), packets_lost=lost,
                                highest_sequence=highest, jitter=0, lsr=0, dlsr=0)

    assert state.report(block(1000, 0, 0.0), 0.0).fraction_lost is None  # the base
    assert state.report(block(1003, 1, 0.33), 0.1).fraction_lost is None  # 3 packets: too few to tell
    assert state.report(block(1050, 1, 0.0), 1.0).fraction_lost == 1 / 50
    assert state.report(block(1100, 11, 0.2), 2.0).fraction_lost == 10 / 50
    assert state.report(block(1150, 9, 0.0), 3.0).fraction_lost == 0.0  # retransmissions arrived


async def offer(*kinds: str) -> str:
    """The SDP of an offer with a transceiver of each of ``kinds``."""
    pc = RTCPeerConnection()
    for kind in kinds:
        pc.addTransceiver(kind)
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


async def test_our_sdp_asks_the_far_end_for_thin_opus_and_restore_puts_it_back() -> None:
    tuning.apply()
    try:
        assert "maxaveragebitrate=16000" in await offer("audio")
    finally:
        tuning.restore()
    assert "maxaveragebitrate" not in await offer("audio")


async def test_video_offers_red_and_ulpfec_after_vp8_and_restore_removes_them() -> None:
    tuning.apply()
    try:
        sdp = await offer("video")
    finally:
        tuning.restore()
    video = re.search(r"m=video \d+ \S+ ([\d ]+)", sdp)
    assert video is not None
    types = video.group(1).split()
    assert types[0] == "97" and types[-2:] == ["123", "124"]  # VP8 first: what we send
    assert "a=rtpmap:123 red/90000" in sdp and "a=rtpmap:124 ulpfec/90000" in sdp
    assert "red/90000" not in await offer("video")


async def test_video_offers_the_playout_delay_with_an_unused_id_and_restore_removes_it() -> None:
    tuning.apply()
    tuning.apply()  # idempotent: offered once
    try:
        sdp = await offer("audio", "video")
    finally:
        tuning.restore()
    ids = playout_delay_ids(sdp)
    assert list(ids) == ["video"]
    assert len(re.findall(rf"a=extmap:{ids['video']} ", sdp)) == 1  # BUNDLE: one id, one meaning
    assert playout_delay_ids(await offer("audio", "video")) == {}


async def test_own_stream_announces_the_video_apart_from_the_audio() -> None:
    """Chromium plays the tracks of one stream (the msid's first part) in sync."""
    pc = offline_peer()
    video = pc.addTrack(MovingTrack())
    pc.addTrack(AudioStreamTrack())
    tuning.own_stream(video)
    await pc.setLocalDescription(await pc.createOffer())
    streams = re.findall(r"^m=(\w+).*?^a=msid:(\S+) ", pc.localDescription.sdp, re.M | re.S)
    await pc.close()
    assert [kind for kind, _ in streams] == ["video", "audio"] and streams[0][1] != streams[1][1]


async def test_video_packets_carry_the_playout_delay_paced_or_not(tuned: None) -> None:
    """The answerer accepts the extension, and every video packet on the wire carries min 0 and
    max 200 ms (10 ms units) under the negotiated id: as aiortc sends it, and after the pacer
    rewrote it; audio packets do not."""
    sender_pc, receiver_pc = await connected_pair(MovingTrack((320, 240), 15), AudioStreamTrack())
    negotiated = playout_delay_ids(receiver_pc.localDescription.sdp)
    assert list(negotiated) == ["video"]
    video, audio = sorted(sender_pc.getSenders(), key=lambda s: s.kind != "video")
    seen: dict[int, list[dict[int, bytes]]] = {video._ssrc: [], audio._ssrc: []}  # ssrc -> extensions
    transport = receiver_pc.getTransceivers()[0].receiver.transport
    handle = transport._handle_rtp_data

    async def record(data: bytes, arrival_time_ms: int) -> None:
        ssrc = int.from_bytes(data[8:12], "big")
        assert data[0] & 0x10 and data[0] & 0x0F == 0  # has extensions, no CSRC
        length = int.from_bytes(data[14:16], "big") * 4
        extensions = dict(unpack_header_extensions(int.from_bytes(data[12:14], "big"), data[16 : 16 + length]))
        seen.setdefault(ssrc, []).append(extensions)
        await handle(data, arrival_time_ms)

    transport._handle_rtp_data = record  # type: ignore[method-assign]
    try:
        await asyncio.sleep(1.5)
        unpaced = len(seen[video._ssrc])
        tuning.pace(video, 200_000, 2_000.0)
        await asyncio.sleep(1.5)
    finally:
        await sender_pc.close()
        await receiver_pc.close()
    assert unpaced > 5 and len(seen[video._ssrc]) > unpaced + 5 and seen[audio._ssrc]
    assert all(e.get(negotiated["video"]) == b"\x00\x00\x14" for e in seen[video._ssrc])
    assert not any(negotiated["video"] in e for e in seen[audio._ssrc])


# --- pacing ---------------------------------------------------------------------------------


async def test_video_leaves_paced_while_data_channel_messages_pass_it(tuned: None) -> None:
    """A sender encoding 100 kbit/s paced at 30: its packets reach the receiver at the pace, the
    pacer holds seconds of video but not without bound (frames are dropped before the encoder
    while it holds more than its limit), the pictures decode, and data-channel messages sent
    meanwhile do not wait behind them."""
    sender_pc = offline_peer()
    channel = sender_pc.createDataChannel("vitals", ordered=False, maxRetransmits=0)
    sender_pc, receiver_pc = await connected_pair(MovingTrack((320, 240), 15), sender=sender_pc)
    video = sender_pc.getSenders()[0]
    tuning.state(video).video = VideoSettings(100_000)
    rate, limit_ms = 30_000, 2_000.0
    tuning.pace(video, rate, limit_ms)
    pacer = tuning.state(video).pacer
    assert pacer is not None

    arrivals: list[tuple[float, int]] = []  # (monotonic s, payload bytes) of each video packet
    receiver = next(t.receiver for t in receiver_pc.getTransceivers() if t.kind == "video")
    handle = receiver._handle_rtp_packet

    async def record(packet: RtpPacket, arrival_time_ms: int) -> None:
        arrivals.append((time.monotonic(), len(packet.payload)))
        await handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = record  # type: ignore[method-assign]
    latencies: list[float] = []
    receiver_pc.on("datachannel", lambda ch: ch.on("message", lambda m: latencies.append(time.monotonic() - float(m))))
    decoded: list[av.VideoFrame] = []

    async def consume() -> None:
        while True:
            decoded.append(await receiver.track.recv())

    consumer = asyncio.ensure_future(consume())
    backlogs: list[float] = []
    try:
        for _ in range(70):
            await asyncio.sleep(0.1)
            if channel.readyState == "open":
                channel.send(str(time.monotonic()))
            backlogs.append(pacer.backlog_ms(time.monotonic() * 1000))
        await asyncio.sleep(0.3)
    finally:
        consumer.cancel()
        await sender_pc.close()
        await receiver_pc.close()
    seconds = arrivals[-1][0] - arrivals[0][0]
    received_bps = sum(size for _, size in arrivals[1:]) * 8 / seconds
    assert 0.4 * rate < received_bps < 1.1 * rate  # the encoder made 100 kbit/s
    # Held, and bounded by the limit plus one frame (libvpx gives a frame after a gap the bits
    # of the gap, its 1 s buffer at most); unbounded it would grow by 2.3 s a second.
    assert limit_ms < max(backlogs) < limit_ms + 4_000  # held, and bounded (unbounded: 6 s a second)
    assert decoded
    assert len(latencies) > 40 and max(latencies) < 1.0  # not behind seconds of video
