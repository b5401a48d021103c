"""A serial device as a :class:`~devices.source.DeviceSource` that survives unplugging.

The port is opened with the device's own line settings (they differ: 115200 8N1, 19200 8O1,
9600 8N1). Reads run in a worker thread with a short timeout, so the same code works on every
OS pyserial supports. When the port vanishes (USB cable pulled, pty closed) the source reports
it, retries with backoff and reports the gap once data flows again. pyserial and OS errors are
turned into :class:`~devices.errors.TransportError` and never leave this module.
"""

from __future__ import annotations

import asyncio
import logging
import time as wall
from collections.abc import AsyncIterator, Callable
from typing import Any

import serial

from devices.errors import LocalError, TransportError
from devices.reading import Reading
from devices.serial_profiles import SERIAL_PROFILES, SerialSession
from devices.source import Backoff, DeviceEvent, reconnecting

log = logging.getLogger(__name__)

READ_SIZE = 4096


class SerialSource:
    """Reads serial device ``kind`` (a key of :data:`SERIAL_PROFILES`) on ``port``.

    ``port`` is a device path; give a stable one (``/dev/serial/by-id/...``) so that a replugged
    cable is found again. ``opener`` is ``serial.Serial`` unless a test needs another
    pyserial-compatible class (e.g. ``serial.serial_for_url``). ``session`` makes the per-connection
    protocol session (default: the kind's profile; tests shorten a profile's timers with it).
    """

    def __init__(self, kind: str, port: str, *, clock: Callable[[], float] = wall.time,
                 backoff: Backoff | None = None, read_timeout_s: float = 0.1,
                 opener: Callable[..., Any] = serial.Serial,
                 session: Callable[[], SerialSession] | None = None) -> None:
        if kind not in SERIAL_PROFILES:
            raise LocalError(f"unknown serial device kind {kind!r}; known: {', '.join(SERIAL_PROFILES)}",
                             code="unknown_device")
        self.kind = kind
        self.port = port
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._read_timeout_s = read_timeout_s
        self._opener = opener
        self._session = session or SERIAL_PROFILES[kind]

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.port}"

    def events(self) -> AsyncIterator[DeviceEvent]:
        return reconnecting(self.name, self._connect, clock=self._clock, backoff=self._backoff)

    async def _connect(self) -> _SerialConnection:
        session = self._session()
        line = session.settings
        try:
            port = await asyncio.to_thread(
                self._opener, self.port, baudrate=line.baudrate, bytesize=line.bytesize, parity=line.parity,
                stopbits=line.stopbits, timeout=self._read_timeout_s, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"cannot open {self.port} ({line}): {exc}", code="port_unavailable") from exc
        connection = _SerialConnection(self, port, session)
        try:
            for command in session.startup:
                await connection.write(command)
        except TransportError:
            await connection.close()
            raise
        return connection


class _SerialConnection:
    def __init__(self, source: SerialSource, port: Any, session: SerialSession) -> None:
        self._source, self._port, self._session = source, port, session

    async def write(self, data: bytes) -> None:
        try:
            await asyncio.to_thread(self._port.write, data)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"{self._source.port}: write failed: {exc}", code="port_lost") from exc

    async def readings(self) -> AsyncIterator[Reading]:
        loop = asyncio.get_running_loop()
        due = [loop.time() + periodic.every_s for periodic in self._session.periodic]
        while True:
            for index, periodic in enumerate(self._session.periodic):
                if loop.time() >= due[index]:
                    await self.write(periodic.data)
                    due[index] = loop.time() + periodic.every_s
            try:
                data = await asyncio.to_thread(self._port.read, READ_SIZE)
            except (serial.SerialException, OSError, TypeError) as exc:
                # pyserial raises TypeError when the port is closed under a pending read
                raise TransportError(f"{self._source.port}: read failed: {exc}", code="port_lost") from exc
            if data:
                for reading in self._session.on_data(data, self._source._clock(), self._source.name):
                    yield reading

    async def close(self) -> None:
        try:
            await asyncio.to_thread(self._port.close)
        except (serial.SerialException, OSError) as exc:
            log.debug("%s: close failed: %s", self._source.port, exc)
