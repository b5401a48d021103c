"""Glucose Service (0x1808): Glucose Measurement 0x2A18, records fetched through the RACP (racp.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Self

from devices.gatt.date_time import DateTime
from devices.gatt.fields import FieldReader, collect, flag_names, sfloat_bytes, to_reading
from devices.ieee11073 import Mder
from devices.reading import Kind, Reading

SERVICE = "1808"
MEASUREMENT = "2A18"
CONTEXT = "2A34"
FEATURE = "2A51"

SAMPLE_TYPES = {1: "capillary_whole_blood", 2: "capillary_plasma", 3: "venous_whole_blood",
                4: "venous_plasma", 5: "arterial_whole_blood", 6: "arterial_plasma",
                7: "undetermined_whole_blood", 8: "undetermined_plasma", 9: "interstitial_fluid",
                10: "control_solution"}
LOCATIONS = {1: "finger", 2: "alternate_site_test", 3: "earlobe", 4: "control_solution"}
STATUS = {0: "battery_low", 1: "sensor_malfunction", 2: "sample_too_small", 3: "strip_insertion_error",
          4: "wrong_strip_type", 5: "result_too_high", 6: "result_too_low", 7: "temperature_too_high",
          8: "temperature_too_low", 9: "strip_pulled_too_soon", 10: "general_fault", 11: "time_fault"}


@dataclass(frozen=True, slots=True)
class Concentration:
    """The optional concentration block: the value in kg/L (or mol/L) and the sample's type/location."""

    value: Mder
    molar: bool = False  # mol/L rather than kg/L
    sample_type: int = 1
    location: int = 1

    @property
    def unit(self) -> str:
        return "mmol/L" if self.molar else "mg/dL"

    @property
    def clinical(self) -> Mder:
        """The value in the clinical unit: mg/dL = kg/L x 10^5, mmol/L = mol/L x 10^3 (exact)."""
        return self.value.scaled(3 if self.molar else 5)


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """Glucose Measurement (0x2A18, notified). ``time_offset`` is in minutes from ``base_time``."""

    sequence: int
    base_time: DateTime
    time_offset: int | None = None
    concentration: Concentration | None = None
    status: int | None = None
    context_follows: bool = False

    @classmethod
    def parse(cls, data: bytes) -> Self:
        fields = FieldReader(data, "glucose measurement")
        flags = fields.uint(1, "flags")
        sequence = fields.uint(2, "sequence number")
        base_time = fields.date_time("base time")
        offset = fields.sint(2, "time offset") if flags & 0x01 else None
        concentration = None
        if flags & 0x02:
            value = fields.sfloat("concentration")
            type_location = fields.uint(1, "type and sample location")
            concentration = Concentration(value, bool(flags & 0x04), type_location & 0x0F, type_location >> 4)
        status = fields.uint(2, "sensor status annunciation") if flags & 0x08 else None
        return cls(sequence, base_time, offset, concentration, status, bool(flags & 0x10))

    def __bytes__(self) -> bytes:
        c = self.concentration
        flags = ((self.time_offset is not None) | (c is not None) << 1 | (c is not None and c.molar) << 2
                 | (self.status is not None) << 3 | self.context_follows << 4)
        out = bytes([flags]) + self.sequence.to_bytes(2, "little") + bytes(self.base_time)
        if self.time_offset is not None:
            out += self.time_offset.to_bytes(2, "little", signed=True)
        if c is not None:
            out += sfloat_bytes(c.value) + bytes([c.location << 4 | c.sample_type])
        if self.status is not None:
            out += self.status.to_bytes(2, "little")
        return out

    def device_time(self) -> float | None:
        base = self.base_time.timestamp()
        if base is None:
            return None
        return base + timedelta(minutes=self.time_offset or 0).total_seconds()

    def readings(self, time: float, source: str) -> list[Reading]:
        c = self.concentration
        if c is None:
            return []
        status = flag_names(self.status or 0, STATUS)
        if c.sample_type in SAMPLE_TYPES:
            status |= {f"sample_{SAMPLE_TYPES[c.sample_type]}"}
        if c.location in LOCATIONS:
            status |= {f"location_{LOCATIONS[c.location]}"}
        device_time = self.device_time()
        return collect(to_reading(Kind.GLUCOSE, c.clinical, c.unit,
                                  time if device_time is None else device_time, source, status))
