"""``farlink devices decode PROTOCOL HEX``: what a captured byte string means, for field technicians.

Each protocol maps to a decoder taking the whole capture and returning the frames it found and
the readings they carry. Single-frame protocols (the GATT characteristics) parse one value;
stream protocols decode every complete packet. Anything left over (noise dropped while
resynchronising, or the start of a packet that never completes) makes the capture malformed or
truncated: a :class:`~devices.errors.ProtocolError`, never a partial answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from devices import berrymed, contec, nonin, o2ring, visomat
from devices.errors import ProtocolError
from devices.gatt import blood_pressure, glucose, heart_rate, plx, racp, thermometer, weight
from devices.ieee11073 import Mder
from devices.reading import Reading

Decoded = tuple[list[Any], list[Reading]]
SOURCE = "decode"


class _Frame(Protocol):
    def readings(self, time: float, source: str) -> list[Reading]: ...


def _single(parse: Callable[[bytes], Any]) -> Callable[[bytes], Decoded]:
    def decode(data: bytes) -> Decoded:
        frame = parse(data)
        return [frame], frame.readings(0.0, SOURCE) if hasattr(frame, "readings") else []
    return decode


class _Stream(Protocol):
    dropped_bytes: int

    @property
    def pending(self) -> int: ...

    def receive_data(self, data: bytes) -> None: ...


def _check_consumed(decoder: _Stream, what: str) -> None:
    if decoder.dropped_bytes:
        raise ProtocolError(f"{what}: {decoder.dropped_bytes} bytes do not belong to any packet", code="malformed")
    if decoder.pending:
        raise ProtocolError(f"{what}: the last {decoder.pending} bytes do not complete a packet", code="truncated")


def _packets(make: Callable[[], Any], what: str) -> Callable[[bytes], Decoded]:
    """A stream whose decoder has ``packets()`` of frames that carry readings."""
    def decode(data: bytes) -> Decoded:
        decoder = make()
        decoder.receive_data(data)
        frames: list[_Frame] = decoder.packets()
        _check_consumed(decoder, what)
        return frames, [reading for frame in frames for reading in frame.readings(0.0, SOURCE)]
    return decode


def _nonin_frames(make: Callable[[], nonin.PacketDecoder[Any]], what: str) -> Callable[[bytes], Decoded]:
    def decode(data: bytes) -> Decoded:
        decoder = make()
        decoder.receive_data(data)
        readings = decoder.readings(0.0, SOURCE)
        _check_consumed(decoder, what)
        return list(decoder.last_frames), readings
    return decode


def _o2ring(data: bytes) -> Decoded:
    decoder = o2ring.O2Decoder()
    decoder.receive_data(data)
    frames: list[Any] = []
    readings: list[Reading] = []
    while (frame := decoder.next_frame()) is not None:
        if frame.status == 0 and len(frame.data) >= o2ring.O2Sensors.MIN_SIZE:
            sensors = o2ring.O2Sensors.parse(frame.data)
            frames.append(sensors)
            readings += sensors.readings(0.0, SOURCE)
        else:
            frames.append(frame)
    _check_consumed(decoder, "O2Ring")
    return frames, readings


def _visomat(data: bytes) -> Decoded:
    decoder = visomat.FrameDecoder()
    decoder.receive_data(data)
    blocks = [visomat.MemoryBlock.parse(body) for body in decoder.frames()]
    _check_consumed(decoder, "Visomat")
    records = [record for block in blocks for records in block.users.values() for record in records]
    return blocks, [reading for record in records for reading in record.readings(SOURCE)]


def _contec_command(data: bytes) -> Decoded:
    if len(data) != contec.PACKET_SIZE:
        raise ProtocolError(f"Contec command needs {contec.PACKET_SIZE} bytes, got {len(data)}", code="truncated")
    packet_type, body = contec.unframe(data)
    if packet_type != contec.COMMAND:
        raise ProtocolError(f"not a Contec command: type {packet_type:#04x}")
    return [{"type": "command", "code": body[0]}], []


PROTOCOLS: dict[str, Callable[[bytes], Decoded]] = {
    "plx-spot-check": _single(plx.SpotCheck.parse),
    "plx-continuous": _single(plx.Continuous.parse),
    "blood-pressure": _single(blood_pressure.BloodPressureMeasurement.parse),
    "cuff-pressure": _single(blood_pressure.IntermediateCuffPressure.parse),
    "temperature": _single(thermometer.TemperatureMeasurement.parse),
    "heart-rate": _single(heart_rate.HeartRateMeasurement.parse),
    "glucose": _single(glucose.GlucoseMeasurement.parse),
    "weight": _single(weight.WeightMeasurement.parse),
    "contec-v7": _packets(contec.V7Decoder, "Contec V7"),
    "contec-legacy": _packets(contec.LegacyDecoder, "Contec legacy"),
    "berrymed": _packets(berrymed.BciDecoder, "BCI"),
    "nonin-df2": _nonin_frames(nonin.df2_decoder, "Nonin DF2"),
    "nonin-df7": _nonin_frames(nonin.df7_decoder, "Nonin DF7"),
    "nonin-df8": _packets(nonin.Df8Decoder, "Nonin DF8"),
    "nonin-df13": _packets(nonin.Df13Decoder, "Nonin DF13"),
    "o2ring": _o2ring,
    # Frames that carry no reading, so that every captured vector can be checked in the field.
    "plx-features": _single(plx.Features.parse),
    "racp": _single(racp.parse_indication),
    "contec-v7-command": _contec_command,
    "nonin-command": _single(nonin.parse_command),
    "o2ring-request": _single(o2ring.O2Request.parse),
    "visomat": _visomat,
}


def describe(value: Any) -> Any:
    """A JSON-ready view of a decoded frame: dataclass fields by name, MDER numbers with their
    exponent (precision), special values by reason, bytes as hex."""
    if isinstance(value, Mder):
        if value.absent is not None:
            return {"absent": value.absent.value}
        return {"value": value.value, "exponent": value.exponent}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {field.name: describe(getattr(value, field.name)) for field in dataclasses.fields(value)}
        return {"type": type(value).__name__} | fields
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): describe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, frozenset, set)):
        items = sorted(value) if isinstance(value, (frozenset, set)) else value
        return [describe(item) for item in items]
    return value


def reading_json(reading: Reading) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": reading.kind.value, "value": reading.value, "unit": reading.unit}
    if reading.absent is not None:
        out["absent"] = reading.absent.value
    if reading.status:
        out["status"] = sorted(reading.status)
    return out


def decode(protocol: str, data: bytes) -> dict[str, Any]:
    """``{"readings": [...], "frames": [...]}`` for ``data``; ProtocolError when it is malformed."""
    try:
        decoder = PROTOCOLS[protocol]
    except KeyError:
        raise ProtocolError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}",
                            code="unknown_protocol") from None
    frames, readings = decoder(data)
    return {"readings": [reading_json(r) for r in readings], "frames": describe(frames)}
