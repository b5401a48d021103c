"""Visomat Double Comfort / Prevention DS-2200PV blood-pressure monitors over USB-serial.

The monitor sends its memory as ASCII wrapped in STX (0x02) ... ETX (0x03) (visomat-utils
README). A memory block is, per user, ``M`` + the user digit + a two-digit record count, then
that many 20-digit records ``yymmdd HHMM f SYS DIA PR`` (no spaces on the wire), e.g.
``M1001M20115110321300134097083``: user 1 holds no record, user 2 holds one, taken 2015-11-03
21:30, flag 0, 134/97 mmHg, pulse 83/min.

The monitor pushes the block after a measurement; the station publishes the records it has not
seen before (:class:`NewRecords`). Record times are the monitor's local wall-clock time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from devices.bytestream import StreamDecoder
from devices.errors import ProtocolError
from devices.gatt.fields import collect, to_reading
from devices.ieee11073 import Mder
from devices.reading import Kind, Reading


STX = 0x02
ETX = 0x03
RECORD_SIZE = 20
MAX_FRAME = 4096  # two users x 99 records fit in about 4 KB
_RECORD = re.compile(rb"(\d{6})(\d{4})(\d)(\d{3})(\d{3})(\d{3})")
_USER = re.compile(rb"M(\d)(\d{2})")


@dataclass(frozen=True, slots=True)
class Record:
    """One stored measurement."""

    taken: datetime  # the monitor's local time, minute resolution, 2000-2099
    flag: int
    systolic: int
    diastolic: int
    pulse_rate: int

    @classmethod
    def parse(cls, text: bytes) -> Self:
        match = _RECORD.fullmatch(text)
        if match is None:
            raise ProtocolError(f"Visomat record must be {RECORD_SIZE} digits, got {text!r}")
        day, clock, flag, systolic, diastolic, pulse = match.groups()
        try:
            # Two-digit years are 2000-2099 (strptime's %y would read 69-99 as the 1900s).
            taken = datetime(2000 + int(day[:2]), int(day[2:4]), int(day[4:]), int(clock[:2]), int(clock[2:]))
        except ValueError as exc:
            raise ProtocolError(f"Visomat record has an impossible date/time {(day + clock).decode()}") from exc
        return cls(taken, int(flag), int(systolic), int(diastolic), int(pulse))

    def __bytes__(self) -> bytes:
        return (f"{self.taken:%y%m%d%H%M}{self.flag:1d}{self.systolic:03d}{self.diastolic:03d}"
                f"{self.pulse_rate:03d}").encode()

    def readings(self, source: str) -> list[Reading]:
        time = self.taken.timestamp()
        status = frozenset({f"flag_{self.flag}"}) if self.flag else frozenset()
        return collect(to_reading(Kind.SYSTOLIC, Mder(self.systolic), "mm[Hg]", time, source, status),
                       to_reading(Kind.DIASTOLIC, Mder(self.diastolic), "mm[Hg]", time, source, status),
                       to_reading(Kind.PULSE_RATE, Mder(self.pulse_rate), "/min", time, source, status))


@dataclass(frozen=True, slots=True)
class MemoryBlock:
    """The records of each user, in the monitor's order (oldest first)."""

    users: dict[int, tuple[Record, ...]]

    @classmethod
    def parse(cls, body: bytes) -> Self:
        users: dict[int, tuple[Record, ...]] = {}
        offset = 0
        while offset < len(body):
            header = _USER.match(body, offset)
            if header is None:
                raise ProtocolError(f"Visomat block: expected 'M<user><count>' at offset {offset} of {body!r}")
            user, count = int(header.group(1)), int(header.group(2))
            offset = header.end()
            end = offset + count * RECORD_SIZE
            if end > len(body):
                raise ProtocolError(f"Visomat block: user {user} announces {count} records, the block is short")
            users[user] = tuple(Record.parse(body[start:start + RECORD_SIZE])
                                for start in range(offset, end, RECORD_SIZE))
            offset = end
        if not users:
            raise ProtocolError("Visomat block is empty")
        return cls(users)

    def __bytes__(self) -> bytes:
        return b"".join(b"M%d%02d" % (user, len(records)) + b"".join(bytes(r) for r in records)
                        for user, records in self.users.items())

    def framed(self) -> bytes:
        return bytes([STX]) + bytes(self) + bytes([ETX])


class FrameDecoder(StreamDecoder):
    """Sans-I/O: STX ... ETX frames out of a byte stream; noise and oversize frames are dropped."""

    def __init__(self) -> None:
        super().__init__("Visomat")

    def frames(self) -> list[bytes]:
        out = []
        while True:
            start = self._buffer.find(STX)
            self._drop(len(self._buffer) if start < 0 else start)
            if not self._buffer:
                return out
            end = self._buffer.find(ETX)
            restart = self._buffer.find(STX, 1)
            if 0 < restart and (end < 0 or restart < end):
                self._drop(restart)  # a frame cut short by a new one
            elif end < 0:
                if len(self._buffer) > MAX_FRAME:
                    self._drop(len(self._buffer))
                return out
            else:
                out.append(bytes(self._buffer[1:end]))
                del self._buffer[:end + 1]


class NewRecords:
    """Remembers what was published so that a re-sent memory block yields only new records."""

    def __init__(self, limit: int = 1000) -> None:
        self._seen: dict[tuple[int, Record], None] = {}
        self._limit = limit

    def take(self, block: MemoryBlock) -> list[Record]:
        fresh = []
        for user, records in block.users.items():
            for record in records:
                key = (user, record)
                if key not in self._seen:
                    self._seen[key] = None
                    fresh.append(record)
        while len(self._seen) > self._limit:
            del self._seen[next(iter(self._seen))]
        return sorted(fresh, key=lambda record: record.taken)
