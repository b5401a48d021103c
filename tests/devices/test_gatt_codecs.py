"""Hand-built GATT values: status flags, timestamps, units, special values, impossible values."""

from __future__ import annotations

import pytest

from devices.errors import ProtocolError
from devices.gatt.blood_pressure import BloodPressureMeasurement
from devices.gatt.date_time import DateTime
from devices.gatt.glucose import Concentration, GlucoseMeasurement
from devices.gatt.heart_rate import HeartRateMeasurement, SensorContact
from devices.gatt.plx import Continuous, SpotCheck
from devices.gatt.racp import RacpNumberOfRecords, RacpOp, RacpOperator, RacpRequest, parse_indication
from devices.gatt.thermometer import TemperatureMeasurement
from devices.gatt.weight import WeightMeasurement
from devices.ieee11073 import Mder
from devices.reading import Absent, Kind

WHEN = DateTime(2024, 3, 5, 14, 30, 15)


def test_spot_check_uses_device_time_and_status_names() -> None:
    data = bytes.fromhex("07" "6200" "4800") + bytes(WHEN) + (1 << 7 | 1 << 14).to_bytes(2, "little") + \
        (1 << 5 | 1 << 15).to_bytes(3, "little")
    spot = SpotCheck.parse(data)
    readings = spot.readings(0.0, "plx")
    assert [r.value for r in readings] == [98.0, 72.0]
    assert {r.time for r in readings} == {WHEN.timestamp()}
    assert readings[0].status == {"validated", "questionable", "low_perfusion", "sensor_disconnected"}
    assert bytes(spot) == data


def test_spot_check_ignores_a_device_clock_it_says_is_not_set() -> None:
    spot = SpotCheck(Mder(97), Mder(60), timestamp=WHEN, clock_not_set=True)
    assert {r.time for r in SpotCheck.parse(bytes(spot)).readings(7.0, "plx")} == {7.0}


def test_special_values_become_absent_readings() -> None:
    nan, nres = Mder.special(Absent.NAN), Mder.special(Absent.NRES)
    readings = Continuous.parse(bytes(Continuous(nan, nres))).readings(1.0, "plx")
    assert [(r.kind, r.value, r.absent) for r in readings] == [
        (Kind.SPO2, None, Absent.NAN), (Kind.PULSE_RATE, None, Absent.NRES)]


def test_impossible_values_are_never_published() -> None:
    readings = Continuous(Mder(101), Mder(-5)).readings(1.0, "plx")
    assert readings == []


def test_blood_pressure_kpa_pulse_user_and_status() -> None:
    status = 1 << 2 | 1 << 3  # irregular pulse, pulse rate above range
    bp = BloodPressureMeasurement(Mder(176, -1), Mder(107, -1), Mder(130, -1), kpa=True, timestamp=WHEN,
                                  pulse_rate=Mder(88), user_id=1, status=status)
    parsed = BloodPressureMeasurement.parse(bytes(bp))
    assert parsed == bp
    readings = {r.kind: r for r in parsed.readings(0.0, "bp")}
    assert (readings[Kind.SYSTOLIC].value, readings[Kind.SYSTOLIC].unit) == (17.6, "kPa")
    assert readings[Kind.PULSE_RATE].unit == "/min"
    assert readings[Kind.DIASTOLIC].status == {"irregular_pulse", "pulse_rate_above_range"}
    assert readings[Kind.MEAN_ARTERIAL].time == WHEN.timestamp()


def test_temperature_fahrenheit_with_site() -> None:
    measurement = TemperatureMeasurement(Mder(986, -1), fahrenheit=True, site=9)
    (reading,) = TemperatureMeasurement.parse(bytes(measurement)).readings(0.0, "thermo")
    assert (reading.value, reading.unit, reading.status) == (98.6, "[degF]", {"site_tympanum"})


def test_heart_rate_sixteen_bit_and_contact_lost() -> None:
    measurement = HeartRateMeasurement(300, SensorContact.NOT_DETECTED, wide=True)
    parsed = HeartRateMeasurement.parse(bytes(measurement))
    assert parsed == measurement
    (reading,) = parsed.readings(0.0, "hr")
    assert (reading.value, reading.status) == (300.0, {"no_sensor_contact"})


def test_heart_rate_odd_rr_bytes_are_rejected() -> None:
    with pytest.raises(ProtocolError, match="3 bytes left"):
        HeartRateMeasurement.parse(bytes.fromhex("1050" "210022"))


def test_glucose_mass_concentration_to_mg_per_dl_with_offset() -> None:
    measurement = GlucoseMeasurement(7, WHEN, time_offset=-30,
                                     concentration=Concentration(Mder(100, -5), sample_type=1, location=1),
                                     status=1 << 0)
    data = bytes(measurement)
    assert data[-5:-3] == bytes.fromhex("64b0")  # 0xB064 = 100 x 10^-5 kg/L
    parsed = GlucoseMeasurement.parse(data)
    assert parsed == measurement
    (reading,) = parsed.readings(0.0, "glucose")
    assert (reading.value, reading.unit) == (100.0, "mg/dL")
    assert reading.time == WHEN.timestamp() - 30 * 60
    assert reading.status == {"battery_low", "sample_capillary_whole_blood", "location_finger"}


def test_glucose_molar_concentration_to_mmol_per_l() -> None:
    measurement = GlucoseMeasurement(1, WHEN, concentration=Concentration(Mder(55, -4), molar=True))
    (reading,) = GlucoseMeasurement.parse(bytes(measurement)).readings(0.0, "glucose")
    assert (reading.value, reading.unit) == (5.5, "mmol/L")


def test_glucose_without_concentration_has_no_reading() -> None:
    assert GlucoseMeasurement(1, WHEN).readings(0.0, "glucose") == []


def test_racp_requests_and_record_count() -> None:
    assert bytes(RacpRequest(RacpOp.REPORT_RECORDS)) == b"\x01\x01"
    request = RacpRequest(RacpOp.REPORT_RECORDS, RacpOperator.GREATER_OR_EQUAL, b"\x01\x05\x00")
    assert RacpRequest.parse(bytes(request)) == request
    assert parse_indication(bytes(RacpNumberOfRecords(3))) == RacpNumberOfRecords(3)
    with pytest.raises(ProtocolError, match="is a response, not a request"):
        RacpRequest.parse(b"\x06\x00\x01\x01")
    with pytest.raises(ProtocolError, match="9 is not a known operator"):
        RacpRequest.parse(b"\x01\x09")
    with pytest.raises(ProtocolError, match="unexpected bytes"):
        parse_indication(b"\x06\x00\x01\x01\x00")


def test_weight_with_bmi_and_height() -> None:
    measurement = WeightMeasurement(14000, bmi=229, height=1750, user_id=2)
    readings = {r.kind: r for r in WeightMeasurement.parse(bytes(measurement)).readings(0.0, "scale")}
    assert (readings[Kind.BODY_WEIGHT].value, readings[Kind.BMI].value, readings[Kind.HEIGHT].value) == (70.0, 22.9, 1.75)
    assert (readings[Kind.BMI].unit, readings[Kind.HEIGHT].unit) == ("kg/m2", "m")


def test_unsuccessful_weighing_is_absent() -> None:
    (reading,) = WeightMeasurement(0xFFFF).readings(0.0, "scale")
    assert (reading.value, reading.absent) == (None, Absent.NAN)


@pytest.mark.parametrize("data", [bytes(DateTime(2024, 13, 1)), bytes(DateTime(2023, 2, 30)),
                                  bytes(DateTime(2024, 1, 1, 24))])
def test_impossible_dates_are_rejected(data: bytes) -> None:
    with pytest.raises(ProtocolError, match="Date Time"):
        DateTime.parse(data)


def test_unknown_date_has_no_timestamp() -> None:
    assert DateTime.parse(bytes(DateTime(0, 0, 0))).timestamp() is None
