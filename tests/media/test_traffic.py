"""Traffic classes read from clear-text headers (RFC 7983 demultiplexing, RTP payload types)."""

from __future__ import annotations

import struct

import pytest

from media.traffic import TrafficClass, classify


def udp_packet(payload: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0,
                     bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2]))
    return ip + struct.pack("!HHHH", 5000, 5001, 8 + len(payload), 0) + payload


@pytest.mark.parametrize(("payload", "expected"), [
    (bytes([0x00, 0x01]) + bytes(18), TrafficClass.STUN),           # binding request
    (bytes([0x17, 0xFE, 0xFD]) + bytes(10), TrafficClass.DATA),       # DTLS application data
    (bytes([0x16, 0xFE, 0xFD]) + bytes(10), TrafficClass.DATA),       # DTLS handshake
    (bytes([0x80, 97]) + bytes(10), TrafficClass.VIDEO),              # RTP VP8
    (bytes([0x80, 97 | 0x80]) + bytes(10), TrafficClass.VIDEO),       # marker bit set
    (bytes([0x80, 98]) + bytes(10), TrafficClass.RTX),                # RTX for VP8
    (bytes([0xA0, 98]) + bytes(10), TrafficClass.PADDING),            # RTX with the padding bit: a probe
    (bytes([0xA0, 97]) + bytes(10), TrafficClass.VIDEO),              # padded video is still video
    (bytes([0x90, 96 | 0x80]) + bytes(10), TrafficClass.AUDIO),       # Opus with extension + marker
    (bytes([0x80, 200]) + bytes(6), TrafficClass.RTCP),               # sender report
    (bytes([0x81, 205]) + bytes(6), TrafficClass.RTCP),               # NACK (transport feedback)
    (bytes([0x80, 120]) + bytes(10), TrafficClass.OTHER),             # unknown payload type
    (b"\xff", TrafficClass.OTHER),                                    # too short to tell
])
def test_udp_payloads_are_classified_by_first_bytes(payload: bytes, expected: TrafficClass) -> None:
    assert classify(udp_packet(payload)) is expected


@pytest.mark.parametrize("garbage", [b"", b"\x45", bytes(19), b"\x60" + bytes(60), bytes([0x45, 0]) + bytes(30)])
def test_garbage_and_non_udp_are_other(garbage: bytes) -> None:
    assert classify(garbage) is TrafficClass.OTHER


def test_tcp_is_other() -> None:
    packet = bytearray(udp_packet(bytes([0x80, 97]) + bytes(10)))
    packet[9] = 6
    assert classify(bytes(packet)) is TrafficClass.OTHER
