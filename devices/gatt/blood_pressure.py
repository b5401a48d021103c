"""Blood Pressure Service (0x1810): measurement 0x2A35 and intermediate cuff pressure 0x2A36."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from devices.gatt.date_time import DateTime
from devices.gatt.fields import FieldReader, collect, flag_names, sfloat_bytes, to_reading
from devices.ieee11073 import Mder
from devices.reading import Absent, Kind, Reading

SERVICE = "1810"
MEASUREMENT = "2A35"
INTERMEDIATE_CUFF_PRESSURE = "2A36"
FEATURE = "2A49"

UNKNOWN_USER = 255
STATUS = {0: "body_movement", 1: "cuff_too_loose", 2: "irregular_pulse", 5: "improper_position"}
_PULSE_RANGE = {1: "pulse_rate_above_range", 2: "pulse_rate_below_range"}


def status_names(status: int | None) -> frozenset[str]:
    if status is None:
        return frozenset()
    names = flag_names(status, STATUS)
    pulse_range = _PULSE_RANGE.get(status >> 3 & 0x3)
    return names | {pulse_range} if pulse_range else names


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """Blood Pressure Measurement (0x2A35, indicated): a finished measurement."""

    what: ClassVar[str] = "blood pressure measurement"

    systolic: Mder
    diastolic: Mder
    mean_arterial: Mder
    kpa: bool = False
    timestamp: DateTime | None = None
    pulse_rate: Mder | None = None
    user_id: int | None = None
    status: int | None = None

    @property
    def unit(self) -> str:
        return "kPa" if self.kpa else "mm[Hg]"

    @classmethod
    def parse(cls, data: bytes) -> Self:
        fields = FieldReader(data, cls.what)
        flags = fields.uint(1, "flags")
        systolic = fields.sfloat("systolic")
        diastolic = fields.sfloat("diastolic")
        mean = fields.sfloat("mean arterial pressure")
        return cls(
            systolic, diastolic, mean, kpa=bool(flags & 0x01),
            timestamp=fields.date_time("timestamp") if flags & 0x02 else None,
            pulse_rate=fields.sfloat("pulse rate") if flags & 0x04 else None,
            user_id=fields.uint(1, "user ID") if flags & 0x08 else None,
            status=fields.uint(2, "measurement status") if flags & 0x10 else None,
        )

    def __bytes__(self) -> bytes:
        flags = (self.kpa | (self.timestamp is not None) << 1 | (self.pulse_rate is not None) << 2
                 | (self.user_id is not None) << 3 | (self.status is not None) << 4)
        out = bytes([flags]) + b"".join(
            sfloat_bytes(v) for v in (self.systolic, self.diastolic, self.mean_arterial))
        if self.timestamp is not None:
            out += bytes(self.timestamp)
        if self.pulse_rate is not None:
            out += sfloat_bytes(self.pulse_rate)
        if self.user_id is not None:
            out += bytes([self.user_id])
        if self.status is not None:
            out += self.status.to_bytes(2, "little")
        return out

    def _time(self, time: float) -> float:
        device_time = None if self.timestamp is None else self.timestamp.timestamp()
        return time if device_time is None else device_time

    def readings(self, time: float, source: str) -> list[Reading]:
        when, status = self._time(time), status_names(self.status)
        return collect(
            to_reading(Kind.SYSTOLIC, self.systolic, self.unit, when, source, status),
            to_reading(Kind.DIASTOLIC, self.diastolic, self.unit, when, source, status),
            to_reading(Kind.MEAN_ARTERIAL, self.mean_arterial, self.unit, when, source, status),
            None if self.pulse_rate is None
            else to_reading(Kind.PULSE_RATE, self.pulse_rate, "/min", when, source, status),
        )


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure(BloodPressureMeasurement):
    """Intermediate Cuff Pressure (0x2A36, notified) while inflating: same layout as 0x2A35.

    The systolic field carries the current cuff pressure; diastolic and MAP are unused (NaN on
    real cuffs, 0 in some test suites) and are never published.
    """

    what: ClassVar[str] = "intermediate cuff pressure"

    @classmethod
    def of(cls, pressure: Mder, *, kpa: bool = False) -> Self:
        nan = Mder.special(Absent.NAN)
        return cls(pressure, nan, nan, kpa=kpa)

    def readings(self, time: float, source: str) -> list[Reading]:
        when, status = self._time(time), status_names(self.status)
        return collect(
            to_reading(Kind.CUFF_PRESSURE, self.systolic, self.unit, when, source, status),
            None if self.pulse_rate is None
            else to_reading(Kind.PULSE_RATE, self.pulse_rate, "/min", when, source, status),
        )
