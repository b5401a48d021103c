"""An in-process Bluetooth LE "air" (a bumble LocalLink per event loop) and a central on it.

Simulated peripherals (:mod:`devices.sim.ble_peripheral`) advertise on this air, and
:class:`BumbleBackend` is a :class:`devices.ble_backend.BleBackend` that scans, connects and
subscribes over it with bumble's real host and controller stacks (HCI, L2CAP, ATT, CCCD writes,
indication confirmations). No adapter, BlueZ or /dev/vhci is involved.
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections.abc import Callable

from bumble.controller import Controller
from bumble.core import AdvertisingData, BaseBumbleError, UUID
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from devices.ble_backend import BleLink, Callback, translated
from devices.errors import TransportError

SIM_PREFIX = "bumble:"  # a target "bumble:<name or address>" means "on the in-process air"

_AIRS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LocalLink] = weakref.WeakKeyDictionary()
_SERIAL = itertools.count(1)


def air() -> LocalLink:
    """The running event loop's radio: every simulated device and central of this loop shares it."""
    loop = asyncio.get_running_loop()
    if loop not in _AIRS:
        _AIRS[loop] = LocalLink()  # type: ignore[no-untyped-call]
    return _AIRS[loop]


def new_device(name: str) -> tuple[Device, Controller]:
    """A bumble Device with its own controller on :func:`air` and a unique random static address."""
    serial = next(_SERIAL)
    address = Address(f"C0:FA:21:00:{serial >> 8 & 0xFF:02X}:{serial & 0xFF:02X}")
    controller = Controller(name, link=air())
    return Device(name=name, address=address, host=Host(controller, AsyncPipeSink(controller))), controller


def remove_controller(controller: Controller) -> None:
    """Take a device off the air (it can no longer be seen or reached)."""
    link = air()
    if controller in link.controllers:
        link.remove_controller(controller)


def advertised_name(advertisement: Advertisement) -> str | None:
    for kind in (AdvertisingData.COMPLETE_LOCAL_NAME, AdvertisingData.SHORTENED_LOCAL_NAME):
        value = advertisement.data.get(kind)
        if isinstance(value, (bytes, str)):
            return value.decode() if isinstance(value, bytes) else value
    return None


class _BumbleLink:
    def __init__(self, peer: Peer, connection: Connection) -> None:
        self._peer = peer
        self._connection = connection

    def _characteristic(self, uuid: str) -> CharacteristicProxy[bytes]:
        found = self._peer.get_characteristics_by_uuid(UUID(uuid))
        if not found:
            raise TransportError(f"the peripheral has no characteristic {uuid}", code="ble_no_characteristic")
        return found[0]

    async def start_notify(self, uuid: str, callback: Callback) -> None:
        async with translated(f"subscribe to {uuid}", BaseBumbleError):
            await self._peer.subscribe(self._characteristic(uuid), lambda value: callback(bytes(value)))

    async def write(self, uuid: str, data: bytes, *, response: bool = True) -> None:
        async with translated(f"write {uuid}", BaseBumbleError):
            await self._peer.write_value(self._characteristic(uuid), data, with_response=response)

    async def read(self, uuid: str) -> bytes:
        async with translated(f"read {uuid}", BaseBumbleError):
            return bytes(await self._peer.read_value(self._characteristic(uuid)))

    async def disconnect(self) -> None:
        if self._connection.handle in self._connection.device.connections:
            async with translated("disconnect", BaseBumbleError):
                await self._connection.disconnect()


class BumbleBackend:
    """A central on the in-process air. Targets are advertised names or addresses."""

    def __init__(self) -> None:
        self._device: Device | None = None
        self._controller: Controller | None = None

    async def connect(self, target: str, *, timeout: float, on_disconnect: Callable[[], None]) -> BleLink:
        target = target.removeprefix(SIM_PREFIX)
        async with translated(f"connect to {target}", BaseBumbleError):
            device = await self._central()
            found: asyncio.Future[Address] = asyncio.get_running_loop().create_future()

            def on_advertisement(advertisement: Advertisement) -> None:
                address = advertisement.address.to_string(False)
                if not found.done() and target in (advertised_name(advertisement), address):
                    found.set_result(advertisement.address)

            device.on(device.EVENT_ADVERTISEMENT, on_advertisement)
            await device.start_scanning(filter_duplicates=True)
            try:
                address = await asyncio.wait_for(found, timeout)
            except asyncio.TimeoutError:
                raise TransportError(f"{target} not found within {timeout:g} s", code="ble_not_found") from None
            finally:
                device.remove_listener(device.EVENT_ADVERTISEMENT, on_advertisement)
                await device.stop_scanning()
            connection = await device.connect(address, timeout=timeout)
            connection.on(connection.EVENT_DISCONNECTION, lambda _reason: on_disconnect())
            peer = Peer(connection)
            await peer.discover_services()
            await peer.discover_characteristics()
            return _BumbleLink(peer, connection)

    async def _central(self) -> Device:
        if self._device is None:
            self._device, self._controller = new_device("farlink-central")
            await self._device.power_on()
        return self._device

    async def close(self) -> None:
        """Power the central off and take it off the air."""
        if self._device is not None and self._controller is not None:
            await self._device.power_off()
            remove_controller(self._controller)
            self._device = self._controller = None
