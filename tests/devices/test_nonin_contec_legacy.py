"""Nonin data formats and commands, and the legacy Contec stream: vectors and stream behaviour."""

from __future__ import annotations

from datetime import datetime

import pytest

from devices import nonin
from devices.contec import LegacyDecoder, LegacyPacket
from devices.errors import ProtocolError
from devices.reading import Absent, Kind
from tests.devices.ble_vectors import vectors


def test_df2_vector_frame() -> None:
    valid, bad = vectors("DF2 frame")
    frame = nonin.Df2Frame.parse(bytes.fromhex(valid["hex"]))
    assert (frame.sync, frame.float_byte) == (valid["decoded"]["sync"], valid["decoded"]["float"])
    assert bytes(frame).hex() == valid["hex"]
    with pytest.raises(ProtocolError, match="checksum 0xcb, computed 0xca"):
        nonin.Df2Frame.parse(bytes.fromhex(bad["hex"]))


def test_command_vectors() -> None:
    (select,) = vectors("Host->device 'select data format'")
    (set_time,) = vectors("Host->device 'set time'")
    assert nonin.parse_command(bytes.fromhex(select["hex"])) == nonin.SelectFormat(nonin.DataFormat.DF13)
    assert bytes(nonin.SelectFormat(nonin.DataFormat.DF13)).hex() == select["hex"]
    assert nonin.parse_command(bytes.fromhex(set_time["hex"])) == nonin.SetTime(datetime(2050, 12, 31, 14, 30, 15))
    assert bytes(nonin.SetTime(datetime(2050, 12, 31, 14, 30, 15))).hex() == set_time["hex"]


def _packet(frame: type[nonin.Df2Frame] | type[nonin.Df7Frame], heart_rate: int, spo2: int) -> bytes:
    return b"".join(bytes(frame(0x80 | (n == 0), 3, value)) for n, value in enumerate(nonin.packet_floats(heart_rate, spo2)))


@pytest.mark.parametrize("data_format, frame", [(nonin.DataFormat.DF2, nonin.Df2Frame),
                                                (nonin.DataFormat.DF7, nonin.Df7Frame)])
def test_packets_need_the_sync_frame_and_survive_any_chunking(data_format: nonin.DataFormat,
                                                              frame: type[nonin.Df2Frame]) -> None:
    stream = _packet(frame, 300, 97)[10:] + b"\x06" + _packet(frame, 72, nonin.MISSING_SPO2)
    read = nonin.reader(data_format)
    got = [r for start in range(0, len(stream), 7) for r in read(stream[start:start + 7], 1.0, "nonin")]
    # the first, headless packet gives nothing; the ACK byte is skipped
    assert [(r.kind, r.value, r.absent) for r in got] == [(Kind.SPO2, None, Absent.NAN), (Kind.PULSE_RATE, 72.0, None)]


def test_df2_status_flags() -> None:
    decoder = nonin.df2_decoder()
    decoder.receive_data(b"".join(bytes(nonin.Df2Frame(0x80 | 0x40 | 0x04 | (n == 0), 0, v))
                                  for n, v in enumerate(nonin.packet_floats(nonin.MISSING_HR, 90))))
    spo2, pulse = decoder.readings(0.0, "nonin")
    assert spo2.status == {"sensor_disconnected", "low_perfusion"}
    assert pulse.absent is Absent.NAN


def test_df8_frames() -> None:
    frame = nonin.Df8Frame(status=0x04, heart_rate=300, spo2=98, status2=0x01)
    assert nonin.Df8Frame.parse(bytes(frame)) == frame
    assert [(r.kind, r.value, r.status) for r in frame.readings(0.0, "n")] == [
        (Kind.SPO2, 98.0, {"artifact", "low_battery"}), (Kind.PULSE_RATE, 300.0, {"artifact", "low_battery"})]


def test_df13_spot_check_uses_the_device_clock() -> None:
    taken = datetime(2026, 3, 4, 5, 6, 7)
    packet = nonin.Df13Packet(taken, 1 << 9, 88, 96)
    raw = bytes(packet)
    assert raw[:6].hex() == "0002000d000e" and raw[6:13].hex() == "20260304050607" and raw[-1] == nonin.ETX
    decoder = nonin.Df13Decoder()
    decoder.receive_data(b"\x06\x00" + raw[:9])
    assert decoder.packets() == []
    decoder.receive_data(raw[9:] + raw)
    assert decoder.packets() == [packet, packet]
    readings = packet.readings(0.0, "n")
    assert {(r.kind, r.value, r.time) for r in readings} == {(Kind.SPO2, 96.0, taken.timestamp()),
                                                              (Kind.PULSE_RATE, 88.0, taken.timestamp())}
    assert all(r.status == {"smart_point"} for r in readings)


def test_df13_no_measurement_gives_absent_values() -> None:
    packet = nonin.Df13Packet(datetime(2026, 3, 4, 5, 6, 7), 1 << 8, 0, 0)
    assert {r.absent for r in packet.readings(0.0, "n")} == {Absent.NAN}


def test_contec_legacy_vector_and_stream() -> None:
    (entry,) = vectors("5-byte live packet")
    packet = LegacyPacket.parse(bytes.fromhex(entry["hex"]))
    assert (packet.pulse_rate, packet.pleth, packet.spo2) == (128, 0, 0)
    assert bytes(packet).hex() == entry["hex"]
    packets = [LegacyPacket(signal_strength=3, pleth=i, pulse_rate=130 + i, spo2=97, probe_error=i == 2)
               for i in range(4)]
    stream = b"\x11" + b"".join(map(bytes, packets))
    decoder = LegacyDecoder()
    out = []
    for start in range(0, len(stream), 3):
        decoder.receive_data(stream[start:start + 3])
        out += decoder.packets()
    assert out == packets and decoder.dropped_bytes == 1
    assert out[2].readings(0.0, "c")[0].status == {"probe_error"}
