"""The GATT Date Time characteristic (0x2A08) embedded in health measurements."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from devices.errors import ProtocolError

_LAYOUT = struct.Struct("<HBBBBB")
SIZE = _LAYOUT.size


@dataclass(frozen=True, slots=True)
class DateTime:
    """A device wall-clock time. ``year``, ``month`` or ``day`` 0 means "not known"."""

    year: int
    month: int
    day: int
    hours: int = 0
    minutes: int = 0
    seconds: int = 0

    @classmethod
    def parse(cls, data: bytes) -> Self:
        if len(data) != SIZE:
            raise ProtocolError(f"Date Time needs {SIZE} bytes, got {len(data)}")
        value = cls(*_LAYOUT.unpack(data))
        value._check()
        return value

    @classmethod
    def from_timestamp(cls, when: float) -> Self:
        moment = datetime.fromtimestamp(when)
        return cls(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)

    def __bytes__(self) -> bytes:
        return _LAYOUT.pack(self.year, self.month, self.day, self.hours, self.minutes, self.seconds)

    @property
    def known(self) -> bool:
        return self.year != 0 and self.month != 0 and self.day != 0

    def timestamp(self) -> float | None:
        """Epoch seconds, reading the device clock as the station's local time; None if unknown."""
        if not self.known:
            return None
        moment = datetime(self.year, self.month, self.day, self.hours, self.minutes, self.seconds)
        return moment.timestamp()

    def _check(self) -> None:
        ranges = (("year", self.year, 1582, 9999), ("month", self.month, 1, 12), ("day", self.day, 1, 31),
                  ("hours", self.hours, 0, 23), ("minutes", self.minutes, 0, 59),
                  ("seconds", self.seconds, 0, 59))
        for name, value, low, high in ranges:
            unknown = value == 0 and name in ("year", "month", "day")
            if not unknown and not low <= value <= high:
                raise ProtocolError(f"Date Time {name} {value} is outside {low}..{high}")
        if self.known:
            try:
                datetime(self.year, self.month, self.day)
            except ValueError as exc:
                raise ProtocolError(f"Date Time {self.year}-{self.month}-{self.day} is not a date") from exc
