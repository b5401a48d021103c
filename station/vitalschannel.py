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
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from devices.reading import Absent, Kind, Reading

TYPE = "readings"


def encode(readings: Iterable[Reading], sent: float) -> str:
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
    return json.dumps({"type": TYPE, "sent": round(sent, 3), "sources": sources}, separators=(",", ":"))


def decode(raw: str | bytes) -> tuple[float, list[Reading]]:
    """The sending time and the readings of one message; ``ValueError`` if it is not one."""
    try:
        message = json.loads(raw)
        if message["type"] != TYPE:
            raise ValueError(f"not a vitals message: type {message['type']!r}")
        sent = float(message["sent"])
        readings = []
        for source, rows in message["sources"].items():
            for kind, value, unit, age_ms, *rest in rows:
                extra = rest[0] if rest else {}
                absent = extra.get("absent")
                readings.append(Reading(
                    kind=Kind(kind), value=None if value is None else float(value), unit=str(unit),
                    time=sent - float(age_ms) / 1000, source=str(source), status=frozenset(extra.get("status", ())),
                    absent=None if absent is None else Absent(absent)))
        return sent, readings
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed vitals message: {exc!r}") from exc


def _number(value: float | None) -> float | int | None:
    """97.0 goes as 97: two bytes less for each of most readings."""
    return int(value) if value is not None and value.is_integer() else value
