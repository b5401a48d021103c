"""Hostile bytes never crash a BLE codec; every frame a simulator can send survives a round trip."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.berrymed import BciDecoder, BciPacket
from devices.errors import ProtocolError
from devices.gatt.blood_pressure import BloodPressureMeasurement, IntermediateCuffPressure
from devices.gatt.date_time import DateTime
from devices.gatt.glucose import Concentration, GlucoseMeasurement
from devices.gatt.heart_rate import HeartRateMeasurement, SensorContact
from devices.gatt.plx import Continuous, Features, SpotCheck
from devices.gatt.racp import RacpRequest, parse_indication
from devices.gatt.thermometer import TemperatureMeasurement
from devices.gatt.weight import WeightMeasurement
from devices.ieee11073 import Mder
from devices.o2ring import O2Decoder, O2Request, O2Response, O2Sensors
from devices.reading import Reading, plausible

PARSERS: list[Callable[[bytes], Any]] = [
    SpotCheck.parse, Continuous.parse, Features.parse, BloodPressureMeasurement.parse,
    IntermediateCuffPressure.parse, TemperatureMeasurement.parse, HeartRateMeasurement.parse,
    GlucoseMeasurement.parse, WeightMeasurement.parse, RacpRequest.parse, parse_indication,
    BciPacket.parse, O2Request.parse, O2Response.parse, O2Sensors.parse, DateTime.parse,
]


def _check_readings(readings: list[Reading]) -> None:
    for reading in readings:
        assert isinstance(reading, Reading)
        if reading.value is not None:
            assert plausible(reading.kind, reading.value, reading.unit)


@pytest.mark.parametrize("parse", PARSERS, ids=[p.__qualname__ for p in PARSERS])
@settings(max_examples=300)
@given(data=st.binary(max_size=40))
def test_arbitrary_bytes_give_readings_or_protocol_error(parse: Callable[[bytes], Any], data: bytes) -> None:
    try:
        frame = parse(data)
    except ProtocolError:
        return
    if hasattr(frame, "readings"):
        _check_readings(frame.readings(0.0, "fuzz"))


@given(st.lists(st.binary(max_size=30), max_size=8))
def test_stream_decoders_swallow_anything(chunks: list[bytes]) -> None:
    bci, o2 = BciDecoder(), O2Decoder()
    for chunk in chunks:
        bci.receive_data(chunk)
        o2.receive_data(chunk)
        for packet in bci.packets():
            _check_readings(packet.readings(0.0, "fuzz"))
        while o2.next_frame() is not None:
            pass


sfloats = st.integers(0, 0xFFFF).map(Mder.from_sfloat)
floats = st.integers(0, 0xFFFFFFFF).map(Mder.from_float)
u16, u24 = st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFF)
date_times = st.builds(DateTime, st.integers(1582, 9999), st.integers(1, 12), st.integers(1, 28),
                       st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
optional = st.none().__or__


def _features(supported: int, measurement: int | None, device: int | None) -> Features:
    bits = supported & ~3 | (measurement is not None) | (device is not None) << 1
    return Features(bits, measurement, device)


FRAMES = {
    "spot-check": st.builds(SpotCheck, sfloats, sfloats, optional(date_times), optional(u16), optional(u24),
                            optional(sfloats), st.booleans()),
    "continuous": st.builds(Continuous, sfloats, sfloats, optional(st.tuples(sfloats, sfloats)),
                            optional(st.tuples(sfloats, sfloats)), optional(u16), optional(u24), optional(sfloats)),
    "features": st.builds(_features, u16, optional(u16), optional(u24)),
    "blood-pressure": st.builds(BloodPressureMeasurement, sfloats, sfloats, sfloats, st.booleans(),
                                optional(date_times), optional(sfloats), optional(st.integers(0, 255)), optional(u16)),
    "cuff": st.builds(IntermediateCuffPressure.of, sfloats, kpa=st.booleans()),
    "temperature": st.builds(TemperatureMeasurement, floats, st.booleans(), optional(date_times),
                             optional(st.integers(0, 255))),
    "heart-rate": st.one_of(
        st.builds(HeartRateMeasurement, st.integers(0, 255), st.sampled_from(SensorContact), optional(u16),
                  st.lists(u16, max_size=7).map(tuple), st.just(False)),
        st.builds(HeartRateMeasurement, u16, st.sampled_from(SensorContact), optional(u16),
                  st.lists(u16, max_size=7).map(tuple), st.just(True))),
    "glucose": st.builds(GlucoseMeasurement, u16, date_times, optional(st.integers(-0x8000, 0x7FFF)),
                         optional(st.builds(Concentration, sfloats, st.booleans(), st.integers(0, 15),
                                            st.integers(0, 15))), optional(u16), st.booleans()),
    "weight": st.one_of(
        st.builds(WeightMeasurement, u16, st.booleans(), optional(date_times), optional(st.integers(0, 255))),
        st.builds(WeightMeasurement, u16, st.booleans(), optional(date_times), optional(st.integers(0, 255)),
                  u16, u16)),
    "bci": st.builds(BciPacket, st.integers(0, 15), st.booleans(), st.booleans(), st.booleans(),
                     st.integers(0, 127), st.integers(0, 15), st.booleans(), st.booleans(),
                     st.integers(0, 255), st.integers(0, 127)),
    "o2-response": st.builds(O2Response, st.integers(0, 255), u16, st.binary(max_size=64)),
    "o2-request": st.builds(O2Request, st.integers(0, 255), u16, st.binary(max_size=64)),
}


@pytest.mark.parametrize("name", FRAMES)
@settings(max_examples=150)
@given(data=st.data())
def test_encode_then_decode_round_trips(name: str, data: st.DataObject) -> None:
    frame = data.draw(FRAMES[name])
    parsed = type(frame).parse(bytes(frame))
    assert parsed == frame
    if hasattr(parsed, "readings"):
        _check_readings(parsed.readings(0.0, "sim"))


def _simulator_frames() -> list[Any]:
    from devices.sim import ble_devices as sims

    now = 1_700_000_000.0
    frames: list[Any] = []
    for tick in range(120):
        frames += [sims.PlxOximeter.frame(tick), sims.PlxOximeter.spot(tick, now + tick),
                   sims.BloodPressureCuff.frame(tick, now), sims.Thermometer.frame(tick, now),
                   sims.HeartRateStrap.frame(tick), sims.GlucoseMeter.frame(tick, now - tick * 60),
                   sims.WeightScale.frame(tick), sims.BerryMedOximeter.frame(tick * 7), sims.O2Ring.frame(tick)]
    return frames


def test_every_simulator_frame_round_trips_into_plausible_readings() -> None:
    for frame in _simulator_frames():
        parsed = type(frame).parse(bytes(frame))
        assert parsed == frame
        if hasattr(parsed, "readings"):
            readings = parsed.readings(0.0, "sim")
            _check_readings(readings)
            assert all(r.value is not None for r in readings)
