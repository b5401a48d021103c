"""The vitals channel's compact message: what goes in comes out, smaller than the record form, and
anything else is refused with ValueError."""

from __future__ import annotations

import json

import pytest

from devices.reading import Absent, Kind, Reading
from station import vitalschannel

SENT = 1_796_632_426.8
OXIMETER = "contec-v7:/tmp/farlink-sim-lxye3qe0/contec-v7"


def oximeter() -> list[Reading]:
    return [
        Reading(Kind.SPO2, 97.0, "%", SENT - 0.25, OXIMETER),
        Reading(Kind.PULSE_RATE, 72.0, "/min", SENT - 0.25, OXIMETER, status=frozenset({"searching", "artifact"})),
        Reading(Kind.PERFUSION_INDEX, 2.37, "%", SENT - 0.25, OXIMETER),
    ]


def test_readings_come_back_as_sent() -> None:
    readings = [*oximeter(), Reading(Kind.SYSTOLIC, None, "mm[Hg]", SENT - 3600, "visomat:/dev/ttyUSB0",
                                     absent=Absent.NRES)]
    sent, back = vitalschannel.decode(vitalschannel.encode(readings, SENT))
    assert sent == SENT
    assert [r.time for r in back] == pytest.approx([r.time for r in readings], abs=0.001)  # milliseconds on the wire
    assert [{**r.to_json(), "time": 0} for r in back] == [{**r.to_json(), "time": 0} for r in readings]


def test_the_record_form_a_station_sent_before_is_still_read() -> None:
    legacy = json.dumps({"type": "readings", "sent": SENT, "readings": [r.to_json() for r in oximeter()]})
    assert vitalschannel.decode(legacy) == (SENT, oximeter())


def test_an_oximeter_message_is_under_half_the_record_form() -> None:
    record_form = json.dumps({"type": "readings", "sent": SENT, "readings": [r.to_json() for r in oximeter()]})
    compact = vitalschannel.encode(oximeter(), SENT)
    assert len(compact) < len(record_form) / 2, (len(compact), len(record_form))


@pytest.mark.parametrize("raw", [
    b"\xff\xfe garbage",
    "[]",
    '{"type": "chat", "sent": 1, "sources": {}}',
    '{"type": "readings", "sources": {}}',
    '{"type": "readings", "sent": 1, "sources": {"s": [["spo2", 97, "%"]]}}',
    '{"type": "readings", "sent": 1, "sources": {"s": [["no such kind", 97, "%", 0]]}}',
    '{"type": "readings", "sent": 1, "sources": {"s": [["spo2", null, "%", 0]]}}',
    '{"type": "readings", "sent": 1, "sources": {"s": [["spo2", 97, "%", 0, {"absent": "off finger?"}]]}}',
    '{"type": "readings", "sent": 1, "sources": {"s": [7]}}',
    '{"type": "readings", "sent": 1, "sources": []}',
    '{"type": "readings", "sent": NaN, "sources": {}}',
    '{"type": "readings", "sent": true, "sources": {}}',
    '{"type": "readings", "sent": "12", "sources": {}}',
    '{"type": "readings", "sent": 1e999, "sources": {}}',
    '{"type": "readings", "sent": 1, "sources": {"s": [["spo2", Infinity, "%", 0]]}}',
    '{"type": "readings", "sent": 1, "sources": {"s": [["spo2", 97, {"a": 1}, 0]]}}',
    '{"type": "readings", "sent": 1, "sources": {"s": [["spo2", 97, "%", 0, {"status": "artifact"}]]}}',
    '{"type": "readings", "sent": 1, "sources": {"s": [["spo2", 97, "%", 0, {"status": [1, "a"]}]]}}',
    '{"type": "readings", "sent": 1, "sources": {"s": [["spo2", 97, "%", 0, [], 6]]}}',
    '{"type": "readings", "sent": 1, "sources": {"s": [["spo2", 97, "%", 0, "x"]]}}',
    '{"type": "readings", "sent": 1, "sources": {"s": [["spo2", 97, "%", 1' + "0" * 400 + ']]}}',
    "[" * 100_000,
    '{"type": "readings", "sent": 1, "readings": [{"kind": "spo2", "value": NaN, "unit": "%", "time": 1, "source": "s"}]}',
])
def test_anything_else_is_refused(raw: str | bytes) -> None:
    with pytest.raises(ValueError):
        vitalschannel.decode(raw)
