"""media.fec: ULPFEC parity inside RED, byte by byte, and live between two tuned aiortc peers."""

from __future__ import annotations

import asyncio
import random

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from media import fec, tuning
from media.encoders import VideoSettings, layer_of
from tests.media.peers import MovingTrack, connected_pair


def rtp(seq: int, size: int, *, marker: int = 0, timestamp: int = 9000, extension: bytes = b"") -> bytes:
    packet = RtpPacket(payload_type=97, marker=marker, sequence_number=seq & 0xFFFF, timestamp=timestamp, ssrc=0x1234)
    packet.payload = random.Random(seq).randbytes(size)
    if extension:
        packet.extensions.abs_send_time = int.from_bytes(extension, "big")
        packet.extensions.mid = "0"
    return packet.serialize() if not extension else packet.serialize(_extensions())


def _extensions() -> HeaderExtensionsMap:
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
        RTCRtpHeaderExtensionParameters(id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
    ]))
    return extensions


def test_parity_header_is_rfc_5109_ulpfec() -> None:
    a, b = rtp(1000, 300, timestamp=0x11111111), rtp(1002, 120, marker=1, timestamp=0x22222222)
    parity = fec.parity([a, b])
    assert parity[0] & 0xC0 == 0  # E and L clear: a 16-bit mask
    assert parity[1] == (a[1] ^ b[1])  # M and PT recovery
    assert int.from_bytes(parity[2:4], "big") == 1000  # sequence number base: the lowest
    assert parity[4:8] == (0x11111111 ^ 0x22222222).to_bytes(4, "big")
    assert int.from_bytes(parity[8:10], "big") == (len(a) - 12) ^ (len(b) - 12)  # length recovery
    assert int.from_bytes(parity[10:12], "big") == 300 == len(parity) - 14  # protection length
    assert parity[12:14] == bytes([0b1010_0000, 0])  # seq 1000 and 1002
    assert parity[14:14 + 120] == bytes(x ^ y for x, y in zip(a[12:132], b[12:132], strict=True))
    assert parity[14 + 120:] == a[132:]  # the shorter one padded with zeros


def test_a_span_over_16_uses_the_long_mask_and_runs_stop_at_48() -> None:
    packets = [rtp(65530 + i, 200) for i in range(20)]  # across the wrap
    parity = fec.parity(packets[::19])
    assert parity[0] & 0x40 and int.from_bytes(parity[12:18], "big") == (1 << 47) | (1 << 28)
    assert len(fec.protect(packets)) == 5  # one per four
    assert len(fec.protect([rtp(i, 100) for i in range(50)])) == 12 + 1  # runs of 48, then 2


@pytest.mark.parametrize("extension", [b"", b"\x01\x02\x03"])
def test_any_one_lost_packet_of_a_group_is_rebuilt_exactly(extension: bytes) -> None:
    frame = [rtp(500 + i, 100 + 37 * i, marker=int(i == 6), extension=extension) for i in range(7)]
    parities = fec.protect(frame)
    assert len(parities) == 2
    for lost in range(len(frame)):
        recovery = fec.Recovery()
        rebuilt = [p for i, packet in enumerate(frame) if i != lost for p in recovery.media(packet)]
        for parity in parities:
            rebuilt += recovery.parity(0x1234, parity)
        assert rebuilt == [frame[lost]]
        assert recovery.recovered == 1


def test_packets_of_thin_frames_share_a_parity_packet_when_the_next_frame_comes_soon() -> None:
    grouper = fec.Grouper(group=4, hold_ms=200)
    assert len(grouper.add([rtp(1, 300)], 0)) == 1  # when the next frame comes is not known yet
    assert grouper.add([rtp(3, 300)], 100) == []  # the next is due at 200: it may wait for it
    assert grouper.add([], 150) == []  # an upper-layer frame: nothing to protect
    [parity] = grouper.add([rtp(5, 250)], 250)  # the one after would come too late: both go now
    assert int.from_bytes(parity[2:4], "big") == 3 and parity[12:14] == bytes([0b1010_0000, 0])
    assert len(parity) == 14 + 300
    assert len(grouper.add([rtp(20, 100)], 500)) == 1  # a frame every 300 ms: each alone, at once
    assert len(grouper.add([rtp(30 + i, 100) for i in range(4)], 510)) == 1  # a full group at once


def test_a_parity_group_never_spans_more_than_the_long_mask() -> None:
    grouper = fec.Grouper(group=4, hold_ms=1000)
    grouper.add([rtp(100, 100)], 0)
    assert grouper.add([rtp(120, 100)], 10) == []
    [first] = grouper.add([rtp(170, 100)], 20)  # 50 sequence numbers on: 120 goes alone first
    assert int.from_bytes(first[2:4], "big") == 120 and first[12:14] == bytes([0x80, 0])
    assert len(grouper.flush()) == 1 and grouper.flush() == []
    grouper.add([rtp(200, 100)], 30)
    grouper.drop()  # protection off: what waited is forgotten
    assert grouper.flush() == []


def test_groups_grow_as_the_loss_thins_and_cost_less() -> None:
    assert [fec.group_for(loss) for loss in (0.05, 0.02, 0.01, 0.005, 0.001, 0.0)] == [2, 3, 6, 8, 8, 8]
    assert fec.budget_share(2) > fec.budget_share(4) > fec.budget_share(8) > 0


def test_two_losses_in_a_group_wait_until_one_of_them_comes() -> None:
    frame = [rtp(10 + i, 150) for i in range(4)]
    recovery = fec.Recovery()
    assert recovery.media(frame[0]) == [] and recovery.media(frame[3]) == []
    assert recovery.parity(0x1234, fec.parity(frame)) == []  # 11 and 12 both missing
    assert recovery.media(frame[2]) == [frame[1]]  # a late 12 (a retransmission) lets 11 be rebuilt


def test_garbage_is_counted_and_rebuilds_nothing() -> None:
    recovery = fec.Recovery()
    assert recovery.parity(1, b"\x00" * 5) == [] and recovery.parity(1, b"\xff" * 40) == []
    assert recovery.malformed == 2
    assert fec.unred(b"") is None and fec.unred(b"\xe1\x00\x00\x05") is None  # F bit: more blocks
    assert fec.unred(fec.red(124, b"abc")) == (124, b"abc")


async def test_base_layer_losses_are_rebuilt_from_parity_without_retransmissions(tuned: None) -> None:
    """Two tuned peers negotiate RED and ULPFEC; with the base layer protected, the receiver loses
    the first packet of every fifth base-layer frame and every retransmission, and still decodes
    every frame in time: each lost packet is rebuilt from the parity packet behind it."""
    sender_pc, receiver_pc = await connected_pair(MovingTrack((320, 240), 10))
    sender = sender_pc.getSenders()[0]
    state = tuning.state(sender)
    # packets no longer than parity can follow (the controller sets this where RED is negotiated)
    state.video, state.protect_base = VideoSettings(64_000, packet_bytes=fec.MAX_PAYLOAD), True
    receiver = receiver_pc.getReceivers()[0]
    deliver = receiver._handle_rtp_packet
    dropped: list[int] = []
    frames: set[int] = set()

    async def lossy(packet: RtpPacket, arrival_time_ms: int) -> None:
        if packet.ssrc == sender._rtx_ssrc:
            return  # no retransmission gets through
        block = fec.unred(packet.payload) if packet.payload_type == fec.RED.payloadType else None
        if block is not None and block[0] != fec.ULPFEC.payloadType and layer_of(block[1]) == 0:
            if packet.timestamp not in frames:
                frames.add(packet.timestamp)
                if len(frames) % 5 == 0:  # a group holds at most four packets: one loss in each
                    dropped.append(packet.sequence_number)
                    return
        await deliver(packet, arrival_time_ms)

    receiver._handle_rtp_packet = lossy  # type: ignore[method-assign]
    received = []
    try:
        while not received:
            received.append(await asyncio.wait_for(receiver.track.recv(), 10))
        for _ in range(100):  # 10 s at 10 fps
            received.append(await asyncio.wait_for(receiver.track.recv(), 2))
    finally:
        await sender_pc.close()
        await receiver_pc.close()
    assert state.fec_types == (fec.RED.payloadType, fec.ULPFEC.payloadType)
    recovery: fec.Recovery = receiver.__dict__[tuning._RECOVERY_ATTR]
    buffer = getattr(receiver, "_RTCRtpReceiver__jitter_buffer")
    assert len(dropped) >= 8 and recovery.recovered >= len(dropped) - 1
    assert state.parity_packets >= len(dropped)
    assert buffer.skipped_frames == 0 and buffer.thinned_frames == 0  # every frame, none waited out
