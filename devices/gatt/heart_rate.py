"""Heart Rate Service (0x180D): Heart Rate Measurement 0x2A37."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Self

from devices.errors import ProtocolError
from devices.gatt.fields import FieldReader, collect, to_reading
from devices.ieee11073 import Mder
from devices.reading import Kind, Reading

SERVICE = "180D"
MEASUREMENT = "2A37"

RR_UNITS_PER_SECOND = 1024


class SensorContact(IntEnum):
    """Flags bits 1-2 (0 and 1 both mean the sensor cannot tell)."""

    UNSUPPORTED = 0
    NOT_DETECTED = 2
    DETECTED = 3


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """Heart Rate Measurement (0x2A37, notified). RR intervals are in 1/1024 s, oldest first."""

    heart_rate: int
    contact: SensorContact = SensorContact.UNSUPPORTED
    energy_expended: int | None = None
    rr_intervals: tuple[int, ...] = ()
    wide: bool = False  # heart rate sent as uint16 rather than uint8

    @classmethod
    def parse(cls, data: bytes) -> Self:
        fields = FieldReader(data, "heart rate measurement")
        flags = fields.uint(1, "flags")
        wide = bool(flags & 0x01)
        heart_rate = fields.uint(2 if wide else 1, "heart rate")
        contact_bits = flags >> 1 & 0x3
        contact = SensorContact(contact_bits) if contact_bits >= 2 else SensorContact.UNSUPPORTED
        energy = fields.uint(2, "energy expended") if flags & 0x08 else None
        rr: tuple[int, ...] = ()
        if flags & 0x10:
            if fields.remaining == 0 or fields.remaining % 2:
                raise ProtocolError(
                    f"heart rate measurement: RR-interval flag set but {fields.remaining} bytes "
                    "left (need a positive even number)")
            rr = tuple(fields.uint(2, "RR interval") for _ in range(fields.remaining // 2))
        return cls(heart_rate, contact, energy, rr, wide)

    def __bytes__(self) -> bytes:
        wide = self.wide or self.heart_rate > 0xFF
        flags = (wide | self.contact << 1 | (self.energy_expended is not None) << 3
                 | bool(self.rr_intervals) << 4)
        out = bytes([flags]) + self.heart_rate.to_bytes(2 if wide else 1, "little")
        if self.energy_expended is not None:
            out += self.energy_expended.to_bytes(2, "little")
        return out + b"".join(rr.to_bytes(2, "little") for rr in self.rr_intervals)

    def readings(self, time: float, source: str) -> list[Reading]:
        status = frozenset({"no_sensor_contact"}) if self.contact is SensorContact.NOT_DETECTED else frozenset()
        out = [
            to_reading(Kind.HEART_RATE, Mder(self.heart_rate), "/min", time, source, status),
            None if self.energy_expended is None
            else to_reading(Kind.ENERGY_EXPENDED, Mder(self.energy_expended), "kJ", time, source),
        ]
        out += [to_reading(Kind.RR_INTERVAL, Mder.from_decimal(_rr_seconds(rr)), "s", time, source)
                for rr in self.rr_intervals]
        return collect(*out)


def _rr_seconds(units: int) -> str:
    # 1/1024 = 2**-10 is an exact decimal with at most 10 fractional digits; round to 0.1 ms.
    return f"{units / RR_UNITS_PER_SECOND:.4f}"
