"""What each serial device needs: line settings, commands to send, and how its bytes become readings.

A session is sans-I/O and lives for one connection; :class:`devices.serial_source.SerialSource`
opens the port with ``settings``, writes ``startup`` once, writes each ``periodic`` command on
its schedule and feeds every chunk it reads to ``on_data``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

from devices import contec, visomat
from devices.errors import ProtocolError
from devices.reading import Reading

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
    settings: ClassVar[LineSettings]
    startup: ClassVar[tuple[bytes, ...]]
    periodic: ClassVar[tuple[Periodic, ...]]

    def on_data(self, data: bytes, time: float, source: str) -> list[Reading]:
        """Readings from the complete packets so far; garbage is dropped (and logged), never raised."""
        ...


class ContecV7Session:
    """Start real-time data, keep the device informed we are here (0xAF every 5 s), and re-send
    the start command every 15 s because a CMS50D+ stops streaming after about 30 s."""

    settings = LineSettings(115200)
    startup = (contec.command(contec.Command.START_REALTIME),)
    periodic = (Periodic(5.0, contec.command(contec.Command.KEEP_ALIVE)),
                Periodic(15.0, contec.command(contec.Command.START_REALTIME)))

    def __init__(self) -> None:
        self._decoder = contec.V7Decoder()

    def on_data(self, data: bytes, time: float, source: str) -> list[Reading]:
        self._decoder.receive_data(data)
        return [reading for packet in self._decoder.packets() for reading in packet.readings(time, source)]


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
}
