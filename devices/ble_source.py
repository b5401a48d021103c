"""A BLE device as a :class:`~devices.source.DeviceSource` that reconnects by itself.

The source finds the peripheral, subscribes to what its profile needs, turns notifications into
readings and, when the link drops, reports it, retries with exponential backoff and, once data
flows again, reports a :class:`~devices.source.Gap` from the last data before the drop to the
first data after it. Only :class:`~devices.errors.TransportError` crosses the backend seam, and
nothing at all escapes :meth:`BleSource.events`: every failure becomes a state change.
"""

from __future__ import annotations

import asyncio
import logging
import time as wall
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from functools import partial
from typing import Any

from devices.ble_backend import BleakBackend, BleBackend, BleLink
from devices.ble_profiles import PROFILES, BleSession
from devices.errors import LocalError, ProtocolError, TransportError
from devices.reading import Reading
from devices.source import Backoff, DeviceEvent, reconnecting

log = logging.getLogger(__name__)


_DROPPED = object()  # queued by the backend's disconnect callback


def _enqueue(queue: asyncio.Queue[object], uuid: str, data: bytes) -> None:
    queue.put_nowait((uuid, data))


class BleSource:
    """Reads BLE device ``kind`` (a key of :data:`devices.ble_profiles.PROFILES`) at ``target``.

    ``target`` is an address or an advertised name. ``backend`` defaults to the OS stack (bleak);
    tests and the demo pass :class:`devices.sim.ble_link.BumbleBackend`.
    """

    def __init__(self, kind: str, target: str, *, backend: BleBackend | None = None,
                 clock: Callable[[], float] = wall.time, backoff: Backoff | None = None,
                 connect_timeout_s: float = 10.0) -> None:
        if kind not in PROFILES:
            raise LocalError(f"unknown BLE device kind {kind!r}; known: {', '.join(PROFILES)}", code="unknown_device")
        self.kind = kind
        self.target = target
        self._backend = backend if backend is not None else BleakBackend()
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._connect_timeout_s = connect_timeout_s
        self.garbage = 0  # notifications that did not parse

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.target}"

    def events(self) -> AsyncIterator[DeviceEvent]:
        return reconnecting(self.name, self._connect, clock=self._clock, backoff=self._backoff)

    async def _connect(self) -> _BleConnection:
        queue: asyncio.Queue[object] = asyncio.Queue()
        session = PROFILES[self.kind]()
        return _BleConnection(self, await self._open(session, queue), session, queue)

    async def _open(self, session: BleSession, queue: asyncio.Queue[object]) -> BleLink:
        link = await self._backend.connect(self.target, timeout=self._connect_timeout_s,
                                           on_disconnect=lambda: queue.put_nowait(_DROPPED))
        try:
            for uuid in session.subscriptions:
                await link.start_notify(uuid, partial(_enqueue, queue, uuid))
            for write in session.startup:
                await link.write(write.uuid, write.data, response=write.response)
        except TransportError:
            await self._close(link)
            raise
        return link

    async def _stream(self, link: BleLink, session: BleSession, queue: asyncio.Queue[object]) -> AsyncGenerator[Reading, None]:
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        while True:
            if session.poll is not None and loop.time() >= next_poll:
                await link.write(session.poll.uuid, session.poll.data, response=session.poll.response)
                next_poll = loop.time() + session.poll_interval_s
            try:
                timeout = None if session.poll is None else max(0.0, next_poll - loop.time())
                item = await asyncio.wait_for(queue.get(), timeout)
            except asyncio.TimeoutError:
                continue
            if item is _DROPPED:
                return
            assert isinstance(item, tuple)
            uuid, data = item
            try:
                readings = session.on_data(uuid, data, self._clock(), self.name)
            except ProtocolError as exc:
                self.garbage += 1
                log.debug("%s: dropped a notification on %s: %s", self.name, uuid, exc)
                continue
            for reading in readings:
                yield reading

    async def _close(self, link: BleLink) -> None:
        try:
            await link.disconnect()
        except TransportError as exc:
            log.debug("%s: disconnect failed: %s", self.name, exc)


class _BleConnection:
    def __init__(self, source: BleSource, link: BleLink, session: BleSession, queue: asyncio.Queue[object]) -> None:
        self._source, self._link, self._session, self._queue = source, link, session, queue

    def readings(self) -> AsyncIterator[Reading]:
        return self._source._stream(self._link, self._session, self._queue)

    async def close(self) -> None:
        await self._source._close(self._link)


def open_ble_source(kind: str, target: str, **options: Any) -> BleSource:
    """The source for ``kind`` at ``target``: ``bumble:<name or address>`` reads a simulator on
    the in-process air (see :mod:`devices.sim.ble_link`); anything else goes through bleak."""
    from devices.sim.ble_link import SIM_PREFIX, BumbleBackend  # bumble only when simulating

    backend: BleBackend = BumbleBackend() if target.startswith(SIM_PREFIX) else BleakBackend()
    return BleSource(kind, target, backend=backend, **options)
