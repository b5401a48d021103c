"""The common part of every simulated BLE device: a bumble peripheral advertising on the air.

A subclass declares its GATT services in :meth:`services` and what it sends in :meth:`run`
(a loop that notifies or indicates frames built with the project's own codecs). The handle
offers ``name``, ``address``, ``port`` (the target string ``open_source`` takes),
``disconnect()`` for a radio drop-out and ``stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from bumble import gatt
from bumble.core import AdvertisingData, BaseBumbleError, UUID
from bumble.device import Connection, Device

from devices.sim.ble_link import SIM_PREFIX, new_device, remove_controller

log = logging.getLogger(__name__)

ADVERTISING_INTERVAL_MS = 20  # fast discovery keeps connects and reconnects well under a second


def characteristic(uuid: str, properties: gatt.Characteristic.Properties, value: Any = b"") -> gatt.Characteristic[Any]:
    return gatt.Characteristic(uuid, properties, gatt.Characteristic.Permissions.READABLE
                               | gatt.Characteristic.Permissions.WRITEABLE, value)


NOTIFY = gatt.Characteristic.Properties.NOTIFY
INDICATE = gatt.Characteristic.Properties.INDICATE
READ = gatt.Characteristic.Properties.READ
WRITE = gatt.Characteristic.Properties.WRITE
WRITE_NO_RESPONSE = gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE


class BlePeripheral:
    """Base class of the simulated devices. ``interval_s`` paces :meth:`run`."""

    default_name = "Farlink BLE"
    service_uuid = ""

    def __init__(self, name: str | None = None, *, interval_s: float = 1.0) -> None:
        self.name = name or self.default_name
        self.interval_s = interval_s
        self.device: Device
        self._controller: Any = None
        self._task: asyncio.Task[None] | None = None
        self._outage: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self._stopped = False

    # -- for subclasses ------------------------------------------------------------------

    def services(self) -> list[gatt.Service]:
        raise NotImplementedError

    async def run(self) -> None:
        """Send frames until cancelled (the default sends nothing)."""
        await asyncio.Event().wait()

    async def send(self, char: gatt.Characteristic[Any], value: bytes) -> None:
        """Notify or indicate (per the characteristic's properties) every subscriber."""
        try:
            if char.properties & INDICATE:
                await self.device.indicate_subscribers(char, value)
            else:
                await self.device.notify_subscribers(char, value)
        except (BaseBumbleError, asyncio.TimeoutError) as exc:  # a subscriber vanished mid-send
            log.debug("%s: send failed: %s", self.name, exc)

    # -- the handle ---------------------------------------------------------------------

    @property
    def address(self) -> str:
        return str(self.device.random_address.to_string(False))

    @property
    def port(self) -> str:
        """The target for ``devices.catalog.open_source``: this device on the in-process air."""
        return f"{SIM_PREFIX}{self.name}"

    async def start(self) -> None:
        self.device, self._controller = new_device(self.name)
        self.device.add_services(self.services())
        self.device.on(self.device.EVENT_CONNECTION, self._on_connection)
        await self.device.power_on()
        await self._advertise()
        self._task = asyncio.create_task(self.run(), name=f"ble-sim {self.name}")

    async def disconnect(self, outage_s: float = 0.0) -> None:
        """A radio drop-out: break every connection and stay silent for ``outage_s`` seconds."""
        if outage_s > 0:
            self._outage = asyncio.get_running_loop().call_later(outage_s, self._end_outage)
        for connection in list(self.device.connections.values()):
            with contextlib.suppress(BaseBumbleError):
                await connection.disconnect()

    def _end_outage(self) -> None:
        self._outage = None
        self._spawn(self._advertise())

    def _on_connection(self, connection: Connection) -> None:
        # Advertising stops on connection; come back once the central is gone (unless out of range).
        def on_disconnection(_reason: int) -> None:
            if self._outage is None and not self._stopped:
                self._spawn(self._advertise())

        connection.on(connection.EVENT_DISCONNECTION, on_disconnection)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        if self._outage is not None:
            self._outage.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(BaseBumbleError):
            await self.device.stop_advertising()
            for connection in list(self.device.connections.values()):
                await connection.disconnect()
            await self.device.power_off()
        remove_controller(self._controller)

    async def _advertise(self) -> None:
        fields: list[tuple[int, bytes]] = [
            (AdvertisingData.FLAGS, bytes([0x06])),
            (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
        ]
        if self.service_uuid and len(self.service_uuid) == 4:
            fields.append((AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                           bytes(UUID(self.service_uuid))))
        await self.device.start_advertising(
            advertising_data=bytes(AdvertisingData(fields)),
            advertising_interval_min=ADVERTISING_INTERVAL_MS, advertising_interval_max=ADVERTISING_INTERVAL_MS)
