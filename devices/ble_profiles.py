"""What to do with each kind of BLE device once connected: subscriptions, writes and decoding.

A :class:`BleSession` is the sans-I/O part of one connection: it names the characteristics to
subscribe to, the writes to make after subscribing (a RACP download request) and, if any, the
poll to repeat (the O2Ring's read-sensors command), and it turns notification bytes into
readings. :mod:`devices.ble_source` does the I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from devices import berrymed, o2ring
from devices.gatt import blood_pressure, glucose, heart_rate, plx, racp, thermometer, weight
from devices.reading import Reading
from devices.throttle import Throttle

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Write:
    uuid: str
    data: bytes
    response: bool = True


class Frame(Protocol):
    def readings(self, time: float, source: str) -> list[Reading]: ...


class BleSession(Protocol):
    @property
    def subscriptions(self) -> tuple[str, ...]: ...

    @property
    def startup(self) -> tuple[Write, ...]: ...

    @property
    def poll(self) -> Write | None: ...

    @property
    def poll_interval_s(self) -> float: ...

    def on_data(self, uuid: str, data: bytes, time: float, source: str) -> list[Reading]:
        """Readings carried by one notification; raises ProtocolError for garbage."""


@dataclass
class GattSession:
    """A standard profile: each subscribed characteristic has one frame parser."""

    parsers: dict[str, Callable[[bytes], Frame]]
    startup: tuple[Write, ...] = ()
    extra: dict[str, Callable[[bytes], object]] = field(default_factory=dict)  # parsed, logged
    poll: Write | None = None
    poll_interval_s: float = 0.0

    @property
    def subscriptions(self) -> tuple[str, ...]:
        return (*self.parsers, *self.extra)

    def on_data(self, uuid: str, data: bytes, time: float, source: str) -> list[Reading]:
        if uuid in self.extra:
            log.debug("%s: %s %s", source, uuid, self.extra[uuid](data))
            return []
        return self.parsers[uuid](data).readings(time, source)


@dataclass
class BerryMedSession:
    subscriptions: tuple[str, ...] = (berrymed.NOTIFY,)
    startup: tuple[Write, ...] = ()
    poll: Write | None = None
    poll_interval_s: float = 0.0
    decoder: berrymed.BciDecoder = field(default_factory=berrymed.BciDecoder)
    throttle: Throttle = field(default_factory=Throttle)

    def on_data(self, uuid: str, data: bytes, time: float, source: str) -> list[Reading]:
        self.decoder.receive_data(data)
        return [r for packet in self.decoder.packets() for r in packet.readings(time, source) if self.throttle(r)]


@dataclass
class O2RingSession:
    subscriptions: tuple[str, ...] = (o2ring.NOTIFY,)
    startup: tuple[Write, ...] = ()
    poll: Write | None = Write(o2ring.WRITE, o2ring.read_sensors(), response=False)
    poll_interval_s: float = 1.0
    decoder: o2ring.O2Decoder = field(default_factory=o2ring.O2Decoder)

    def on_data(self, uuid: str, data: bytes, time: float, source: str) -> list[Reading]:
        self.decoder.receive_data(data)
        out: list[Reading] = []
        while (frame := self.decoder.next_frame()) is not None:
            # Only read-sensors answers are polled for; the payload is recognised by its size.
            if frame.status == 0 and len(frame.data) >= o2ring.O2Sensors.MIN_SIZE:
                out += o2ring.O2Sensors.parse(frame.data).readings(time, source)
        return out


def _plx() -> BleSession:
    return GattSession({plx.CONTINUOUS: plx.Continuous.parse, plx.SPOT_CHECK: plx.SpotCheck.parse})


def _blood_pressure() -> BleSession:
    return GattSession({blood_pressure.MEASUREMENT: blood_pressure.BloodPressureMeasurement.parse,
                        blood_pressure.INTERMEDIATE_CUFF_PRESSURE: blood_pressure.IntermediateCuffPressure.parse})


def _thermometer() -> BleSession:
    return GattSession({thermometer.MEASUREMENT: thermometer.TemperatureMeasurement.parse})


def _heart_rate() -> BleSession:
    return GattSession({heart_rate.MEASUREMENT: heart_rate.HeartRateMeasurement.parse})


def _glucose() -> BleSession:
    download = Write(racp.CONTROL_POINT, bytes(racp.RacpRequest(racp.RacpOp.REPORT_RECORDS)))
    return GattSession({glucose.MEASUREMENT: glucose.GlucoseMeasurement.parse}, startup=(download,),
                       extra={racp.CONTROL_POINT: racp.parse_indication})


def _weight() -> BleSession:
    return GattSession({weight.MEASUREMENT: weight.WeightMeasurement.parse})


PROFILES: dict[str, Callable[[], BleSession]] = {
    "ble-plx": _plx,
    "ble-bp": _blood_pressure,
    "ble-thermometer": _thermometer,
    "ble-heart-rate": _heart_rate,
    "ble-glucose": _glucose,
    "ble-weight": _weight,
    "ble-berrymed": BerryMedSession,
    "ble-o2ring": O2RingSession,
}
