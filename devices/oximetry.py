"""What the Contec and BerryMed oximeter protocols share.

Both mark "no reading" with pulse rate 0xFF and SpO2 0x7F. BerryMed BCI and the legacy Contec
CMS50D+ stream also share one 5-byte packet layout (the vendors only name its flags
differently, so each keeps its own packet class):

* byte 0: bit 7 sync, bits 0-3 signal strength, bits 4-6 three flags;
* byte 1: pleth (0-127);
* byte 2: bits 0-3 bar graph, bits 4-5 two flags, bit 6 = bit 7 of the pulse rate;
* byte 3: pulse rate bits 0-6; byte 4: SpO2.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.errors import ProtocolError
from devices.gatt.fields import collect, to_reading
from devices.ieee11073 import Mder
from devices.reading import Absent, Kind, Reading

INVALID_PULSE_RATE = 0xFF
INVALID_SPO2 = 0x7F
SYNC_PACKET_SIZE = 5


@dataclass(frozen=True, slots=True)
class SyncPacket:
    """The fields of a 5-byte packet, flags by bit position."""

    signal_strength: int  # 0-15
    head_flags: tuple[bool, bool, bool]  # byte 0 bits 4, 5, 6
    pleth: int  # 0-127
    bargraph: int  # 0-15
    bar_flags: tuple[bool, bool]  # byte 2 bits 4, 5
    pulse_rate: int  # 0-255
    spo2: int  # 0-127

    @classmethod
    def parse(cls, data: bytes, label: str) -> SyncPacket:
        if len(data) != SYNC_PACKET_SIZE:
            raise ProtocolError(f"{label} packet needs {SYNC_PACKET_SIZE} bytes, got {len(data)}")
        if not data[0] & 0x80:
            raise ProtocolError(f"{label} packet byte 0 ({data[0]:#04x}) lacks the sync bit 7")
        for index in range(1, SYNC_PACKET_SIZE):
            if data[index] & 0x80:
                raise ProtocolError(f"{label} packet byte {index} ({data[index]:#04x}) has bit 7 set")
        head, pleth, bar, pulse_low, spo2 = data
        return cls(signal_strength=head & 0x0F, head_flags=(bool(head & 0x10), bool(head & 0x20), bool(head & 0x40)),
                   pleth=pleth, bargraph=bar & 0x0F, bar_flags=(bool(bar & 0x10), bool(bar & 0x20)),
                   pulse_rate=(bar & 0x40) << 1 | pulse_low, spo2=spo2)

    def __bytes__(self) -> bytes:
        head = 0x80 | self.signal_strength | sum(on << bit for bit, on in zip((4, 5, 6), self.head_flags))
        bar = (self.bargraph | sum(on << bit for bit, on in zip((4, 5), self.bar_flags))
               | (self.pulse_rate & 0x80) >> 1)
        return bytes([head, self.pleth, bar, self.pulse_rate & 0x7F, self.spo2])


def readings(spo2: int, pulse_rate: int, time: float, source: str, status: frozenset[str],
             *extra: Reading | None) -> list[Reading]:
    """SpO2 and pulse rate (absent "nan" where the device marks no reading), then ``extra``."""
    nan = Mder.special(Absent.NAN)
    return collect(
        to_reading(Kind.SPO2, nan if spo2 == INVALID_SPO2 else Mder(spo2), "%", time, source, status),
        to_reading(Kind.PULSE_RATE, nan if pulse_rate == INVALID_PULSE_RATE else Mder(pulse_rate), "/min",
                   time, source, status),
        *extra)
