"""The ``Reading`` model: one measured value with its unit, time, source and status.

A special value from a device (IEEE 11073 NaN, NRes, +/-INF, reserved) is kept as an ``absent``
reason instead of a number. Physically impossible values are never turned into readings: codecs
call :func:`plausible` before they publish.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    SPO2 = "spo2"
    PULSE_RATE = "pulse_rate"
    HEART_RATE = "heart_rate"
    SYSTOLIC = "systolic"
    DIASTOLIC = "diastolic"
    MEAN_ARTERIAL = "mean_arterial"
    CUFF_PRESSURE = "cuff_pressure"
    BODY_TEMPERATURE = "body_temperature"
    GLUCOSE = "glucose"
    BODY_WEIGHT = "body_weight"
    BMI = "bmi"
    HEIGHT = "height"
    RR_INTERVAL = "rr_interval"
    PERFUSION_INDEX = "perfusion_index"
    ENERGY_EXPENDED = "energy_expended"


class Absent(StrEnum):
    """Why a reading has no value (IEEE 11073 special values)."""

    NAN = "nan"
    NRES = "nres"
    POS_INF = "+inf"
    NEG_INF = "-inf"
    RESERVED = "reserved"


# Inclusive bounds of what a living patient and a working device can produce, per unit.
# A value outside them is a decoding or device fault and is dropped, never published.
_PLAUSIBLE: dict[tuple[Kind, str], tuple[float, float]] = {
    (Kind.SPO2, "%"): (0.0, 100.0),
    (Kind.PULSE_RATE, "/min"): (0.0, 350.0),
    (Kind.HEART_RATE, "/min"): (0.0, 350.0),
    (Kind.SYSTOLIC, "mm[Hg]"): (0.0, 400.0),
    (Kind.DIASTOLIC, "mm[Hg]"): (0.0, 400.0),
    (Kind.MEAN_ARTERIAL, "mm[Hg]"): (0.0, 400.0),
    (Kind.CUFF_PRESSURE, "mm[Hg]"): (0.0, 400.0),
    (Kind.SYSTOLIC, "kPa"): (0.0, 53.3),
    (Kind.DIASTOLIC, "kPa"): (0.0, 53.3),
    (Kind.MEAN_ARTERIAL, "kPa"): (0.0, 53.3),
    (Kind.CUFF_PRESSURE, "kPa"): (0.0, 53.3),
    (Kind.BODY_TEMPERATURE, "Cel"): (10.0, 50.0),
    (Kind.BODY_TEMPERATURE, "[degF]"): (50.0, 122.0),
    (Kind.GLUCOSE, "mg/dL"): (0.0, 2000.0),
    (Kind.GLUCOSE, "mmol/L"): (0.0, 111.0),
    (Kind.BODY_WEIGHT, "kg"): (0.0, 700.0),
    (Kind.BODY_WEIGHT, "[lb_av]"): (0.0, 1550.0),
    (Kind.BMI, "kg/m2"): (0.0, 250.0),
    (Kind.HEIGHT, "m"): (0.0, 3.0),
    (Kind.RR_INTERVAL, "s"): (0.0, 64.0),
    (Kind.PERFUSION_INDEX, "%"): (0.0, 100.0),
    (Kind.ENERGY_EXPENDED, "kJ"): (0.0, 65535.0),
}


def plausible(kind: Kind, value: float, unit: str) -> bool:
    """True if ``value`` in ``unit`` is physically possible for ``kind`` (unknown units: finite)."""
    if not math.isfinite(value):
        return False
    bounds = _PLAUSIBLE.get((kind, unit))
    if bounds is None:
        return True
    low, high = bounds
    return low <= value <= high


@dataclass(frozen=True, slots=True)
class Reading:
    """One measurement.

    ``value`` is None exactly when ``absent`` gives the reason. ``time`` is seconds since the
    Unix epoch (the station's clock, or the device's when it sends a timestamp). ``source``
    names the device (for example ``"contec-v7:/dev/ttyUSB0"``). ``status`` holds device status
    flags by name (for example ``"probe_error"``, ``"irregular_pulse"``).
    """

    kind: Kind
    value: float | None
    unit: str
    time: float
    source: str
    status: frozenset[str] = field(default_factory=frozenset)
    absent: Absent | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.absent is None):
            raise ValueError("a Reading has either a value or an absent reason, not both or neither")

    def to_json(self) -> dict[str, Any]:
        """The record form: in the outbox, uploads and the consult record (the ``vitals`` data
        channel carries ``station.vitalschannel``'s compact form)."""
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "value": self.value,
            "unit": self.unit,
            "time": self.time,
            "source": self.source,
        }
        if self.status:
            out["status"] = sorted(self.status)
        if self.absent is not None:
            out["absent"] = self.absent.value
        return out

    def content_key(self) -> str:
        """An idempotency key (32 hex digits) from the content: source, kind, time, value, unit and
        absent reason. Equal readings have equal keys, so a device re-sending its memory is
        recognised; the station's outbox and the server derive it alike (it is never sent)."""
        content = json.dumps([self.source, self.kind.value, float(self.time),
                              None if self.value is None else float(self.value), self.unit,
                              None if self.absent is None else self.absent.value])
        return hashlib.sha256(content.encode()).hexdigest()[:32]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reading:
        absent = data.get("absent")
        return cls(
            kind=Kind(data["kind"]),
            value=None if data.get("value") is None else float(data["value"]),
            unit=str(data["unit"]),
            time=float(data["time"]),
            source=str(data["source"]),
            status=frozenset(data.get("status", ())),
            absent=None if absent is None else Absent(absent),
        )
