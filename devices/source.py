"""What a station sees of a device: a stream of events from a source that reconnects by itself.

Transports (serial, BLE) hide behind :class:`DeviceSource`. A source never raises pyserial or
bleak exceptions: it reports a :class:`StateChange` when the device goes away, keeps retrying
with backoff, and reports a :class:`Gap` covering the time it had no data once it is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from devices.errors import TransportError
from devices.reading import Reading


class LinkState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class StateChange:
    source: str
    state: LinkState
    time: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Gap:
    """The source delivered nothing between ``start`` and ``end`` (epoch seconds)."""

    source: str
    start: float
    end: float


DeviceEvent = Reading | StateChange | Gap


@dataclass
class Backoff:
    """Retry delays: ``initial``, doubling up to ``maximum``; :meth:`reset` after a success."""

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    _next: float = 0.0

    def next(self) -> float:
        delay = self._next or self.initial
        self._next = min(delay * self.factor, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = 0.0


class Connection(Protocol):
    """One open link to a device: its readings until the link drops, then ``close()``."""

    def readings(self) -> AsyncIterator[Reading]: ...

    async def close(self) -> None: ...


async def reconnecting(name: str, connect: Callable[[], Awaitable[Connection]], *,
                       clock: Callable[[], float], backoff: Backoff) -> AsyncIterator[DeviceEvent]:
    """The events of a source that connects with ``connect`` and reconnects after every loss.

    ``connect`` and the connection's readings raise only :class:`TransportError`. After a loss the
    first reading that arrives again is preceded by a :class:`Gap` from the last data before it.
    """
    gap_start: float | None = None  # set while we owe the consumer a Gap
    while True:
        yield StateChange(name, LinkState.CONNECTING, clock())
        try:
            connection = await connect()
        except TransportError as exc:
            reason = str(exc)
        else:
            backoff.reset()
            yield StateChange(name, LinkState.CONNECTED, clock())
            last_data: float | None = None
            try:
                async with aclosing(connection.readings()) as readings:
                    async for reading in readings:
                        last_data = clock()
                        if gap_start is not None:
                            yield Gap(name, gap_start, last_data)
                            gap_start = None
                        yield reading
                reason = "link lost"
            except TransportError as exc:
                reason = str(exc)
            finally:
                await connection.close()
            if gap_start is None and last_data is not None:
                gap_start = last_data
        yield StateChange(name, LinkState.DISCONNECTED, clock(), reason)
        await asyncio.sleep(backoff.next())


class DeviceSource(Protocol):
    """A device the station reads. ``events()`` runs until cancelled."""

    @property
    def name(self) -> str: ...

    def events(self) -> AsyncIterator[DeviceEvent]: ...
