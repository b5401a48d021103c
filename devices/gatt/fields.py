"""Bounds-checked little-endian field access for characteristic values, and Reading publication."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from devices.errors import ProtocolError
from devices.gatt.date_time import SIZE as DATE_TIME_SIZE
from devices.gatt.date_time import DateTime
from devices.ieee11073 import Mder
from devices.reading import Kind, Reading, plausible

log = logging.getLogger(__name__)


class FieldReader:
    """Reads one characteristic value front to back; every read names its field in errors."""

    def __init__(self, data: bytes, what: str) -> None:
        self._data = bytes(data)
        self._offset = 0
        self._what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._offset

    def take(self, size: int, field: str) -> bytes:
        if size > self.remaining:
            raise ProtocolError(
                f"{self._what}: {field} needs {size} bytes at offset {self._offset}, "
                f"only {self.remaining} left (value is {len(self._data)} bytes)")
        chunk = self._data[self._offset:self._offset + size]
        self._offset += size
        return chunk

    def uint(self, size: int, field: str) -> int:
        return int.from_bytes(self.take(size, field), "little")

    def sint(self, size: int, field: str) -> int:
        return int.from_bytes(self.take(size, field), "little", signed=True)

    def sfloat(self, field: str) -> Mder:
        return Mder.from_sfloat(self.uint(2, field))

    def float(self, field: str) -> Mder:
        return Mder.from_float(self.uint(4, field))

    def date_time(self, field: str) -> DateTime:
        return DateTime.parse(self.take(DATE_TIME_SIZE, field))


def sfloat_bytes(value: Mder) -> bytes:
    return value.to_sfloat().to_bytes(2, "little")


def float_bytes(value: Mder) -> bytes:
    return value.to_float().to_bytes(4, "little")


def flag_names(bits: int, names: Mapping[int, str]) -> frozenset[str]:
    """The names of the set bits of a status field (RFU bits are ignored)."""
    return frozenset(name for bit, name in names.items() if bits >> bit & 1)


def to_reading(kind: Kind, value: Mder, unit: str, time: float, source: str,
               status: frozenset[str] = frozenset()) -> Reading | None:
    """A Reading for ``value``; None (logged, never published) when it is physically impossible."""
    if value.absent is not None:
        return Reading(kind, None, unit, time, source, status, value.absent)
    number = value.value
    assert number is not None
    if not plausible(kind, number, unit):
        log.debug("%s: dropped impossible %s %s %s", source, kind, number, unit)
        return None
    return Reading(kind, number, unit, time, source, status)


def collect(*readings: Reading | None) -> list[Reading]:
    return [reading for reading in readings if reading is not None]
