"""Wellue/Viatom O2Ring and Checkme O2 (proprietary BLE): framed commands with a CRC-8.

Host frame ``AA cmd ~cmd block(le16) len(le16) data crc8``; device frame
``55 status ~status block(le16) len(le16) data crc8``. CRC-8 uses polynomial 0x07 and initial
value 0. A response longer than one notification arrives in pieces: :class:`O2Decoder` is a
sans-I/O stream decoder that reassembles frames and resynchronises on the 0x55 header.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Self

from devices.bytestream import StreamDecoder
from devices.errors import ProtocolError
from devices.gatt.fields import collect, to_reading
from devices.ieee11073 import Mder
from devices.reading import Absent, Kind, Reading

log = logging.getLogger(__name__)

SERVICE = "14839ac4-7d7e-415c-9a42-167340cf2339"
WRITE = "8b00ace7-eb0b-49b0-bbe9-9aee0a26e1a3"
NOTIFY = "0734594a-a8e7-4b1a-a6b1-cd5243059a57"

REQUEST_HEADER = 0xAA
RESPONSE_HEADER = 0x55
_HEAD = struct.Struct("<BBBHH")
OVERHEAD = _HEAD.size + 1
NO_READING = 0xFF


class O2Command(IntEnum):
    FILE_OPEN = 0x03
    FILE_READ = 0x04
    FILE_CLOSE = 0x05
    INFO = 0x14
    PING = 0x15
    CONFIG = 0x16
    READ_SENSORS = 0x17
    FACTORY_RESET = 0x18


def crc8(data: bytes) -> int:
    """CRC-8, polynomial 0x07, initial value 0, no reflection, no final XOR."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc << 1 ^ 0x07) & 0xFF if crc & 0x80 else crc << 1
    return crc


def _frame(header: int, code: int, block: int, data: bytes) -> bytes:
    body = _HEAD.pack(header, code, code ^ 0xFF, block, len(data)) + data
    return body + bytes([crc8(body)])


def _unframe(data: bytes, header: int, what: str) -> tuple[int, int, bytes]:
    if len(data) < OVERHEAD:
        raise ProtocolError(f"O2 {what}: {len(data)} bytes is shorter than the {OVERHEAD}-byte frame overhead")
    start, code, check, block, length = _HEAD.unpack_from(data)
    if start != header:
        raise ProtocolError(f"O2 {what}: header {start:#04x}, expected {header:#04x}")
    if code ^ 0xFF != check:
        raise ProtocolError(f"O2 {what}: code {code:#04x} and its complement {check:#04x} disagree")
    if len(data) != OVERHEAD + length:
        raise ProtocolError(f"O2 {what}: length field says {length} data bytes, frame has {len(data) - OVERHEAD}")
    if crc8(data[:-1]) != data[-1]:
        raise ProtocolError(f"O2 {what}: CRC {data[-1]:#04x}, computed {crc8(data[:-1]):#04x}")
    return code, block, bytes(data[_HEAD.size:-1])


@dataclass(frozen=True, slots=True)
class O2Request:
    """A host-to-ring command."""

    command: int
    block: int = 0
    data: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> Self:
        return cls(*_unframe(data, REQUEST_HEADER, "request"))

    def __bytes__(self) -> bytes:
        return _frame(REQUEST_HEADER, self.command, self.block, self.data)


@dataclass(frozen=True, slots=True)
class O2Response:
    """A ring-to-host answer; ``status`` 0 means success."""

    status: int
    block: int = 0
    data: bytes = b""

    @classmethod
    def parse(cls, data: bytes) -> Self:
        return cls(*_unframe(data, RESPONSE_HEADER, "response"))

    def __bytes__(self) -> bytes:
        return _frame(RESPONSE_HEADER, self.status, self.block, self.data)


@dataclass(frozen=True, slots=True)
class O2Sensors:
    """The READ_SENSORS (0x17) payload. 0xFF in SpO2/HR means no reading. Other bytes are kept raw."""

    spo2: int
    heart_rate: int
    battery: int
    charging: int
    motion: int
    strength: int
    finger: bool
    raw: bytes

    MIN_SIZE = 12

    @classmethod
    def parse(cls, data: bytes) -> Self:
        if len(data) < cls.MIN_SIZE:
            raise ProtocolError(f"O2 sensors payload needs {cls.MIN_SIZE} bytes, got {len(data)}")
        return cls(data[0], data[1], data[7], data[8], data[9], data[10], bool(data[11]), bytes(data))

    @classmethod
    def build(cls, spo2: int, heart_rate: int, battery: int = 100, *, finger: bool = True,
              motion: int = 0, strength: int = 0, charging: int = 0) -> Self:
        raw = bytes([spo2, heart_rate, NO_READING, 0, 0, 0, 0, battery, charging, motion, strength,
                     finger, 0])
        return cls.parse(raw)

    def __bytes__(self) -> bytes:
        return self.raw

    def readings(self, time: float, source: str) -> list[Reading]:
        status = frozenset() if self.finger else frozenset({"no_finger"})
        nan = Mder.special(Absent.NAN)
        spo2 = nan if self.spo2 == NO_READING else Mder(self.spo2)
        pulse = nan if self.heart_rate == NO_READING else Mder(self.heart_rate)
        return collect(to_reading(Kind.SPO2, spo2, "%", time, source, status),
                       to_reading(Kind.PULSE_RATE, pulse, "/min", time, source, status))


def read_sensors() -> bytes:
    """The poll the host writes about once a second: ``AA 17 E8 00 00 00 00 1B``."""
    return bytes(O2Request(O2Command.READ_SENSORS))


class O2Decoder(StreamDecoder):
    """Sans-I/O reassembly of device frames split across notifications."""

    MAX_DATA = 4096  # longer length fields are garbage, not frames

    def __init__(self) -> None:
        super().__init__("O2Ring")

    def next_frame(self) -> O2Response | None:
        while True:
            start = self._buffer.find(RESPONSE_HEADER)
            self._drop(len(self._buffer) if start < 0 else start)
            if len(self._buffer) < _HEAD.size:
                return None
            _, code, check, _, length = _HEAD.unpack_from(self._buffer)
            if code ^ 0xFF != check or length > self.MAX_DATA:
                self._drop(1)
                continue
            if len(self._buffer) < OVERHEAD + length:
                return None
            frame = bytes(self._buffer[:OVERHEAD + length])
            try:
                response = O2Response.parse(frame)
            except ProtocolError as exc:
                log.debug("O2: %s; resynchronising", exc)
                self._drop(1)
                continue
            del self._buffer[:len(frame)]
            return response
