"""The BLE code path end to end: BleSource -> bumble central -> in-process air -> bumble peripherals."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from devices.ble_source import BleSource
from devices.source import Backoff
from devices.reading import Kind, Reading
from devices.sim.ble_devices import start_ble_simulator
from devices.sim.ble_link import BumbleBackend
from devices.sim.ble_peripheral import BlePeripheral
from devices.source import DeviceEvent, Gap, LinkState, StateChange

FAST = 0.05  # simulator tick: keep the suite quick


def test_backoff_doubles_up_to_its_maximum_and_resets() -> None:
    backoff = Backoff(initial=0.5, maximum=3.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5


@pytest.fixture
async def backend() -> AsyncIterator[BumbleBackend]:
    backend = BumbleBackend()
    yield backend
    await backend.close()


async def take(source: BleSource, count: int, kinds: set[Kind] | None = None) -> list[DeviceEvent]:
    """Events until ``count`` readings (of ``kinds`` if given) have arrived."""
    events: list[DeviceEvent] = []
    seen = 0
    async for event in source.events():
        events.append(event)
        if isinstance(event, Reading) and (kinds is None or event.kind in kinds):
            seen += 1
            if seen == count:
                return events
    raise AssertionError("events() ended")


def readings(events: list[DeviceEvent]) -> list[Reading]:
    return [e for e in events if isinstance(e, Reading)]


async def start(kind: str, **options: float) -> BlePeripheral:
    return await start_ble_simulator(kind, interval_s=options.pop("interval_s", FAST), **options)


async def test_plx_oximeter(backend: BumbleBackend) -> None:
    sim = await start("ble-plx")
    try:
        source = BleSource("ble-plx", sim.port, backend=backend)
        events = await take(source, 12, {Kind.SPO2})
    finally:
        await sim.stop()
    states = [e.state for e in events if isinstance(e, StateChange)]
    assert states == [LinkState.CONNECTING, LinkState.CONNECTED]
    spo2 = [r for r in readings(events) if r.kind is Kind.SPO2]
    assert {r.value for r in spo2} >= {96.0, 97.0, 98.0, 99.0}
    assert {r.value for r in readings(events) if r.kind is Kind.PULSE_RATE} <= set(range(70, 79))
    assert any(r.kind is Kind.PERFUSION_INDEX for r in readings(events))
    assert any(r.value == 97.5 and "validated" in r.status for r in spo2)  # an indicated spot-check
    assert {r.source for r in readings(events)} == {"ble-plx:bumble:Farlink PLX"}


async def test_drop_out_is_reconnected_and_the_gap_reported(backend: BumbleBackend) -> None:
    sim = await start("ble-plx")
    source = BleSource("ble-plx", sim.address, backend=backend, backoff=Backoff(initial=0.05))
    events: list[DeviceEvent] = []
    dropped_after = 0
    try:
        async for event in source.events():
            events.append(event)
            if len(readings(events)) == 4 and not dropped_after:
                dropped_after = len(events)
                await sim.disconnect(outage_s=0.3)
            if any(isinstance(e, Gap) for e in events) and len(readings(events[dropped_after:])) >= 6:
                break
    finally:
        await sim.stop()
    states = [e.state for e in events if isinstance(e, StateChange)]
    assert states[:3] == [LinkState.CONNECTING, LinkState.CONNECTED, LinkState.DISCONNECTED]
    assert states[-1] is LinkState.CONNECTED
    (gap,) = [e for e in events if isinstance(e, Gap)]
    drop = next(i for i, e in enumerate(events) if isinstance(e, StateChange) and e.state is LinkState.DISCONNECTED)
    before = [e for e in events[:drop] if isinstance(e, Reading)]
    after = [e for e in events[drop:] if isinstance(e, Reading)]
    assert before and after
    assert gap.start <= after[0].time and gap.end >= gap.start + 0.3
    assert events.index(gap) < events.index(after[0])


async def test_absent_device_reports_disconnected_and_keeps_trying(backend: BumbleBackend) -> None:
    source = BleSource("ble-plx", "bumble:Nobody", backend=backend, backoff=Backoff(initial=0.01),
                       connect_timeout_s=0.2)
    events: list[DeviceEvent] = []
    async for event in source.events():
        events.append(event)
        if len(events) == 4:
            break
    assert [e.state for e in events if isinstance(e, StateChange)] == [
        LinkState.CONNECTING, LinkState.DISCONNECTED, LinkState.CONNECTING, LinkState.DISCONNECTED]
    assert "not found" in events[1].reason  # type: ignore[union-attr]


DEVICES = {
    "ble-bp": ({Kind.SYSTOLIC, Kind.DIASTOLIC, Kind.MEAN_ARTERIAL, Kind.PULSE_RATE, Kind.CUFF_PRESSURE}, 14),
    "ble-thermometer": ({Kind.BODY_TEMPERATURE}, 3),
    "ble-heart-rate": ({Kind.HEART_RATE, Kind.RR_INTERVAL, Kind.ENERGY_EXPENDED}, 40),
    "ble-weight": ({Kind.BODY_WEIGHT, Kind.BMI, Kind.HEIGHT}, 6),
    "ble-berrymed": ({Kind.SPO2, Kind.PULSE_RATE}, 4),
    "ble-o2ring": ({Kind.SPO2, Kind.PULSE_RATE}, 4),
}


@pytest.mark.parametrize("kind", DEVICES)
async def test_each_simulator_through_the_ble_path(kind: str, backend: BumbleBackend) -> None:
    expected, count = DEVICES[kind]
    sim = await start(kind, interval_s=0.02 if kind == "ble-heart-rate" else FAST)
    try:
        events = await take(BleSource(kind, sim.port, backend=backend), count)
    finally:
        await sim.stop()
    got = readings(events)
    assert {r.kind for r in got} == expected
    assert all(r.value is not None for r in got)
    assert [e.state for e in events if isinstance(e, StateChange)] == [LinkState.CONNECTING, LinkState.CONNECTED]


async def test_blood_pressure_values(backend: BumbleBackend) -> None:
    sim = await start("ble-bp")
    try:
        events = await take(BleSource("ble-bp", sim.port, backend=backend), 1, {Kind.SYSTOLIC})
    finally:
        await sim.stop()
    by_kind = {r.kind: r for r in readings(events)}
    assert by_kind[Kind.SYSTOLIC].unit == "mm[Hg]" and 118 <= (by_kind[Kind.SYSTOLIC].value or 0) <= 122
    assert {r.value for r in readings(events) if r.kind is Kind.CUFF_PRESSURE} <= {40.0, 90.0, 140.0, 170.0}


async def test_glucose_records_are_downloaded_through_the_racp(backend: BumbleBackend) -> None:
    sim = await start_ble_simulator("ble-glucose", records=4)
    try:
        events = await take(BleSource("ble-glucose", sim.port, backend=backend), 4)
    finally:
        await sim.stop()
    got = readings(events)
    assert [r.value for r in got] == [92.0, 99.0, 106.0, 113.0]
    assert {r.unit for r in got} == {"mg/dL"}
    assert [r.time for r in got] == sorted(r.time for r in got)  # device record times, oldest first


async def test_berrymed_stream_is_resynchronised_and_throttled(backend: BumbleBackend) -> None:
    sim = await start("ble-berrymed")
    source = BleSource("ble-berrymed", sim.port, backend=backend)
    try:
        events = await take(source, 4)
    finally:
        await sim.stop()
    got = readings(events)
    assert {(r.kind, r.value) for r in got} >= {(Kind.SPO2, 97.0), (Kind.PULSE_RATE, 70.0)}
    assert source.garbage == 0
