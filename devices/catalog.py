"""Every device kind Farlink reads: how to open it and how to simulate it.

Kinds are the keys of :data:`devices.serial_profiles.SERIAL_PROFILES` (``contec-v7``,
``visomat-bp``, ...) and :data:`devices.ble_profiles.PROFILES` (``ble-plx``, ``ble-bp``, ...).
A simulator's ``port`` is what :func:`open_source` takes for that kind.
"""

from __future__ import annotations

from typing import Any

from devices.ble_profiles import PROFILES as BLE_PROFILES
from devices.errors import LocalError
from devices.serial_profiles import SERIAL_PROFILES
from devices.source import DeviceSource

KINDS: tuple[str, ...] = (*SERIAL_PROFILES, *BLE_PROFILES)


def _check(kind: str) -> None:
    if kind not in KINDS:
        raise LocalError(f"unknown device kind {kind!r}; known: {', '.join(KINDS)}", code="unknown_device")


def open_source(kind: str, port: str, **options: Any) -> DeviceSource:
    """The source reading device ``kind`` at ``port`` (a serial path, BLE address or name)."""
    _check(kind)
    if kind in SERIAL_PROFILES:
        from devices.serial_source import SerialSource

        return SerialSource(kind, port, **options)
    from devices.ble_source import open_ble_source

    return open_ble_source(kind, port, **options)


async def start_simulator(kind: str, **options: Any) -> Any:
    """Start a simulated device of ``kind``; the result has ``port`` and an async ``stop()``."""
    _check(kind)
    if kind in SERIAL_PROFILES:
        from devices.sim.serial_devices import SERIAL_SIMULATORS

        simulator = SERIAL_SIMULATORS[kind](**options)
        await simulator.start()
        return simulator
    from devices.sim.ble_devices import start_ble_simulator

    return await start_ble_simulator(kind, **options)
