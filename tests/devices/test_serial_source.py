"""Every serial simulator read through SerialSource on a real pseudo-terminal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
import serial

from devices import contec, nonin
from devices.reading import Kind, Reading
from devices.serial_profiles import SERIAL_PROFILES, ContecV7Session
from devices.serial_source import SerialSource
from devices.sim.serial_devices import ContecV7Simulator, NoninSimulator, SerialSimulator
from devices.catalog import start_simulator
from devices.source import Backoff, DeviceEvent, Gap, LinkState, StateChange

# What each kind must be opened with: a pty ignores baud and parity, so the arguments are checked.
LINE = {
    "contec-v7": dict(baudrate=115200, bytesize=8, parity="N", stopbits=1),
    "contec-legacy": dict(baudrate=19200, bytesize=8, parity="O", stopbits=1),
    "visomat-bp": dict(baudrate=19200, bytesize=8, parity="N", stopbits=1),
    **{f"nonin-df{n}": dict(baudrate=9600, bytesize=8, parity="N", stopbits=1) for n in (2, 7, 8, 13)},
}
FAST = {"contec-v7": 1 / 60, "contec-legacy": 1 / 60, "visomat-bp": 0.3, "nonin-df2": 0.1, "nonin-df7": 0.1,
        "nonin-df8": 0.1, "nonin-df13": 0.1}


DEVICE_CLOCK = {"visomat-bp", "nonin-df13"}  # readings stamped with the device's own time


class RecordingOpener:
    """serial.Serial, remembering the arguments of every open."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, port: str, **kwargs: Any) -> serial.Serial:
        self.calls.append(kwargs)
        return serial.Serial(port, **kwargs)


async def collect(source: SerialSource, done: Callable[[list[DeviceEvent]], bool],
                  on_event: Callable[[list[DeviceEvent]], None] = lambda events: None) -> list[DeviceEvent]:
    events: list[DeviceEvent] = []
    async for event in source.events():
        events.append(event)
        on_event(events)
        if done(events):
            return events
    raise AssertionError("events() ended")


def readings(events: list[DeviceEvent]) -> list[Reading]:
    return [e for e in events if isinstance(e, Reading)]


def test_every_serial_kind_has_a_line_setting_expectation() -> None:
    assert set(LINE) == set(SERIAL_PROFILES)


@pytest.mark.parametrize("kind", sorted(LINE))
async def test_simulator_through_serial_source(kind: str) -> None:
    sim: SerialSimulator = await start_simulator(kind, interval_s=FAST[kind])
    opener = RecordingOpener()
    try:
        source = SerialSource(kind, sim.port, opener=opener)
        events = await collect(source, lambda events: len({(r.kind, r.value) for r in readings(events)}) >= 4)
    finally:
        await sim.stop()
    assert {k: opener.calls[0][k] for k in LINE[kind]} == LINE[kind]
    assert [e.state for e in events if isinstance(e, StateChange)] == [LinkState.CONNECTING, LinkState.CONNECTED]
    got = readings(events)
    assert {r.source for r in got} == {f"{kind}:{sim.port}"}
    for name in ("spo2", "pulse_rate", "systolic"):
        values = [r.value for r in got if r.kind == name]
        assert set(values) <= set(map(float, sim.sent_values(name)))
    assert {r.kind for r in got} >= ({Kind.SYSTOLIC, Kind.DIASTOLIC, Kind.PULSE_RATE} if kind == "visomat-bp"
                                     else {Kind.SPO2, Kind.PULSE_RATE})


@pytest.mark.parametrize("kind", sorted(LINE))
async def test_unplug_mid_stream_is_reconnected_and_the_gap_reported(kind: str) -> None:
    sim: SerialSimulator = await start_simulator(kind, interval_s=FAST[kind])
    source = SerialSource(kind, sim.port, backoff=Backoff(initial=0.05, maximum=0.2))
    state = {"unplugged_at": 0}

    async def replug_later() -> None:
        await asyncio.sleep(0.5)
        sim.replug()

    tasks: list[asyncio.Task[None]] = []

    def on_event(events: list[DeviceEvent]) -> None:
        if not state["unplugged_at"] and len(readings(events)) >= 2:
            state["unplugged_at"] = len(events)
            sim.unplug()
            tasks.append(asyncio.create_task(replug_later()))

    try:
        events = await collect(source, lambda events: any(isinstance(e, Gap) for e in events)
                               and isinstance(events[-1], Reading), on_event)
    finally:
        await sim.stop()
    states = [e.state for e in events if isinstance(e, StateChange)]
    assert states[:3] == [LinkState.CONNECTING, LinkState.CONNECTED, LinkState.DISCONNECTED]
    assert states[-1] is LinkState.CONNECTED
    (gap,) = [e for e in events if isinstance(e, Gap)]
    assert gap.end - gap.start >= 0.5
    first_after = events[events.index(gap) + 1]
    assert isinstance(first_after, Reading)
    if kind not in DEVICE_CLOCK:
        assert gap.start < first_after.time <= gap.end


async def test_contec_v7_keep_alive_and_restart_keep_the_stream_going() -> None:
    sim = ContecV7Simulator(stream_for_s=0.6)
    await sim.start()
    session = partial(ContecV7Session, keep_alive_s=0.2, restart_s=0.4)
    source = SerialSource("contec-v7", sim.port, session=session)
    try:
        events = await collect(source, lambda events: bool(readings(events))
                               and readings(events)[-1].time - readings(events)[0].time > 1.5)
    finally:
        await sim.stop()
    assert sim.commands[0] == contec.Command.START_REALTIME
    assert sim.commands.count(contec.Command.KEEP_ALIVE) >= 5
    assert sim.commands.count(contec.Command.START_REALTIME) >= 3  # without them the stream stops at 0.6 s


async def test_nonin_format_is_selected_and_the_clock_set() -> None:
    sim = NoninSimulator(nonin.DataFormat.DF13, interval_s=0.1)  # powers on in DF13
    await sim.start()
    source = SerialSource("nonin-df8", sim.port)
    try:
        events = await collect(source, lambda events: len(readings(events)) >= 4)
    finally:
        await sim.stop()
    assert sim.commands[0] == nonin.SelectFormat(nonin.DataFormat.DF8)
    assert isinstance(sim.commands[1], nonin.SetTime)
    assert sim.data_format is nonin.DataFormat.DF8
    assert {r.kind for r in readings(events)} == {Kind.SPO2, Kind.PULSE_RATE}
