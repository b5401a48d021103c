"""What each serial device needs: line settings, commands to send, and how its bytes become readings.

A session is sans-I/O and lives for one connection; :class:`devices.serial_source.SerialSource`
opens the port with ``settings``, writes ``startup`` once, writes each ``periodic`` command on
its schedule and feeds every chunk it reads to ``on_data``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import ClassVar, Protocol

from devices import contec, nonin, visomat
from devices.errors import ProtocolError
from devices.reading import Reading
from devices.throttle import Throttle

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LineSettings:
    baudrate: int
    bytesize: int = 8
    parity: str = "N"  # pyserial's PARITY_* letters
    stopbits: int = 1

    def __str__(self) -> str:
        return f"{self.baudrate} {self.bytesize}{self.parity}{self.stopbits}"


@dataclass(frozen=True, slots=True)
class Periodic:
    every_s: float
    data: bytes


class SerialSession(Protocol):
    settings: LineSettings
    startup: tuple[bytes, ...]
    periodic: tuple[Periodic, ...]

    def on_data(self, data: bytes, time: float, source: str) -> list[Reading]:
        """Readings from the complete packets so far; garbage is dropped (and logged), never raised."""
        ...


class ContecV7Session:
    """Start real-time data, keep the device informed we are here (0xAF every ``keep_alive_s``),
    and re-send the start command every ``restart_s`` because a CMS50D+ stops streaming about 30 s
    after the last one. Of the 60 packets a second, changes pass at once, repeats once a second."""

    settings = LineSettings(115200)
    startup = (contec.command(contec.Command.START_REALTIME),)

    def __init__(self, *, keep_alive_s: float = 5.0, restart_s: float = 15.0) -> None:
        self.periodic = (Periodic(keep_alive_s, contec.command(contec.Command.KEEP_ALIVE)),
                         Periodic(restart_s, contec.command(contec.Command.START_REALTIME)))
        self._decoder = contec.V7Decoder()
        self._throttle = Throttle()

    def on_data(self, data: bytes, time: float, source: str) -> list[Reading]:
        self._decoder.receive_data(data)
        return [reading for packet in self._decoder.packets() for reading in packet.readings(time, source)
                if self._throttle(reading)]


class ContecLegacySession:
    """The legacy firmware streams on its own (no commands) at about 60 packets/s; identical
    values are passed on once a second."""

    settings = LineSettings(19200, parity="O")
    startup: ClassVar[tuple[bytes, ...]] = ()
    periodic: ClassVar[tuple[Periodic, ...]] = ()

    def __init__(self) -> None:
        self._decoder = contec.LegacyDecoder()
        self._throttle = Throttle()

    def on_data(self, data: bytes, time: float, source: str) -> list[Reading]:
        self._decoder.receive_data(data)
        return [reading for packet in self._decoder.packets() for reading in packet.readings(time, source)
                if self._throttle(reading)]


class NoninSession:
    """Select the kind's data format and set the device clock to the station's local time right
    after opening the port (the device accepts a format change only in its first 5 s); then decode
    that format. The ACK/NAK answers are dropped with the other non-frame bytes."""

    settings = LineSettings(9600)
    periodic: ClassVar[tuple[Periodic, ...]] = ()

    def __init__(self, data_format: nonin.DataFormat) -> None:
        self.startup = (bytes(nonin.SelectFormat(data_format)),
                        bytes(nonin.SetTime(datetime.now().replace(microsecond=0))))
        self._read = nonin.reader(data_format)
        self._throttle = Throttle()

    def on_data(self, data: bytes, time: float, source: str) -> list[Reading]:
        return [reading for reading in self._read(data, time, source) if self._throttle(reading)]


class VisomatSession:
    """Publish each record of a pushed memory block once. Line settings are not published by the
    maker; 19200 8N1 is what the cable is commonly used with (unverified, override per site)."""

    settings = LineSettings(19200)
    startup: ClassVar[tuple[bytes, ...]] = ()
    periodic: ClassVar[tuple[Periodic, ...]] = ()

    def __init__(self) -> None:
        self._frames = visomat.FrameDecoder()
        self._new = visomat.NewRecords()

    def on_data(self, data: bytes, time: float, source: str) -> list[Reading]:
        self._frames.receive_data(data)
        out: list[Reading] = []
        for body in self._frames.frames():
            try:
                block = visomat.MemoryBlock.parse(body)
            except ProtocolError as exc:
                log.warning("%s: dropped a memory block: %s", source, exc)
                continue
            out += [reading for record in self._new.take(block) for reading in record.readings(source)]
        return out


SERIAL_PROFILES: dict[str, Callable[[], SerialSession]] = {
    "contec-v7": ContecV7Session,
    "visomat-bp": VisomatSession,
    "contec-legacy": ContecLegacySession,
    "nonin-df2": partial(NoninSession, nonin.DataFormat.DF2),
    "nonin-df7": partial(NoninSession, nonin.DataFormat.DF7),
    "nonin-df8": partial(NoninSession, nonin.DataFormat.DF8),
    "nonin-df13": partial(NoninSession, nonin.DataFormat.DF13),
}
