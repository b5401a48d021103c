from __future__ import annotations

import pytest

from devices.errors import ProtocolError
from devices.o2ring import O2Command, O2Decoder, O2Request, O2Response, O2Sensors, crc8, read_sensors
from devices.reading import Absent, Kind
from tests.devices.ble_vectors import vectors


def test_read_sensors_request_vector() -> None:
    (entry,) = vectors("Request frame")
    data = bytes.fromhex(entry["hex"])
    assert read_sensors() == data
    assert O2Request.parse(data) == O2Request(O2Command.READ_SENSORS)
    assert crc8(data[:-1]) == data[-1] == 0x1B


def test_sensor_payload_without_finger() -> None:
    (entry,) = vectors("CMD_READ_SENSORS")
    sensors = O2Sensors.parse(bytes.fromhex(entry["hex"]))
    expected = entry["decoded"]
    assert (sensors.spo2, sensors.heart_rate, sensors.battery, sensors.finger) == (
        expected["spo2"], expected["hr"], expected["battery"], bool(expected["finger"]))
    assert [(r.kind, r.absent, r.status) for r in sensors.readings(1.0, "o2")] == [
        (Kind.SPO2, Absent.NAN, {"no_finger"}), (Kind.PULSE_RATE, Absent.NAN, {"no_finger"})]
    assert bytes(sensors).hex() == entry["hex"]


def test_sensor_payload_with_finger() -> None:
    sensors = O2Sensors.build(96, 64)
    assert [r.value for r in O2Sensors.parse(bytes(sensors)).readings(1.0, "o2")] == [96.0, 64.0]


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b"\x54" + b[1:], "header 0x54"),
    (lambda b: b[:2] + b"\x00" + b[3:], "complement"),
    (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "CRC"),
    (lambda b: b[:-2] + b[-1:], "length field says 13"),
])
def test_bad_responses(mutate: object, message: str) -> None:
    good = bytes(O2Response(0, data=bytes(O2Sensors.build(97, 70))))
    assert callable(mutate)
    with pytest.raises(ProtocolError, match=message):
        O2Response.parse(mutate(good))


def test_decoder_reassembles_split_frames_and_skips_garbage() -> None:
    frames = [O2Response(0, data=bytes(O2Sensors.build(90 + i, 60 + i))) for i in range(3)]
    corrupt = bytearray(bytes(frames[1]))
    corrupt[-1] ^= 0xFF
    stream = b"\x55\x00" + bytes(frames[0]) + bytes(corrupt) + bytes(frames[2])
    decoder = O2Decoder()
    out = []
    for start in range(0, len(stream), 20):  # default ATT MTU payload
        decoder.receive_data(stream[start:start + 20])
        while (frame := decoder.next_frame()) is not None:
            out.append(frame)
    assert out == [frames[0], frames[2]]
    assert decoder.dropped_bytes >= 2 + len(corrupt)
