"""The ``vitals`` data channel's message: the latest readings, small enough for a 24 kbit/s uplink.

One message (JSON, no spaces)::

    {"type": "readings", "sent": T,
     "sources": {SOURCE: [[KIND, VALUE, UNIT, AGE_MS], [KIND, null, UNIT, AGE_MS, {"absent": REASON}], ...]}}

``T`` is the station's Unix time when the message left; a reading was taken ``AGE_MS``
milliseconds before it. ``VALUE`` is null exactly where the fifth element names the ``absent``
reason; the fifth element may also carry ``status`` (a list of flags). The record form
(``Reading.to_json``) spells every key and repeats each reading's source, a device path of
some 45 characters: an oximeter's three readings were 460 bytes, 183 ms of a 24 kbit/s
uplink that a vitals message then waited behind itself; here they are about 170.

``decode`` also takes the record form (``"readings": [Reading.to_json(), ...]``), which stations
sent before, so a station not yet upgraded still reaches an upgraded relay.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from devices.reading import Absent, Kind, Reading

TYPE = "readings"


def encode(readings: Iterable[Reading], sent: float) -> str:
    sent = round(sent, 3)
    sources: dict[str, list[list[Any]]] = {}
    for reading in readings:
        row: list[Any] = [reading.kind.value, _number(reading.value), reading.unit,
                          round((sent - reading.time) * 1000)]
        extra: dict[str, Any] = {}
        if reading.status:
            extra["status"] = sorted(reading.status)
        if reading.absent is not None:
            extra["absent"] = reading.absent.value
        sources.setdefault(reading.source, []).append(row + [extra] if extra else row)
    return json.dumps({"type": TYPE, "sent": sent, "sources": sources}, separators=(",", ":"))


def decode(raw: str | bytes) -> tuple[float, list[Reading]]:
    """The sending time and the readings of one message; ``ValueError`` if it is not one."""
    try:
        message = json.loads(raw)
        if not isinstance(message, dict) or message.get("type") != TYPE:
            raise ValueError("not a vitals message")
        sent = _finite(message["sent"])
        if "sources" not in message:
            return sent, [_checked(Reading.from_json(r)) for r in _list(message["readings"])]
        sources = message["sources"]
        if not isinstance(sources, dict):
            raise ValueError("sources is not an object")
        return sent, [_reading(sent, _text(source), row) for source, rows in sources.items() for row in _list(rows)]
    except (KeyError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        raise ValueError(f"malformed vitals message: {exc!r}") from exc


def _reading(sent: float, source: str, row: Any) -> Reading:
    if not isinstance(row, list) or len(row) not in (4, 5):
        raise ValueError(f"a reading is a list of 4 or 5 elements, not {row!r}")
    kind, value, unit, age_ms, *rest = row
    extra = rest[0] if rest else {}
    if not isinstance(extra, dict):
        raise ValueError("a reading's fifth element is an object")
    status, absent = extra.get("status", []), extra.get("absent")
    if not isinstance(status, list) or not all(isinstance(flag, str) for flag in status):
        raise ValueError("status is a list of strings")
    return Reading(kind=Kind(kind), value=None if value is None else _finite(value), unit=_text(unit),
                   time=sent - _finite(age_ms) / 1000, source=source, status=frozenset(status),
                   absent=None if absent is None else Absent(absent))


def _checked(reading: Reading) -> Reading:
    """A record-form reading, its numbers finite."""
    _finite(reading.time)
    if reading.value is not None:
        _finite(reading.value)
    return reading


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{value!r} is not a list")
    return value


def _number(value: float | None) -> float | int | None:
    """97.0 goes as 97: two bytes less for each of most readings."""
    return int(value) if value is not None and float(value).is_integer() else value
