"""Pulse Oximeter Service (0x1822): spot-check 0x2A5E, continuous 0x2A5F, features 0x2A60."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from devices.gatt.date_time import DateTime
from devices.gatt.fields import FieldReader, collect, flag_names, sfloat_bytes, to_reading
from devices.ieee11073 import Mder
from devices.reading import Kind, Reading

SERVICE = "1822"
SPOT_CHECK = "2A5E"
CONTINUOUS = "2A5F"
FEATURES = "2A60"

MEASUREMENT_STATUS = {
    5: "measurement_ongoing", 6: "early_estimate", 7: "validated", 8: "fully_qualified",
    9: "from_storage", 10: "demo", 11: "testing", 12: "calibration_ongoing",
    13: "unavailable", 14: "questionable", 15: "invalid",
}
DEVICE_SENSOR_STATUS = {
    0: "extended_display_update", 1: "equipment_malfunction", 2: "signal_processing_irregularity",
    3: "inadequate_signal", 4: "poor_signal", 5: "low_perfusion", 6: "erratic_signal",
    7: "non_pulsatile_signal", 8: "questionable_pulse", 9: "signal_analysis_ongoing",
    10: "sensor_interference", 11: "sensor_unconnected", 12: "unknown_sensor",
    13: "sensor_displaced", 14: "sensor_malfunction", 15: "sensor_disconnected",
}


def _status(measurement: int | None, device: int | None) -> frozenset[str]:
    return flag_names(measurement or 0, MEASUREMENT_STATUS) | flag_names(device or 0, DEVICE_SENSOR_STATUS)


def _oximetry(spo2: Mder, pulse: Mder, pai: Mder | None, time: float, source: str,
              status: frozenset[str]) -> list[Reading]:
    return collect(
        to_reading(Kind.SPO2, spo2, "%", time, source, status),
        to_reading(Kind.PULSE_RATE, pulse, "/min", time, source, status),
        None if pai is None else to_reading(Kind.PERFUSION_INDEX, pai, "%", time, source, status),
    )


@dataclass(frozen=True, slots=True)
class SpotCheck:
    """PLX Spot-check Measurement (0x2A5E, indicated)."""

    spo2: Mder
    pulse_rate: Mder
    timestamp: DateTime | None = None
    measurement_status: int | None = None
    device_sensor_status: int | None = None
    pulse_amplitude_index: Mder | None = None
    clock_not_set: bool = False

    @classmethod
    def parse(cls, data: bytes) -> Self:
        fields = FieldReader(data, "PLX spot-check")
        flags = fields.uint(1, "flags")
        spo2, pulse = fields.sfloat("SpO2"), fields.sfloat("pulse rate")
        return cls(
            spo2, pulse,
            timestamp=fields.date_time("timestamp") if flags & 0x01 else None,
            measurement_status=fields.uint(2, "measurement status") if flags & 0x02 else None,
            device_sensor_status=fields.uint(3, "device and sensor status") if flags & 0x04 else None,
            pulse_amplitude_index=fields.sfloat("pulse amplitude index") if flags & 0x08 else None,
            clock_not_set=bool(flags & 0x10),
        )

    def __bytes__(self) -> bytes:
        flags = ((self.timestamp is not None) | (self.measurement_status is not None) << 1
                 | (self.device_sensor_status is not None) << 2
                 | (self.pulse_amplitude_index is not None) << 3 | self.clock_not_set << 4)
        out = bytes([flags]) + sfloat_bytes(self.spo2) + sfloat_bytes(self.pulse_rate)
        if self.timestamp is not None:
            out += bytes(self.timestamp)
        if self.measurement_status is not None:
            out += self.measurement_status.to_bytes(2, "little")
        if self.device_sensor_status is not None:
            out += self.device_sensor_status.to_bytes(3, "little")
        if self.pulse_amplitude_index is not None:
            out += sfloat_bytes(self.pulse_amplitude_index)
        return out

    def readings(self, time: float, source: str) -> list[Reading]:
        device_time = None
        if self.timestamp is not None and not self.clock_not_set:
            device_time = self.timestamp.timestamp()
        return _oximetry(self.spo2, self.pulse_rate, self.pulse_amplitude_index,
                         time if device_time is None else device_time, source,
                         _status(self.measurement_status, self.device_sensor_status))


@dataclass(frozen=True, slots=True)
class Continuous:
    """PLX Continuous Measurement (0x2A5F, notified). Only the Normal pair becomes readings."""

    spo2: Mder
    pulse_rate: Mder
    fast: tuple[Mder, Mder] | None = None
    slow: tuple[Mder, Mder] | None = None
    measurement_status: int | None = None
    device_sensor_status: int | None = None
    pulse_amplitude_index: Mder | None = None

    @classmethod
    def parse(cls, data: bytes) -> Self:
        fields = FieldReader(data, "PLX continuous")
        flags = fields.uint(1, "flags")
        spo2, pulse = fields.sfloat("SpO2"), fields.sfloat("pulse rate")
        return cls(
            spo2, pulse,
            fast=(fields.sfloat("SpO2 fast"), fields.sfloat("pulse rate fast")) if flags & 0x01 else None,
            slow=(fields.sfloat("SpO2 slow"), fields.sfloat("pulse rate slow")) if flags & 0x02 else None,
            measurement_status=fields.uint(2, "measurement status") if flags & 0x04 else None,
            device_sensor_status=fields.uint(3, "device and sensor status") if flags & 0x08 else None,
            pulse_amplitude_index=fields.sfloat("pulse amplitude index") if flags & 0x10 else None,
        )

    def __bytes__(self) -> bytes:
        flags = ((self.fast is not None) | (self.slow is not None) << 1
                 | (self.measurement_status is not None) << 2
                 | (self.device_sensor_status is not None) << 3
                 | (self.pulse_amplitude_index is not None) << 4)
        out = bytes([flags]) + sfloat_bytes(self.spo2) + sfloat_bytes(self.pulse_rate)
        for pair in (self.fast, self.slow):
            if pair is not None:
                out += sfloat_bytes(pair[0]) + sfloat_bytes(pair[1])
        if self.measurement_status is not None:
            out += self.measurement_status.to_bytes(2, "little")
        if self.device_sensor_status is not None:
            out += self.device_sensor_status.to_bytes(3, "little")
        if self.pulse_amplitude_index is not None:
            out += sfloat_bytes(self.pulse_amplitude_index)
        return out

    def readings(self, time: float, source: str) -> list[Reading]:
        return _oximetry(self.spo2, self.pulse_rate, self.pulse_amplitude_index, time, source,
                         _status(self.measurement_status, self.device_sensor_status))


@dataclass(frozen=True, slots=True)
class Features:
    """PLX Features (0x2A60, read): what the oximeter supports (bit masks as sent)."""

    supported: int
    measurement_status_support: int | None = None
    device_sensor_status_support: int | None = None

    @classmethod
    def parse(cls, data: bytes) -> Self:
        fields = FieldReader(data, "PLX features")
        supported = fields.uint(2, "supported features")
        return cls(
            supported,
            fields.uint(2, "measurement status support") if supported & 0x01 else None,
            fields.uint(3, "device and sensor status support") if supported & 0x02 else None,
        )

    def __bytes__(self) -> bytes:
        supported = (self.supported & ~0x03 | (self.measurement_status_support is not None)
                     | (self.device_sensor_status_support is not None) << 1)
        out = supported.to_bytes(2, "little")
        if self.measurement_status_support is not None:
            out += self.measurement_status_support.to_bytes(2, "little")
        if self.device_sensor_status_support is not None:
            out += self.device_sensor_status_support.to_bytes(3, "little")
        return out

    def readings(self, time: float, source: str) -> list[Reading]:
        return []
