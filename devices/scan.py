"""``farlink devices scan``: what is plugged in and what is on the air, and what each looks like.

Serial ports come from pyserial's ``list_ports`` (plus any paths given, such as a simulator's
pty link). A port is described by its USB identity and, with ``probe``, by listening to it at
each profile's line settings and seeing which decoder makes readings of what arrives. Probing
only listens: it writes nothing, so it never changes a device's data format or clock (a V7
Contec or a Visomat stays silent until asked or until a measurement, and shows as "silent").
BLE devices come from a bleak scan and are matched to a kind by their advertised services; with
no Bluetooth adapter or stack the scan raises :class:`~devices.errors.TransportError`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import serial
from bleak import BleakScanner
from bleak.exc import BleakError
from serial.tools import list_ports

from devices import berrymed, o2ring
from devices.ble_backend import full_uuid, translated
from devices.errors import TransportError
from devices.gatt import blood_pressure, glucose, heart_rate, plx, thermometer, weight
from devices.serial_profiles import SERIAL_PROFILES, LineSettings

# USB-serial bridges the supported devices ship with (VID, PID) -> what it usually is.
USB_HINTS = {
    (0x10C4, 0xEA60): "Silicon Labs CP210x: Contec CMS50D+/E cable (contec-v7 or contec-legacy)",
    (0x0403, 0x6001): "FTDI FT232R: Nonin or other medical serial cable",
    (0x067B, 0x2303): "Prolific PL2303: generic USB-serial (Visomat and others)",
}
BLE_SERVICES = {
    full_uuid(plx.SERVICE): "ble-plx", full_uuid(blood_pressure.SERVICE): "ble-bp",
    full_uuid(thermometer.SERVICE): "ble-thermometer", full_uuid(heart_rate.SERVICE): "ble-heart-rate",
    full_uuid(glucose.SERVICE): "ble-glucose", full_uuid(weight.SERVICE): "ble-weight",
    berrymed.SERVICE: "ble-berrymed", o2ring.SERVICE: "ble-o2ring",
}


@dataclass(frozen=True, slots=True)
class SerialPort:
    device: str
    description: str
    kinds: tuple[str, ...] = ()  # what a probe decoded readings as; empty if not probed or silent
    probed: bool = False

    def __str__(self) -> str:
        looks = ""
        if self.probed:
            looks = f"  -> {', '.join(self.kinds)}" if self.kinds else "  -> silent or not understood"
        return f"{self.device}  {self.description}{looks}"


@dataclass(frozen=True, slots=True)
class BleDevice:
    address: str
    name: str
    rssi: int | None
    kinds: tuple[str, ...]

    def __str__(self) -> str:
        kinds = ", ".join(self.kinds) or "not a supported device"
        return f"{self.address}  {self.name or '(no name)'}  rssi {self.rssi}  -> {kinds}"


def _describe(port: list_ports.ListPortInfo | None) -> str:
    if port is None or port.vid is None:
        return "no USB identity" if port is None or port.description in ("n/a", "") else port.description
    hint = USB_HINTS.get((port.vid, port.pid), port.description)
    return f"USB {port.vid:04x}:{port.pid:04x} {hint}"


def _listen(device: str, settings: LineSettings, seconds: float) -> bytes:
    """What arrives on ``device`` at ``settings`` within ``seconds``; empty if it cannot be opened."""
    try:
        with serial.Serial(device, baudrate=settings.baudrate, bytesize=settings.bytesize, parity=settings.parity,
                           stopbits=settings.stopbits, timeout=0.1) as port:
            data = bytearray()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                data += port.read(4096)
            return bytes(data)
    except (serial.SerialException, OSError, ValueError):
        return b""


def probe(device: str, seconds: float = 1.5) -> tuple[str, ...]:
    """The kinds whose decoders make readings of what ``device`` sends by itself."""
    groups: dict[LineSettings, list[str]] = {}
    for kind, make in SERIAL_PROFILES.items():
        groups.setdefault(make().settings, []).append(kind)
    found = []
    for settings, kinds in groups.items():
        data = _listen(device, settings, seconds)
        found += [kind for kind in kinds if data and SERIAL_PROFILES[kind]().on_data(data, 0.0, "probe")]
    return tuple(found)


def serial_ports(extra: tuple[str, ...] = (), *, listen_s: float | None = None) -> list[SerialPort]:
    """Every serial port (and each of ``extra``); probed for ``listen_s`` per line setting if given."""
    known = {port.device: port for port in list_ports.comports()}
    out = []
    for device in [*known, *(path for path in extra if path not in known)]:
        kinds = probe(device, listen_s) if listen_s else ()
        out.append(SerialPort(device, _describe(known.get(device)), kinds, listen_s is not None))
    return out


async def ble_devices(timeout: float = 5.0) -> list[BleDevice]:
    """Advertising BLE devices; TransportError (code ``ble_failed``) when there is no usable stack."""
    async with translated("scan", BleakError):
        found = await BleakScanner.discover(timeout=timeout, return_adv=True)
    out = []
    for device, advertisement in found.values():
        kinds = tuple(sorted({BLE_SERVICES[uuid] for uuid in advertisement.service_uuids if uuid in BLE_SERVICES}))
        out.append(BleDevice(device.address, advertisement.local_name or device.name or "", advertisement.rssi,
                             kinds))
    return out


def run_scan(extra: tuple[str, ...], listen_s: float | None, ble_timeout: float) -> list[str]:
    """The scan as printable lines: serial ports first, then BLE devices or why there are none."""
    lines = [f"serial  {port}" for port in serial_ports(extra, listen_s=listen_s)] or ["serial  (no ports)"]
    try:
        devices = asyncio.run(ble_devices(ble_timeout))
    except TransportError as exc:
        return [*lines, f"ble     unavailable: no usable Bluetooth adapter or stack ({exc})"]
    return [*lines, *(f"ble     {device}" for device in devices or ["(nothing advertising)"])]
