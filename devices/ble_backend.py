"""The seam between :mod:`devices.ble_source` and a Bluetooth stack.

A backend finds a peripheral (by address or advertised name), connects and hands back a
:class:`BleLink` offering the few GATT calls the sources use. :class:`BleakBackend` drives the
real OS stack through bleak; :class:`devices.sim.ble_link.BumbleBackend` drives bumble
peripherals on an in-process radio, so tests and the demo station run the same source code.
Both raise only :class:`~devices.errors.TransportError`: no bleak or bumble exception escapes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from devices.errors import TransportError

Callback = Callable[[bytes], None]
BASE_UUID = "-0000-1000-8000-00805f9b34fb"
_ADDRESS = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f-]{36}$")


def full_uuid(uuid: str) -> str:
    """The 128-bit lower-case form of a 16-bit (``"2A5F"``) or 128-bit UUID string."""
    uuid = uuid.lower()
    return f"0000{uuid}{BASE_UUID}" if len(uuid) == 4 else uuid


def is_address(target: str) -> bool:
    """A Bluetooth address (``AA:BB:...``) or a macOS peripheral UUID, rather than a name."""
    return bool(_ADDRESS.match(target))


class BleLink(Protocol):
    """One live connection."""

    async def start_notify(self, uuid: str, callback: Callback) -> None:
        """Subscribe to notifications or indications of a characteristic (whichever it offers)."""

    async def write(self, uuid: str, data: bytes, *, response: bool = True) -> None: ...

    async def read(self, uuid: str) -> bytes: ...

    async def disconnect(self) -> None: ...


class BleBackend(Protocol):
    async def connect(self, target: str, *, timeout: float, on_disconnect: Callable[[], None]) -> BleLink:
        """Find ``target`` (address or name), connect and discover its services."""


class _BleakLink:
    def __init__(self, client: BleakClient) -> None:
        self._client = client

    async def start_notify(self, uuid: str, callback: Callback) -> None:
        async with translated(f"subscribe to {uuid}", BleakError):
            await self._client.start_notify(full_uuid(uuid), lambda _char, data: callback(bytes(data)))

    async def write(self, uuid: str, data: bytes, *, response: bool = True) -> None:
        async with translated(f"write {uuid}", BleakError):
            await self._client.write_gatt_char(full_uuid(uuid), data, response=response)

    async def read(self, uuid: str) -> bytes:
        async with translated(f"read {uuid}", BleakError):
            return bytes(await self._client.read_gatt_char(full_uuid(uuid)))

    async def disconnect(self) -> None:
        async with translated("disconnect", BleakError):
            await self._client.disconnect()


class BleakBackend:
    """The operating system's Bluetooth stack (BlueZ, CoreBluetooth, WinRT) through bleak."""

    async def connect(self, target: str, *, timeout: float, on_disconnect: Callable[[], None]) -> BleLink:
        async with translated(f"connect to {target}", BleakError):
            device: BLEDevice | None
            if is_address(target):
                device = await BleakScanner.find_device_by_address(target, timeout=timeout)
            else:
                device = await BleakScanner.find_device_by_name(target, timeout=timeout)
            if device is None:
                raise TransportError(f"{target} not found within {timeout:g} s", code="ble_not_found")
            client = BleakClient(device, disconnected_callback=lambda _client: on_disconnect(), timeout=timeout)
            await client.connect()
            return _BleakLink(client)


@asynccontextmanager
async def translated(what: str, *errors: type[BaseException]) -> AsyncIterator[None]:
    """Turn a stack's exceptions (``errors``, plus OS errors and timeouts) into TransportError."""
    caught: tuple[type[BaseException], ...] = (OSError, asyncio.TimeoutError, *errors)
    try:
        yield
    except caught as exc:
        raise TransportError(f"BLE {what}: {type(exc).__name__}: {exc}", code="ble_failed") from exc
