"""The station's reading bus: device events in, the latest value per measure and fan-out out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from devices.reading import Reading
from devices.source import DeviceEvent, StateChange


class ReadingBus:
    """Holds the latest reading per (source, kind) and hands every event to each subscriber.

    Subscribers get bounded queues: a slow consumer loses its oldest events, never blocks
    the devices (the record is kept by the outbox, not here).
    """

    QUEUE = 1000

    def __init__(self) -> None:
        self.latest: dict[tuple[str, str], Reading] = {}
        self.device_state: dict[str, StateChange] = {}
        self._queues: list[asyncio.Queue[DeviceEvent]] = []

    def publish(self, event: DeviceEvent) -> None:
        if isinstance(event, Reading):
            self.latest[(event.source, event.kind.value)] = event
        elif isinstance(event, StateChange):
            self.device_state[event.source] = event
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    async def subscribe(self) -> AsyncIterator[DeviceEvent]:
        queue: asyncio.Queue[DeviceEvent] = asyncio.Queue(self.QUEUE)
        self._queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)
