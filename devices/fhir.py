"""FHIR R4 Observation JSON for readings (vital-signs category, LOINC + MDC codes, UCUM units).

Special values become ``dataAbsentReason`` with no ``valueQuantity`` (HL7 PHD IG mapping). A
systolic/diastolic(/mean) triple from one source at one time becomes the blood-pressure panel
85354-9 with components. Kinds without an agreed code (intermediate cuff pressure, RR
interval, energy expended, perfusion index) are not exported.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from devices.errors import LocalError
from devices.reading import Absent, Kind, Reading

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

ABSENT_CODES = {Absent.NAN: "not-a-number", Absent.POS_INF: "positive-infinity",
                Absent.NEG_INF: "negative-infinity", Absent.NRES: "error", Absent.RESERVED: "error"}
PRELIMINARY = frozenset({"measurement_ongoing", "early_estimate"})


@dataclass(frozen=True, slots=True)
class Code:
    system: str
    code: str
    display: str

    def coding(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True, slots=True)
class Measure:
    codes: tuple[Code, ...]
    text: str


def _loinc(code: str, display: str) -> Code:
    return Code(LOINC, code, display)


def _mdc(code: str, display: str) -> Code:
    return Code(MDC, code, display)


HEART_RATE_LOINC = _loinc("8867-4", "Heart rate")
MEASURES: dict[Kind, Measure] = {
    Kind.SPO2: Measure((_loinc("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
                        _loinc("2708-6", "Oxygen saturation in Arterial blood"),
                        _mdc("150456", "MDC_PULS_OXIM_SAT_O2")), "SpO2"),
    Kind.PULSE_RATE: Measure((HEART_RATE_LOINC, _mdc("149530", "MDC_PULS_OXIM_PULS_RATE")), "Pulse rate"),
    Kind.HEART_RATE: Measure((HEART_RATE_LOINC, _mdc("147842", "MDC_ECG_HEART_RATE")), "Heart rate"),
    Kind.SYSTOLIC: Measure((_loinc("8480-6", "Systolic blood pressure"),
                            _mdc("150021", "MDC_PRESS_BLD_NONINV_SYS")), "Systolic blood pressure"),
    Kind.DIASTOLIC: Measure((_loinc("8462-4", "Diastolic blood pressure"),
                             _mdc("150022", "MDC_PRESS_BLD_NONINV_DIA")), "Diastolic blood pressure"),
    Kind.MEAN_ARTERIAL: Measure((_loinc("8478-0", "Mean blood pressure"),
                                 _mdc("150023", "MDC_PRESS_BLD_NONINV_MEAN")), "Mean blood pressure"),
    Kind.BODY_TEMPERATURE: Measure((_loinc("8310-5", "Body temperature"), _mdc("150364", "MDC_TEMP_BODY")),
                                   "Body temperature"),
    Kind.BODY_WEIGHT: Measure((_loinc("29463-7", "Body weight"), _mdc("188736", "MDC_MASS_BODY_ACTUAL")),
                              "Body weight"),
    Kind.HEIGHT: Measure((_loinc("8302-2", "Body height"),), "Body height"),
    Kind.BMI: Measure((_loinc("39156-5", "Body mass index (BMI) [Ratio]"),), "Body mass index"),
}
CUFF_PULSE = _mdc("149546", "MDC_PULS_RATE_NON_INV")
GLUCOSE_MASS = _loinc("2339-0", "Glucose [Mass/volume] in Blood")
GLUCOSE_MOLES = _loinc("15074-8", "Glucose [Moles/volume] in Blood")
GLUCOSE_MDC = _mdc("160184", "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD")
BP_PANEL = Measure((_loinc("85354-9", "Blood pressure panel with all children optional"),
                    _mdc("150020", "MDC_PRESS_BLD_NONINV")), "Blood pressure")
UNIT_EXPORT = {"m": ("cm", 2)}  # the vital-signs profile wants body height in cm or [in_i]


def exportable(reading: Reading) -> bool:
    return reading.kind in MEASURES or reading.kind is Kind.GLUCOSE


def _measure(reading: Reading) -> Measure:
    if reading.kind is Kind.GLUCOSE:
        loinc = GLUCOSE_MOLES if reading.unit == "mmol/L" else GLUCOSE_MASS
        return Measure((loinc, GLUCOSE_MDC), "Glucose")
    if reading.kind is Kind.PULSE_RATE and _from_cuff(reading.source):
        return Measure((HEART_RATE_LOINC, CUFF_PULSE), "Pulse rate")
    if reading.kind not in MEASURES:
        raise LocalError(f"no FHIR code for {reading.kind.value} readings", code="not_exportable")
    return MEASURES[reading.kind]


def _from_cuff(source: str) -> bool:
    """Source names start with the device kind (``ble-bp:...``, ``visomat-bp:...``)."""
    return "bp" in source.partition(":")[0].split("-")


def _concept(measure: Measure) -> dict[str, Any]:
    return {"coding": [code.coding() for code in measure.codes], "text": measure.text}


def _value(reading: Reading) -> dict[str, Any]:
    if reading.absent is not None:
        code = ABSENT_CODES[reading.absent]
        return {"dataAbsentReason": {"coding": [{"system": ABSENT, "code": code}], "text": reading.absent.value}}
    assert reading.value is not None
    unit, value = reading.unit, reading.value
    if unit in UNIT_EXPORT:
        unit, powers = UNIT_EXPORT[unit]
        value = float(Decimal(repr(value)).scaleb(powers))
    return {"valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


def _header(readings: list[Reading], measure: Measure) -> dict[str, Any]:
    first = readings[0]
    status = set().union(*(r.status for r in readings))
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "preliminary" if status & PRELIMINARY else "final",
        "category": [{"coding": [{"system": CATEGORY, "code": "vital-signs", "display": "Vital Signs"}],
                      "text": "Vital Signs"}],
        "code": _concept(measure),
        "effectiveDateTime": datetime.fromtimestamp(first.time, UTC).isoformat(timespec="milliseconds"),
        "device": {"display": first.source},
    }
    if status:
        out["note"] = [{"text": "device status: " + ", ".join(sorted(status))}]
    return out


def observation(reading: Reading) -> dict[str, Any]:
    """One Observation resource (JSON-ready dict); LocalError for a kind we do not export."""
    return _header([reading], _measure(reading)) | _value(reading)


def blood_pressure_panel(systolic: Reading, diastolic: Reading, mean: Reading | None = None) -> dict[str, Any]:
    """The panel 85354-9 with one component per pressure."""
    parts = [r for r in (systolic, diastolic, mean) if r is not None]
    out = _header(parts, BP_PANEL)
    out["component"] = [{"code": _concept(MEASURES[r.kind])} | _value(r) for r in parts]
    return out


def bundle(readings: Iterable[Reading]) -> dict[str, Any]:
    """A ``collection`` Bundle: BP triples become panels; unexportable kinds are left out."""
    readings = [r for r in readings if exportable(r)]
    pressures: dict[tuple[str, float], dict[Kind, Reading]] = {}
    for reading in readings:
        if reading.kind in (Kind.SYSTOLIC, Kind.DIASTOLIC, Kind.MEAN_ARTERIAL):
            pressures.setdefault((reading.source, reading.time), {})[reading.kind] = reading
    resources: list[dict[str, Any]] = []
    paneled: set[int] = set()
    for reading in readings:
        group = pressures.get((reading.source, reading.time), {})
        if id(reading) in paneled:
            continue
        if reading.kind in group.keys() and Kind.SYSTOLIC in group and Kind.DIASTOLIC in group:
            resources.append(blood_pressure_panel(group[Kind.SYSTOLIC], group[Kind.DIASTOLIC],
                                                  group.get(Kind.MEAN_ARTERIAL)))
            paneled.update(id(r) for r in group.values())
            continue
        resources.append(observation(reading))
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r} for r in resources]}
