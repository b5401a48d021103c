"""Weight Scale Service (0x181D): Weight Measurement 0x2A9D.

Weights are fixed-point uint16 (0.005 kg or 0.01 lb steps); 0xFFFF means the measurement failed.
The Weight Scale Feature resolution bits are display precision, not a scale factor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from devices.gatt.date_time import DateTime
from devices.gatt.fields import FieldReader, collect, to_reading
from devices.ieee11073 import Mder
from devices.reading import Absent, Kind, Reading

SERVICE = "181D"
MEASUREMENT = "2A9D"
FEATURE = "2A9E"

UNSUCCESSFUL = 0xFFFF
UNKNOWN_USER = 255


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """Weight Measurement (0x2A9D, indicated), raw fixed-point fields as sent."""

    weight: int  # 0.005 kg or 0.01 lb units
    imperial: bool = False
    timestamp: DateTime | None = None
    user_id: int | None = None
    bmi: int | None = None  # 0.1 kg/m2 units; sent together with height
    height: int | None = None  # 0.001 m or 0.1 in units

    @classmethod
    def parse(cls, data: bytes) -> Self:
        fields = FieldReader(data, "weight measurement")
        flags = fields.uint(1, "flags")
        weight = fields.uint(2, "weight")
        timestamp = fields.date_time("timestamp") if flags & 0x02 else None
        user_id = fields.uint(1, "user ID") if flags & 0x04 else None
        bmi = height = None
        if flags & 0x08:
            bmi, height = fields.uint(2, "BMI"), fields.uint(2, "height")
        return cls(weight, bool(flags & 0x01), timestamp, user_id, bmi, height)

    def __bytes__(self) -> bytes:
        body = self.bmi is not None and self.height is not None
        flags = self.imperial | (self.timestamp is not None) << 1 | (self.user_id is not None) << 2 | body << 3
        out = bytes([flags]) + self.weight.to_bytes(2, "little")
        if self.timestamp is not None:
            out += bytes(self.timestamp)
        if self.user_id is not None:
            out += bytes([self.user_id])
        if self.bmi is not None and self.height is not None:
            out += self.bmi.to_bytes(2, "little") + self.height.to_bytes(2, "little")
        return out

    def readings(self, time: float, source: str) -> list[Reading]:
        device_time = None if self.timestamp is None else self.timestamp.timestamp()
        when = time if device_time is None else device_time
        if self.weight == UNSUCCESSFUL:
            weight = Mder.special(Absent.NAN)
        else:
            weight = Mder(self.weight, -2) if self.imperial else Mder(self.weight * 5, -3)
        out = [to_reading(Kind.BODY_WEIGHT, weight, "[lb_av]" if self.imperial else "kg", when, source)]
        if self.bmi is not None and self.height is not None:
            out.append(to_reading(Kind.BMI, Mder(self.bmi, -1), "kg/m2", when, source))
            height = Mder(self.height, -1) if self.imperial else Mder(self.height, -3)
            out.append(to_reading(Kind.HEIGHT, height, "[in_i]" if self.imperial else "m", when, source))
        return collect(*out)
