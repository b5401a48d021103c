"""Hostile bytes never crash a serial codec or the decode contract; every serial simulator frame
survives an encode-then-decode round trip."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices import contec, nonin, visomat
from devices.decode import PROTOCOLS, decode
from devices.errors import ProtocolError
from devices.reading import Reading, plausible
from devices.serial_profiles import SERIAL_PROFILES
from devices.sim.serial_devices import ContecLegacySimulator, ContecV7Simulator, NoninSimulator, VisomatSimulator

PARSERS: list[Callable[[bytes], Any]] = [
    contec.RealTime.parse, contec.unframe, contec.LegacyPacket.parse, nonin.Df2Frame.parse, nonin.Df7Frame.parse,
    nonin.Df8Frame.parse, nonin.Df13Packet.parse, nonin.parse_command, visomat.Record.parse,
    visomat.MemoryBlock.parse,
]


def _check(readings: list[Reading]) -> None:
    for reading in readings:
        assert isinstance(reading, Reading)
        if reading.value is not None:
            assert plausible(reading.kind, reading.value, reading.unit)


@pytest.mark.parametrize("parse", PARSERS, ids=[p.__qualname__ for p in PARSERS])
@settings(max_examples=300)
@given(data=st.binary(max_size=40))
def test_arbitrary_bytes_give_a_frame_or_protocol_error(parse: Callable[[bytes], Any], data: bytes) -> None:
    try:
        frame = parse(data)
    except ProtocolError:
        return
    if hasattr(frame, "readings"):
        _check(frame.readings(0.0, "fuzz") if not isinstance(frame, visomat.Record) else frame.readings("fuzz"))


# Bytes that look like the protocols, so that fuzzing reaches past the first check.
_near = st.one_of(st.binary(max_size=60), st.lists(st.sampled_from(
    [b"\x01", b"\x80", b"\x81", b"\x7d", b"\x00\x02\x00\x0d\x00\x0e", b"\x02", b"\x03", b"\x55", b"\x06",
     b"M1", b"01", b"15110321300134097083", b"\xff"]), max_size=12).map(b"".join))


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
@settings(max_examples=100)
@given(data=_near)
def test_decode_contract_gives_readings_or_protocol_error(protocol: str, data: bytes) -> None:
    try:
        result = decode(protocol, data)
    except ProtocolError:
        return
    assert set(result) == {"readings", "frames"}


@pytest.mark.parametrize("kind", sorted(SERIAL_PROFILES))
@settings(max_examples=50)
@given(chunks=st.lists(_near, max_size=8))
def test_serial_sessions_swallow_anything(kind: str, chunks: list[bytes]) -> None:
    session = SERIAL_PROFILES[kind]()
    for chunk in chunks:
        _check(session.on_data(chunk, 0.0, "fuzz"))


@given(chunks=st.lists(_near, max_size=8))
def test_nonin_command_decoder_swallows_anything(chunks: list[bytes]) -> None:
    decoder = nonin.CommandDecoder()
    for chunk in chunks:
        decoder.receive_data(chunk)
        assert all(isinstance(c, (nonin.SelectFormat, nonin.SetTime)) for c in decoder.commands())


byte7 = st.integers(0, 127)
times = st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(lambda t: t.replace(microsecond=0))
FRAMES = {
    "contec-v7": st.builds(contec.RealTime, st.integers(0, 15), st.sampled_from([0, 0x10, 0x20, 0x80, 0xF0]), byte7,
                           st.booleans(), st.integers(0, 15), st.integers(0, 255), st.integers(0, 255),
                           st.integers(0, 0xFFFF)),
    "contec-legacy": st.builds(contec.LegacyPacket, st.integers(0, 15), st.booleans(), st.booleans(), st.booleans(),
                               byte7, st.integers(0, 15), st.booleans(), st.booleans(), st.integers(0, 255), byte7),
    "df2": st.builds(nonin.Df2Frame, st.integers(0x80, 0xFF), st.integers(0, 255), st.integers(0, 255)),
    "df7": st.builds(nonin.Df7Frame, st.integers(0x80, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 255)),
    "df8": st.builds(nonin.Df8Frame, st.integers(0, 31).map(lambda b: b << 2), st.integers(0, 511), byte7,
                     byte7),
    "df13": st.builds(nonin.Df13Packet, times, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 255)),
    "visomat": st.builds(visomat.MemoryBlock, st.dictionaries(st.integers(1, 9), st.lists(st.builds(
        visomat.Record, st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)).map(
            lambda t: t.replace(second=0, microsecond=0)), st.integers(0, 9), st.integers(0, 999),
        st.integers(0, 999), st.integers(0, 999)), max_size=5).map(tuple), min_size=1, max_size=3)),
}


@pytest.mark.parametrize("name", FRAMES)
@settings(max_examples=150)
@given(data=st.data())
def test_encode_then_decode_round_trips(name: str, data: st.DataObject) -> None:
    frame = data.draw(FRAMES[name])
    assert type(frame).parse(bytes(frame)) == frame


@given(command=st.one_of(st.builds(nonin.SelectFormat, st.sampled_from(nonin.DataFormat)),
                         st.builds(nonin.SetTime, times)))
def test_nonin_commands_round_trip(command: nonin.NoninCommand) -> None:
    assert nonin.parse_command(bytes(command)) == command


async def test_every_serial_simulator_frame_round_trips_into_plausible_readings() -> None:
    """What the simulators put on the wire decodes back to exactly what they meant to send."""
    for tick in range(600):
        v7 = ContecV7Simulator.packet(tick)
        assert contec.RealTime.parse(bytes(v7)) == v7
        legacy = ContecLegacySimulator.packet(tick)
        assert contec.LegacyPacket.parse(bytes(legacy)) == legacy
        for frame in (v7, legacy):
            readings = frame.readings(0.0, "sim")
            assert all(r.value is not None for r in readings) and len(readings) >= 2
            _check(readings)
        record = VisomatSimulator.record(tick, datetime(2026, 1, 1) + timedelta(minutes=tick))
        assert visomat.Record.parse(bytes(record)) == record
        assert all(r.value is not None for r in record.readings("sim"))
    for data_format in nonin.DataFormat:
        sim = NoninSimulator(data_format)
        try:
            read = nonin.reader(data_format)
            got = [r for tick in range(40) for r in read(sim.frames(tick), 0.0, "sim")]
            expected = [NoninSimulator.values(tick) for tick in range(40)]
        finally:
            await sim.stop()
        assert [(r.value) for r in got if r.kind == "pulse_rate"] == [float(hr) for hr, _ in expected]
        assert [(r.value) for r in got if r.kind == "spo2"] == [float(spo2) for _, spo2 in expected]
