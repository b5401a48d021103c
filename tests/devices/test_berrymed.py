from __future__ import annotations

import pytest

from devices.berrymed import BciDecoder, BciPacket
from devices.errors import ProtocolError
from devices.reading import Absent, Kind
from tests.devices.ble_vectors import vectors


def test_vector_pulse_rate_bit_seven_lives_in_byte_two() -> None:
    (entry,) = vectors("5-byte live packet")
    packet = BciPacket.parse(bytes.fromhex(entry["hex"]))
    expected = entry["decoded"]
    assert (packet.pulse_rate, packet.pleth, packet.spo2) == (expected["pulse_rate"], expected["pleth"], expected["spo2"])
    assert bytes(packet).hex() == entry["hex"]


def test_readings_and_status() -> None:
    packet = BciPacket(signal_strength=5, pleth=60, bargraph=4, pulse_rate=72, spo2=97)
    readings = BciPacket.parse(bytes(packet)).readings(3.0, "bci")
    assert [(r.kind, r.value) for r in readings] == [(Kind.SPO2, 97.0), (Kind.PULSE_RATE, 72.0)]
    lost = BciPacket(probe_unplugged=True, no_finger=True)
    assert [(r.absent, r.status) for r in lost.readings(3.0, "bci")] == [
        (Absent.NAN, {"probe_unplugged", "no_finger"})] * 2


@pytest.mark.parametrize("data, message", [(b"\x80\x00\x00\x00", "needs 5 bytes"),
                                           (b"\x00\x00\x00\x00\x00", "lacks the sync bit"),
                                           (b"\x80\x00\x80\x00\x00", "byte 2")])
def test_bad_packets(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        BciPacket.parse(data)


def test_stream_split_across_notifications_and_garbage() -> None:
    packets = [BciPacket(pleth=i, pulse_rate=60 + i, spo2=95) for i in range(6)]
    stream = b"\x01\x02" + b"".join(map(bytes, packets[:2])) + bytes(packets[2])[:3] + b"".join(map(bytes, packets[3:]))
    decoder = BciDecoder()
    out: list[BciPacket] = []
    for start in range(0, len(stream), 7):  # 7-byte notifications, never aligned with packets
        decoder.receive_data(stream[start:start + 7])
        out += decoder.packets()
    assert out == packets[:2] + packets[3:]
    assert decoder.dropped_bytes == 2 + 3
