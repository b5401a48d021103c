"""BerryMed "BCI protocol" oximeters: 5-byte packets at ~100 Hz, sync on bit 7 of the first byte.

Over BLE the packets arrive through the ISSC transparent-UART service, and notification
boundaries do not line up with packet boundaries: :class:`BciDecoder` is a sans-I/O stream
decoder that resynchronises on bit 7 (:mod:`devices.syncbit`, shared with the legacy Contec
stream) and drops (and counts) bytes that cannot start a packet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from devices.errors import ProtocolError
from devices.gatt.fields import collect, to_reading
from devices.ieee11073 import Mder
from devices.reading import Absent, Kind, Reading
from devices.syncbit import SyncBitDecoder

SERVICE = "49535343-fe7d-4ae5-8fa9-9fafd205e455"
NOTIFY = "49535343-1e4d-4bd9-ba61-23c647249616"
WRITE = "49535343-8841-43f4-a8d4-ecbe34729bb3"

PACKET_SIZE = 5
INVALID_PULSE_RATE = 0xFF
INVALID_SPO2 = 0x7F


@dataclass(frozen=True, slots=True)
class BciPacket:
    """One BCI packet (BCI Protocol v1.2)."""

    signal_strength: int = 0  # 0-15
    no_signal: bool = False
    probe_unplugged: bool = False
    pulse_beep: bool = False
    pleth: int = 0  # 0-127, 0 = invalid
    bargraph: int = 0  # 0-15, 0 = invalid
    no_finger: bool = False
    pulse_searching: bool = False
    pulse_rate: int = INVALID_PULSE_RATE  # 0-255
    spo2: int = INVALID_SPO2  # 0-127

    @classmethod
    def parse(cls, data: bytes) -> Self:
        if len(data) != PACKET_SIZE:
            raise ProtocolError(f"BCI packet needs {PACKET_SIZE} bytes, got {len(data)}")
        if not data[0] & 0x80:
            raise ProtocolError(f"BCI packet byte 0 ({data[0]:#04x}) lacks the sync bit 7")
        for index in range(1, PACKET_SIZE):
            if data[index] & 0x80:
                raise ProtocolError(f"BCI packet byte {index} ({data[index]:#04x}) has bit 7 set")
        head, pleth, bar, pulse_low, spo2 = data
        return cls(
            signal_strength=head & 0x0F, no_signal=bool(head & 0x10), probe_unplugged=bool(head & 0x20),
            pulse_beep=bool(head & 0x40), pleth=pleth, bargraph=bar & 0x0F, no_finger=bool(bar & 0x10),
            pulse_searching=bool(bar & 0x20), pulse_rate=(bar & 0x40) << 1 | pulse_low, spo2=spo2,
        )

    def __bytes__(self) -> bytes:
        head = (0x80 | self.signal_strength | self.no_signal << 4 | self.probe_unplugged << 5
                | self.pulse_beep << 6)
        bar = self.bargraph | self.no_finger << 4 | self.pulse_searching << 5 | (self.pulse_rate & 0x80) >> 1
        return bytes([head, self.pleth, bar, self.pulse_rate & 0x7F, self.spo2])

    @property
    def status(self) -> frozenset[str]:
        flags = {"no_signal": self.no_signal, "probe_unplugged": self.probe_unplugged,
                 "no_finger": self.no_finger, "pulse_searching": self.pulse_searching}
        return frozenset(name for name, on in flags.items() if on)

    def readings(self, time: float, source: str) -> list[Reading]:
        nan = Mder.special(Absent.NAN)
        spo2 = nan if self.spo2 == INVALID_SPO2 else Mder(self.spo2)
        pulse = nan if self.pulse_rate == INVALID_PULSE_RATE else Mder(self.pulse_rate)
        return collect(to_reading(Kind.SPO2, spo2, "%", time, source, self.status),
                       to_reading(Kind.PULSE_RATE, pulse, "/min", time, source, self.status))


class BciDecoder(SyncBitDecoder[BciPacket]):
    """Sans-I/O BCI stream decoder (notification boundaries need not match packet boundaries)."""

    def __init__(self) -> None:
        super().__init__(BciPacket.parse, PACKET_SIZE, "BCI")
