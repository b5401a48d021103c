"""Contec CMS50D+/CMS50E pulse oximeters over their USB-serial cable (CP210x).

Two incompatible firmware generations exist:

* **V7.0** ("Communication protocol of pulse oximeter V7.0", 115200 8N1). Byte 0 of a packet is
  its type (bit 7 clear); byte 1 holds bit 7 of each later byte (bit *i* for byte *i* + 2); every
  later byte is sent with bit 7 set. Real-time data is type 0x01, 9 bytes, about 60 per second,
  and only flows after the host sends command 0xA1. Host commands are type 0x7D packets.
* **legacy** (19200 8O1): a one-way stream of 5-byte packets, about 60 per second; byte 0
  carries the sync bit 7 (framed by :mod:`devices.syncbit`, as BerryMed BCI is). Source:
  atbrask/CMS50Dplus.

Everything here is sans-I/O: decoders take bytes and give packets; :mod:`devices.serial_source`
does the reading and writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Self

from devices import oximetry
from devices.bytestream import StreamDecoder
from devices.errors import ProtocolError
from devices.gatt.fields import flag_names, to_reading
from devices.ieee11073 import Mder
from devices.oximetry import INVALID_PULSE_RATE, INVALID_SPO2, SYNC_PACKET_SIZE, SyncPacket
from devices.reading import Kind, Reading
from devices.syncbit import SyncBitDecoder


PACKET_SIZE = 9
REALTIME = 0x01
COMMAND = 0x7D
_DATA_SIZE = PACKET_SIZE - 2
_MAX_UNKNOWN = 64  # an unknown packet type longer than this is line noise


class Command(IntEnum):
    """Host-to-device commands (V7.0 Table 7)."""

    START_REALTIME = 0xA1
    STOP_REALTIME = 0xA2
    STOP_STORAGE = 0xA7
    DEVICE_ID = 0xAA
    PI_SUPPORT = 0xAC
    KEEP_ALIVE = 0xAF  # "inform device connected", once per 5 s


def frame(packet_type: int, data: bytes) -> bytes:
    """A V7.0 packet: the type, the high-bit byte, then ``data`` (at most 7 bytes) with bit 7 set."""
    if not 0 <= packet_type < 0x80:
        raise ProtocolError(f"Contec packet type {packet_type:#04x} must have bit 7 clear")
    if len(data) > _DATA_SIZE:
        raise ProtocolError(f"Contec packet carries at most {_DATA_SIZE} data bytes, got {len(data)}")
    high = sum(1 << index for index, byte in enumerate(data) if byte & 0x80)
    return bytes([packet_type, 0x80 | high, *(0x80 | byte for byte in data)])


def unframe(packet: bytes) -> tuple[int, bytes]:
    """The type and the restored data bytes of one V7.0 packet."""
    if len(packet) < 2:
        raise ProtocolError(f"Contec packet needs at least 2 bytes, got {len(packet)}")
    if packet[0] & 0x80:
        raise ProtocolError(f"Contec packet type byte {packet[0]:#04x} has bit 7 set")
    if any(not byte & 0x80 for byte in packet[1:]):
        raise ProtocolError(f"Contec packet {packet.hex()} has a body byte with bit 7 clear")
    high = packet[1]
    data = bytes((byte & 0x7F) | ((high >> index) & 1) << 7 for index, byte in enumerate(packet[2:]))
    return packet[0], data


def command(code: Command | int) -> bytes:
    """The 9-byte host command packet, e.g. ``7D 81 A1 80 80 80 80 80 80`` for START_REALTIME."""
    return frame(COMMAND, bytes([code, 0, 0, 0, 0, 0, 0]))


INVALID_PI = 0xFFFF

_STATUS_BITS = {4: "searching_too_long", 5: "low_spo2", 7: "probe_error"}


@dataclass(frozen=True, slots=True)
class RealTime:
    """One V7.0 real-time packet (type 0x01)."""

    signal: int = 0  # 0-8
    status: int = 0  # byte 2 bits 4-7 (see _STATUS_BITS; bit 6 is the beep)
    pleth: int = 0  # 0-127
    searching_pulse: bool = False
    bargraph: int = 0  # 0-15
    pulse_rate: int = INVALID_PULSE_RATE
    spo2: int = INVALID_SPO2
    perfusion_index: int = INVALID_PI  # x100

    @classmethod
    def parse(cls, packet: bytes) -> Self:
        if len(packet) != PACKET_SIZE:
            raise ProtocolError(f"Contec real-time packet needs {PACKET_SIZE} bytes, got {len(packet)}")
        packet_type, data = unframe(packet)
        if packet_type != REALTIME:
            raise ProtocolError(f"not a Contec real-time packet: type {packet_type:#04x}")
        flags, pleth, bar, pulse, spo2, pi_low, pi_high = data
        pi_valid = not bar & 0x10
        return cls(signal=flags & 0x0F, status=flags & 0xF0, pleth=pleth & 0x7F, searching_pulse=bool(pleth & 0x80),
                   bargraph=bar & 0x0F, pulse_rate=pulse, spo2=spo2,
                   perfusion_index=pi_low | pi_high << 8 if pi_valid else INVALID_PI)

    def __bytes__(self) -> bytes:
        pi = self.perfusion_index
        bar = self.bargraph | (0x10 if pi == INVALID_PI else 0)
        pi_bytes = (0, 0) if pi == INVALID_PI else (pi & 0xFF, pi >> 8)
        return frame(REALTIME, bytes([self.signal | self.status, self.pleth | self.searching_pulse << 7, bar,
                                      self.pulse_rate, self.spo2, *pi_bytes]))

    @property
    def flags(self) -> frozenset[str]:
        names = flag_names(self.status, _STATUS_BITS)
        return names | {"searching_pulse"} if self.searching_pulse else names

    def readings(self, time: float, source: str) -> list[Reading]:
        pi = None if self.perfusion_index == INVALID_PI else to_reading(
            Kind.PERFUSION_INDEX, Mder(self.perfusion_index, -2), "%", time, source, self.flags)
        return oximetry.readings(self.spo2, self.pulse_rate, time, source, self.flags, pi)


class V7Decoder(StreamDecoder):
    """Sans-I/O stream decoder for the V7.0 protocol: resynchronises on type bytes (bit 7 clear).

    Packets of other types (storage, device ID, ...) are skipped; ``skipped`` counts them and
    ``dropped_bytes`` counts noise discarded while resynchronising.
    """

    def __init__(self) -> None:
        super().__init__("Contec V7")
        self.skipped = 0

    def packets(self) -> list[RealTime]:
        out = []
        while (packet := self._next()) is not None:
            out.append(packet)
        return out

    def _next(self) -> RealTime | None:
        while True:
            start = next((i for i, byte in enumerate(self._buffer) if not byte & 0x80), len(self._buffer))
            self._drop(start)
            if not self._buffer:
                return None
            end = next((i for i in range(1, len(self._buffer)) if not self._buffer[i] & 0x80), None)
            if self._buffer[0] != REALTIME:
                if end is None and len(self._buffer) <= _MAX_UNKNOWN:
                    return None  # wait for the next type byte to know where this packet ends
                self.skipped += 1
                del self._buffer[:end if end is not None else len(self._buffer)]
                continue
            if end is not None and end < PACKET_SIZE:
                self._drop(end)  # cut short by the next packet
                continue
            if len(self._buffer) < PACKET_SIZE:
                return None
            packet = RealTime.parse(bytes(self._buffer[:PACKET_SIZE]))
            del self._buffer[:PACKET_SIZE]
            return packet


LEGACY_SIZE = SYNC_PACKET_SIZE


@dataclass(frozen=True, slots=True)
class LegacyPacket:
    """One packet of the legacy 5-byte stream (atbrask/CMS50Dplus).

    Byte 0: bit 7 sync, bits 0-3 signal strength, bit 4 finger out, bit 5 SpO2 dropping, bit 6
    pulse beep. Byte 1: pleth. Byte 2: bits 0-3 bar graph, bit 4 probe error, bit 5 searching,
    bit 6 bit 7 of the pulse rate. Byte 3: pulse rate bits 0-6. Byte 4: SpO2. As in V7.0, pulse
    rate 0xFF and SpO2 0x7F mean "no reading".
    """

    signal_strength: int = 0  # 0-15
    finger_out: bool = False
    spo2_dropping: bool = False
    pulse_beep: bool = False
    pleth: int = 0  # 0-127
    bargraph: int = 0  # 0-15
    probe_error: bool = False
    searching: bool = False
    pulse_rate: int = INVALID_PULSE_RATE  # 0-255
    spo2: int = INVALID_SPO2  # 0-127

    @classmethod
    def parse(cls, data: bytes) -> Self:
        f = SyncPacket.parse(data, "Contec legacy")
        return cls(signal_strength=f.signal_strength, finger_out=f.head_flags[0], spo2_dropping=f.head_flags[1],
                   pulse_beep=f.head_flags[2], pleth=f.pleth, bargraph=f.bargraph, probe_error=f.bar_flags[0],
                   searching=f.bar_flags[1], pulse_rate=f.pulse_rate, spo2=f.spo2)

    def __bytes__(self) -> bytes:
        return bytes(SyncPacket(self.signal_strength, (self.finger_out, self.spo2_dropping, self.pulse_beep),
                                self.pleth, self.bargraph, (self.probe_error, self.searching),
                                self.pulse_rate, self.spo2))

    @property
    def status(self) -> frozenset[str]:
        flags = {"finger_out": self.finger_out, "spo2_dropping": self.spo2_dropping,
                 "probe_error": self.probe_error, "searching": self.searching}
        return frozenset(name for name, on in flags.items() if on)

    def readings(self, time: float, source: str) -> list[Reading]:
        return oximetry.readings(self.spo2, self.pulse_rate, time, source, self.status)


class LegacyDecoder(SyncBitDecoder[LegacyPacket]):
    """Sans-I/O decoder of the legacy stream: any chunking, resynchronising on the sync bit."""

    def __init__(self) -> None:
        super().__init__(LegacyPacket.parse, LEGACY_SIZE, "Contec legacy")
