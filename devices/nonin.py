"""Nonin pulse oximeters (OEM III modules, 9560 Onyx II, ...) over serial: 9600 8N1.

Source: *Nonin 9560 Bluetooth Specification* (mattjlewis/NoninPulseOx) and the parsers in
pez-globo/pufferfish-software and drphrozen/javautilityclasses. Four data formats:

* **DF2**: 5-byte frames ``01 STATUS PLETH FLOAT CHK``, 75 frames/s, 25 frames = 1 packet; the
  ``FLOAT`` byte of frames 1-3 carries the 4-beat heart rate (bits 8-7, then 6-0) and SpO2.
* **DF7**: as DF2 but ``STATUS PLETH_MSB PLETH_LSB FLOAT CHK`` (16-bit pleth, no ``01``).
* **DF8**: 4 bytes once a second, ``STATUS HR(6-0) SPO2 STATUS2``; status bit 7 marks the first
  byte (framed by :mod:`devices.syncbit`).
* **DF13**: spot-check packets ``00 02 00 0D len(be16) <data> CHK 03`` with a BCD time stamp,
  status, 9-bit heart rate and SpO2 (the 9560's default).

Frame checksums are the low byte of the sum of the bytes before them. Missing data: heart rate
511, SpO2 127. The host selects the format with ``02 70 02 02 ZZ 03`` and sets the clock with
``02 72 06 YY MM DD hh mm ss 03``; the device answers ACK 0x06 or NAK 0x15, and only accepts a
format change during the first 5 s after connecting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Generic, Self, TypeVar

from devices.bytestream import StreamDecoder
from devices.errors import ProtocolError
from devices.gatt.fields import collect, flag_names, to_reading
from devices.ieee11073 import Mder
from devices.reading import Absent, Kind, Reading
from devices.syncbit import SyncBitDecoder

log = logging.getLogger(__name__)

STX, ETX, ACK, NAK = 0x02, 0x03, 0x06, 0x15
MISSING_HR = 511
MISSING_SPO2 = 127
FRAMES_PER_PACKET = 25


class DataFormat(IntEnum):
    DF2 = 0x02
    DF7 = 0x07
    DF8 = 0x08
    DF13 = 0x0D


def _checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def _oximetry(heart_rate: int, spo2: int, time: float, source: str, status: frozenset[str]) -> list[Reading]:
    nan = Mder.special(Absent.NAN)
    pulse = nan if heart_rate == MISSING_HR else Mder(heart_rate)
    saturation = nan if spo2 == MISSING_SPO2 else Mder(spo2)
    return collect(to_reading(Kind.SPO2, saturation, "%", time, source, status),
                   to_reading(Kind.PULSE_RATE, pulse, "/min", time, source, status))


# -- host commands ---------------------------------------------------------------------------

_SELECT_FORMAT, _TIME = 0x70, 0x72


@dataclass(frozen=True, slots=True)
class SelectFormat:
    """``02 70 02 02 ZZ 03``: switch the device to data format ZZ."""

    data_format: DataFormat

    def __bytes__(self) -> bytes:
        return bytes([STX, _SELECT_FORMAT, 2, 2, self.data_format, ETX])


@dataclass(frozen=True, slots=True)
class SetTime:
    """``02 72 06 YY MM DD hh mm ss 03`` (binary fields, years 2000-2099)."""

    when: datetime

    def __bytes__(self) -> bytes:
        w = self.when
        return bytes([STX, _TIME, 6, w.year - 2000, w.month, w.day, w.hour, w.minute, w.second, ETX])


NoninCommand = SelectFormat | SetTime


def parse_command(data: bytes) -> NoninCommand:
    """One host command (for the simulator and ``farlink devices decode nonin-command``)."""
    if len(data) < 4 or data[0] != STX or data[-1] != ETX:
        raise ProtocolError(f"Nonin command must be STX ... ETX, got {data.hex()}")
    op, length, body = data[1], data[2], data[3:-1]
    if len(body) != length:
        raise ProtocolError(f"Nonin command {op:#04x} announces {length} data bytes, carries {len(body)}")
    if op == _SELECT_FORMAT and length == 2 and body[0] == 2:
        try:
            return SelectFormat(DataFormat(body[1]))
        except ValueError:
            raise ProtocolError(f"Nonin select-format: unknown data format {body[1]:#04x}") from None
    if op == _TIME and length == 6:
        try:
            return SetTime(datetime(2000 + body[0], *body[1:]))
        except ValueError as exc:
            raise ProtocolError(f"Nonin set-time: impossible time {body.hex()}: {exc}") from None
    raise ProtocolError(f"unknown Nonin command {op:#04x} with {length} data bytes")


class CommandDecoder:
    """Sans-I/O: host commands (``STX op len data ETX``) out of a byte stream, for simulators."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def commands(self) -> list[NoninCommand]:
        out: list[NoninCommand] = []
        while True:
            start = self._buffer.find(STX)
            if start < 0:
                self._buffer.clear()
                return out
            del self._buffer[:start]
            if len(self._buffer) < 3 or len(self._buffer) < 4 + self._buffer[2]:
                return out
            size = 4 + self._buffer[2]
            try:
                out.append(parse_command(bytes(self._buffer[:size])))
            except ProtocolError as exc:
                log.debug("Nonin: ignored host bytes: %s", exc)
                del self._buffer[:1]
                continue
            del self._buffer[:size]


# -- DF2 and DF7: 25-frame packets -----------------------------------------------------------

_STATUS_BITS = {6: "sensor_disconnected", 5: "artifact", 4: "out_of_track", 3: "sensor_alarm"}


def _perfusion(status: int) -> frozenset[str]:
    """Bits 2 (red) and 1 (green) of a DF2/DF7 status; both set mean yellow."""
    return {0b100: frozenset({"low_perfusion"}), 0b110: frozenset({"marginal_perfusion"})}.get(
        status & 0b110, frozenset())


@dataclass(frozen=True, slots=True)
class Df2Frame:
    """``01 STATUS PLETH FLOAT CHK``; ``status`` bit 7 is always set, bit 0 marks frame 1."""

    status: int = 0x80
    pleth: int = 0
    float_byte: int = 0

    SIZE = 5

    @classmethod
    def parse(cls, data: bytes) -> Self:
        if len(data) != cls.SIZE:
            raise ProtocolError(f"Nonin DF2 frame needs {cls.SIZE} bytes, got {len(data)}")
        if data[0] != 0x01 or not data[1] & 0x80:
            raise ProtocolError(f"Nonin DF2 frame must start 01 and a status with bit 7 set: {data.hex()}")
        if _checksum(data[:4]) != data[4]:
            raise ProtocolError(f"Nonin DF2 frame {data.hex()}: checksum {data[4]:#04x}, "
                                f"computed {_checksum(data[:4]):#04x}")
        return cls(data[1], data[2], data[3])

    def __bytes__(self) -> bytes:
        body = bytes([0x01, self.status | 0x80, self.pleth, self.float_byte])
        return body + bytes([_checksum(body)])

    @property
    def sync(self) -> bool:
        return bool(self.status & 0x01)


@dataclass(frozen=True, slots=True)
class Df7Frame:
    """``STATUS PLETH_MSB PLETH_LSB FLOAT CHK``; as DF2 with a 16-bit pleth."""

    status: int = 0x80
    pleth: int = 0
    float_byte: int = 0

    SIZE = 5

    @classmethod
    def parse(cls, data: bytes) -> Self:
        if len(data) != cls.SIZE:
            raise ProtocolError(f"Nonin DF7 frame needs {cls.SIZE} bytes, got {len(data)}")
        if not data[0] & 0x80:
            raise ProtocolError(f"Nonin DF7 frame status {data[0]:#04x} lacks bit 7")
        if _checksum(data[:4]) != data[4]:
            raise ProtocolError(f"Nonin DF7 frame {data.hex()}: checksum {data[4]:#04x}, "
                                f"computed {_checksum(data[:4]):#04x}")
        return cls(data[0], data[1] << 8 | data[2], data[3])

    def __bytes__(self) -> bytes:
        body = bytes([self.status | 0x80, self.pleth >> 8, self.pleth & 0xFF, self.float_byte])
        return body + bytes([_checksum(body)])

    @property
    def sync(self) -> bool:
        return bool(self.status & 0x01)


F = TypeVar("F", Df2Frame, Df7Frame)


class PacketDecoder(StreamDecoder, Generic[F]):
    """Sans-I/O DF2/DF7 decoder: finds checksummed frames in any chunking (dropping and counting
    bytes that do not start one), numbers them from the SYNC frame and, once frames 1-3 of a
    packet are in, yields the packet's 4-beat-average heart rate and SpO2."""

    def __init__(self, parse: Callable[[bytes], F], label: str) -> None:
        super().__init__(label)
        self._parse = parse
        self._number = 0  # of the last frame within its packet; 0 = not synchronised
        self._floats: dict[int, int] = {}
        self.last_frames: list[F] = []  # the frames the last readings() call decoded, for inspection

    def readings(self, time: float, source: str) -> list[Reading]:
        out: list[Reading] = []
        self.last_frames = []
        while len(self._buffer) >= 5:
            try:
                frame = self._parse(bytes(self._buffer[:5]))
            except ProtocolError:
                self._drop(1)
                continue
            del self._buffer[:5]
            self.last_frames.append(frame)
            out += self._number_frame(frame, time, source)
        return out

    def _number_frame(self, frame: F, time: float, source: str) -> list[Reading]:
        if frame.sync:
            self._number, self._floats = 1, {}
        elif self._number:
            self._number = self._number + 1 if self._number < FRAMES_PER_PACKET else 0
        if not self._number:
            return []
        self._floats[self._number] = frame.float_byte
        if self._number != 3:
            return []
        heart_rate = (self._floats[1] & 0x03) << 7 | self._floats[2] & 0x7F
        status = flag_names(frame.status, _STATUS_BITS) | _perfusion(frame.status)
        return _oximetry(heart_rate, self._floats[3] & 0x7F, time, source, status)


def df2_decoder() -> PacketDecoder[Df2Frame]:
    return PacketDecoder(Df2Frame.parse, "Nonin DF2")


def df7_decoder() -> PacketDecoder[Df7Frame]:
    return PacketDecoder(Df7Frame.parse, "Nonin DF7")


def packet_floats(heart_rate: int, spo2: int, firmware: int = 0x21) -> list[int]:
    """The FLOAT bytes of one 25-frame packet carrying ``heart_rate`` and ``spo2`` (for simulators)."""
    floats = [0] * FRAMES_PER_PACKET
    floats[:4] = [heart_rate >> 7 & 0x03, heart_rate & 0x7F, spo2 & 0x7F, firmware]
    return floats


# -- DF8: one 4-byte frame per second ----------------------------------------------------------

_DF8_STATUS = {6: "sensor_disconnected", 5: "out_of_track", 4: "low_perfusion", 3: "marginal_perfusion",
               2: "artifact"}
_DF8_STATUS2 = {3: "sensor_fault", 2: "spot_check_mode", 1: "battery_critical", 0: "low_battery"}


@dataclass(frozen=True, slots=True)
class Df8Frame:
    """``STATUS HR SPO2 STATUS2``: status bit 7 set, bits 1-0 are heart-rate bits 8-7."""

    status: int = 0  # flag bits 2-6 (see _DF8_STATUS)
    heart_rate: int = MISSING_HR
    spo2: int = MISSING_SPO2
    status2: int = 0  # bits 0-3 (see _DF8_STATUS2)

    SIZE = 4

    @classmethod
    def parse(cls, data: bytes) -> Self:
        if len(data) != cls.SIZE:
            raise ProtocolError(f"Nonin DF8 frame needs {cls.SIZE} bytes, got {len(data)}")
        if not data[0] & 0x80 or any(byte & 0x80 for byte in data[1:]):
            raise ProtocolError(f"Nonin DF8 frame {data.hex()}: only the status byte may have bit 7 set")
        return cls(data[0] & 0x7C, (data[0] & 0x03) << 7 | data[1], data[2], data[3])

    def __bytes__(self) -> bytes:
        return bytes([0x80 | self.status & 0x7C | self.heart_rate >> 7 & 0x03, self.heart_rate & 0x7F,
                      self.spo2 & 0x7F, self.status2 & 0x7F])

    def readings(self, time: float, source: str) -> list[Reading]:
        status = flag_names(self.status, _DF8_STATUS) | flag_names(self.status2, _DF8_STATUS2)
        return _oximetry(self.heart_rate, self.spo2, time, source, status)


class Df8Decoder(SyncBitDecoder[Df8Frame]):
    def __init__(self) -> None:
        super().__init__(Df8Frame.parse, Df8Frame.SIZE, "Nonin DF8")


# -- DF13: spot-check packets -----------------------------------------------------------------

_DF13_HEAD = bytes([0x00, STX, 0x00, 0x0D])
_DF13_MIN_DATA = 14
_DF13_MAX_DATA = 64  # "the data section is expandable"; longer lengths are noise
_DF13_STATUS = {9: "smart_point", 8: "no_measurement", 4: "from_memory", 0: "low_battery"}


def _bcd(value: int) -> int:
    return (value // 10) << 4 | value % 10


def _from_bcd(byte: int) -> int:
    high, low = byte >> 4, byte & 0x0F
    if high > 9 or low > 9:
        raise ProtocolError(f"Nonin DF13 time byte {byte:#04x} is not BCD")
    return high * 10 + low


@dataclass(frozen=True, slots=True)
class Df13Packet:
    """One spot-check: the device's local time, status bits, 9-bit heart rate and SpO2."""

    taken: datetime
    status: int = 0
    heart_rate: int = MISSING_HR
    spo2: int = MISSING_SPO2

    SIZE = 6 + _DF13_MIN_DATA + 2

    @classmethod
    def parse(cls, data: bytes) -> Self:
        if len(data) < 6 or data[:4] != _DF13_HEAD:
            raise ProtocolError(f"Nonin DF13 packet must start {_DF13_HEAD.hex()}, got {data[:4].hex()}")
        length = int.from_bytes(data[4:6], "big")
        if not _DF13_MIN_DATA <= length <= _DF13_MAX_DATA or len(data) != 6 + length + 2:
            raise ProtocolError(f"Nonin DF13 packet: data length {length} does not fit {len(data)} bytes")
        body, check, end = data[6:6 + length], data[-2], data[-1]
        if end != ETX:
            raise ProtocolError(f"Nonin DF13 packet ends with {end:#04x}, not ETX")
        if _checksum(body) != check:
            raise ProtocolError(f"Nonin DF13 checksum {check:#04x}, computed {_checksum(body):#04x}")
        century, year, month, day, hour, minute, second = (_from_bcd(byte) for byte in body[:7])
        try:
            taken = datetime(century * 100 + year, month, day, hour, minute, second)
        except ValueError as exc:
            raise ProtocolError(f"Nonin DF13 packet has an impossible time {body[:7].hex()}: {exc}") from None
        return cls(taken, int.from_bytes(body[8:10], "big"), int.from_bytes(body[10:12], "big"), body[13])

    def __bytes__(self) -> bytes:
        t = self.taken
        body = bytes([_bcd(t.year // 100), _bcd(t.year % 100), _bcd(t.month), _bcd(t.day), _bcd(t.hour),
                      _bcd(t.minute), _bcd(t.second), 0, *self.status.to_bytes(2, "big"),
                      *self.heart_rate.to_bytes(2, "big"), 0, self.spo2])
        return _DF13_HEAD + len(body).to_bytes(2, "big") + body + bytes([_checksum(body), ETX])

    def readings(self, time: float, source: str) -> list[Reading]:
        """Stamped with the device's clock (set by the station on connect), not ``time``."""
        status = flag_names(self.status, _DF13_STATUS)
        if self.status & 1 << 8:  # "no measurement": whatever the value bytes hold is not one
            return _oximetry(MISSING_HR, MISSING_SPO2, self.taken.timestamp(), source, status)
        return _oximetry(self.heart_rate, self.spo2, self.taken.timestamp(), source, status)


class Df13Decoder(StreamDecoder):
    """Sans-I/O: DF13 packets out of a byte stream (ACK/NAK bytes and noise are dropped)."""

    def __init__(self) -> None:
        super().__init__("Nonin DF13")

    def packets(self) -> list[Df13Packet]:
        out = []
        while True:
            start = self._buffer.find(_DF13_HEAD)
            if start < 0:
                # keep a possible start of the header, drop the rest
                keep = next((n for n in (3, 2, 1) if self._buffer.endswith(_DF13_HEAD[:n])), 0)
                self._drop(len(self._buffer) - keep)
                return out
            self._drop(start)
            if len(self._buffer) < 6:
                return out
            length = int.from_bytes(self._buffer[4:6], "big")
            if not _DF13_MIN_DATA <= length <= _DF13_MAX_DATA:
                self._drop(1)
                continue
            if len(self._buffer) < 6 + length + 2:
                return out
            try:
                out.append(Df13Packet.parse(bytes(self._buffer[:6 + length + 2])))
            except ProtocolError as exc:
                log.debug("Nonin DF13: %s; resynchronising", exc)
                self._drop(1)
                continue
            del self._buffer[:6 + length + 2]


Reader = Callable[[bytes, float, str], list[Reading]]


def reader(data_format: DataFormat) -> Reader:
    """A stream reader for ``data_format``: each call takes the next chunk and gives its readings."""
    if data_format is DataFormat.DF8:
        df8 = Df8Decoder()

        def read_df8(data: bytes, time: float, source: str) -> list[Reading]:
            df8.receive_data(data)
            return [reading for frame in df8.packets() for reading in frame.readings(time, source)]
        return read_df8
    if data_format is DataFormat.DF13:
        df13 = Df13Decoder()

        def read_df13(data: bytes, time: float, source: str) -> list[Reading]:
            df13.receive_data(data)
            return [reading for packet in df13.packets() for reading in packet.readings(time, source)]
        return read_df13
    frames = df2_decoder() if data_format is DataFormat.DF2 else df7_decoder()

    def read_frames(data: bytes, time: float, source: str) -> list[Reading]:
        frames.receive_data(data)
        return frames.readings(time, source)
    return read_frames
