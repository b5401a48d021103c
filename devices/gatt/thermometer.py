"""Health Thermometer Service (0x1809): temperature measurement 0x2A1C and intermediate 0x2A1E."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from devices.gatt.date_time import DateTime
from devices.gatt.fields import FieldReader, collect, float_bytes, to_reading
from devices.ieee11073 import Mder
from devices.reading import Kind, Reading

SERVICE = "1809"
MEASUREMENT = "2A1C"
TEMPERATURE_TYPE = "2A1D"
INTERMEDIATE = "2A1E"

SITES = {1: "armpit", 2: "body", 3: "ear_lobe", 4: "finger", 5: "gastrointestinal_tract",
         6: "mouth", 7: "rectum", 8: "toe", 9: "tympanum"}


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """Temperature Measurement (0x2A1C indicated; 0x2A1E intermediate, notified).

    The measurement site, when sent, becomes a ``site_<name>`` status flag.
    """

    temperature: Mder
    fahrenheit: bool = False
    timestamp: DateTime | None = None
    site: int | None = None

    @property
    def unit(self) -> str:
        return "[degF]" if self.fahrenheit else "Cel"

    @classmethod
    def parse(cls, data: bytes) -> Self:
        fields = FieldReader(data, "temperature measurement")
        flags = fields.uint(1, "flags")
        return cls(
            fields.float("temperature"), fahrenheit=bool(flags & 0x01),
            timestamp=fields.date_time("timestamp") if flags & 0x02 else None,
            site=fields.uint(1, "temperature type") if flags & 0x04 else None,
        )

    def __bytes__(self) -> bytes:
        flags = self.fahrenheit | (self.timestamp is not None) << 1 | (self.site is not None) << 2
        out = bytes([flags]) + float_bytes(self.temperature)
        if self.timestamp is not None:
            out += bytes(self.timestamp)
        if self.site is not None:
            out += bytes([self.site])
        return out

    def readings(self, time: float, source: str) -> list[Reading]:
        device_time = None if self.timestamp is None else self.timestamp.timestamp()
        site = SITES.get(self.site) if self.site is not None else None
        status = frozenset({f"site_{site}"}) if site else frozenset()
        return collect(to_reading(Kind.BODY_TEMPERATURE, self.temperature, self.unit,
                                  time if device_time is None else device_time, source, status))
