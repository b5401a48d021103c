"""Every GATT vector of the shared set, decoded by the matching codec."""

from __future__ import annotations

from typing import Any

import pytest

from devices.errors import ProtocolError
from devices.gatt.blood_pressure import BloodPressureMeasurement, IntermediateCuffPressure
from devices.gatt.heart_rate import HeartRateMeasurement, SensorContact
from devices.gatt.plx import Continuous, Features
from devices.gatt.racp import RacpResponse, RacpResult, parse_indication
from devices.gatt.thermometer import TemperatureMeasurement
from devices.gatt.weight import WeightMeasurement
from devices.ieee11073 import Mder
from devices.reading import Kind
from tests.devices.ble_vectors import ids, vectors


def by_kind(readings: list[Any]) -> dict[Kind, Any]:
    return {r.kind: r for r in readings}


def test_bp_measurement_minimal() -> None:
    (entry,) = [v for v in vectors("Blood Pressure Measurement 0x2A35") if "invalid" not in v["characteristic_or_protocol"]]
    measurement = BloodPressureMeasurement.parse(bytes.fromhex(entry["hex"]))
    expected = entry["decoded"]
    assert measurement.unit == "mm[Hg]"
    readings = by_kind(measurement.readings(10.0, "bp"))
    assert readings[Kind.SYSTOLIC].value == expected["systolic"]
    assert readings[Kind.DIASTOLIC].value == expected["diastolic"]
    assert readings[Kind.MEAN_ARTERIAL].value == expected["map"]
    assert bytes(measurement).hex() == entry["hex"]


def test_bp_measurement_without_room_for_its_timestamp_is_rejected() -> None:
    (entry,) = vectors("Blood Pressure Measurement 0x2A35 (invalid)")
    with pytest.raises(ProtocolError, match="timestamp needs 7 bytes at offset 7, only 0 left"):
        BloodPressureMeasurement.parse(bytes.fromhex(entry["hex"]))


def test_intermediate_cuff_pressure() -> None:
    (entry,) = vectors("Intermediate Cuff Pressure 0x2A36")
    cuff = IntermediateCuffPressure.parse(bytes.fromhex(entry["hex"]))
    (reading,) = cuff.readings(10.0, "bp")
    assert (reading.kind, reading.value, reading.unit) == (Kind.CUFF_PRESSURE, entry["decoded"]["systolic"], "mm[Hg]")


HEART_RATES = [v for v in vectors("Heart Rate Measurement 0x2A37") if "invalid" not in v["characteristic_or_protocol"]]
CONTACT = {"unsupported": SensorContact.UNSUPPORTED, "not_detected": SensorContact.NOT_DETECTED,
           "detected": SensorContact.DETECTED}


@pytest.mark.parametrize("entry", HEART_RATES, ids=ids(HEART_RATES))
def test_heart_rate(entry: dict[str, Any]) -> None:
    measurement = HeartRateMeasurement.parse(bytes.fromhex(entry["hex"]))
    expected = entry["decoded"]
    assert measurement.heart_rate == expected["heart_rate"]
    assert measurement.contact is CONTACT[expected["sensor_contact"]]
    assert measurement.energy_expended == expected.get("energy_expended_kJ")
    assert list(measurement.rr_intervals) == expected.get("rr_1_1024s", [])
    assert bytes(measurement).hex() == entry["hex"]
    readings = measurement.readings(5.0, "hr")
    assert [r.value for r in readings if r.kind is Kind.HEART_RATE] == [expected["heart_rate"]]
    assert [r.value for r in readings if r.kind is Kind.RR_INTERVAL] == [
        round(rr / 1024, 4) for rr in expected.get("rr_1_1024s", [])]


def test_heart_rate_flags_beyond_the_data_are_rejected() -> None:
    (entry,) = vectors("Heart Rate Measurement 0x2A37 (invalid)")
    with pytest.raises(ProtocolError, match="RR-interval flag set but 0 bytes left"):
        HeartRateMeasurement.parse(bytes.fromhex(entry["hex"]))


def test_temperature_with_missing_type_byte_is_rejected() -> None:
    (entry,) = vectors("Temperature Measurement 0x2A1C (invalid)")
    with pytest.raises(ProtocolError, match="temperature type needs 1 bytes"):
        TemperatureMeasurement.parse(bytes.fromhex(entry["hex"]))


RACP = vectors("Record Access Control Point")


@pytest.mark.parametrize("entry", RACP, ids=ids(RACP))
def test_racp_response(entry: dict[str, Any]) -> None:
    indication = parse_indication(bytes.fromhex(entry["hex"]))
    assert isinstance(indication, RacpResponse)
    assert indication.request_op == entry["decoded"]["request_op"]
    assert indication.result is RacpResult(entry["decoded"]["response"])
    assert bytes(indication).hex() == entry["hex"]


PLX = vectors("PLX Continuous")


@pytest.mark.parametrize("entry", PLX, ids=ids(PLX))
def test_plx_continuous(entry: dict[str, Any]) -> None:
    measurement = Continuous.parse(bytes.fromhex(entry["hex"]))
    expected = entry["decoded"]
    readings = by_kind(measurement.readings(1.0, "plx"))
    assert readings[Kind.SPO2].value == expected["spo2"]
    assert readings[Kind.PULSE_RATE].value == expected["pr"]
    if "pai" in expected:
        assert readings[Kind.PERFUSION_INDEX].value == expected["pai"]
        assert measurement.measurement_status == expected["measurement_status"]
        assert measurement.device_sensor_status == expected["device_sensor_status"]
        assert readings[Kind.SPO2].status == {"measurement_ongoing"}
    assert bytes(measurement).hex() == entry["hex"]


def test_plx_features() -> None:
    (entry,) = vectors("PLX Features")
    features = Features.parse(bytes.fromhex(entry["hex"]))
    expected = entry["decoded"]
    assert (features.supported, features.measurement_status_support, features.device_sensor_status_support) == (
        expected["supported"], expected["measurement_status_support"], expected["device_sensor_status_support"])
    assert bytes(features).hex() == entry["hex"]


WEIGHTS = vectors("Weight Measurement")
UNITS = {"kg": "kg", "lb": "[lb_av]"}


@pytest.mark.parametrize("entry", WEIGHTS, ids=ids(WEIGHTS))
def test_weight(entry: dict[str, Any]) -> None:
    measurement = WeightMeasurement.parse(bytes.fromhex(entry["hex"]))
    (reading,) = measurement.readings(1.0, "scale")
    assert (reading.value, reading.unit) == (entry["decoded"]["weight"], UNITS[entry["decoded"]["unit"]])
    assert bytes(measurement).hex() == entry["hex"]


UA651 = vectors("SFLOAT systolic")


@pytest.mark.parametrize("entry", UA651, ids=ids(UA651))
def test_ua651_sfloat_fields(entry: dict[str, Any]) -> None:
    assert Mder.from_sfloat(int.from_bytes(bytes.fromhex(entry["hex"]), "little")).value == entry["decoded"]["value"]
