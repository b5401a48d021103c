"""Simulated BLE vital-sign devices: one bumble peripheral per supported kind.

Every frame is built with the project's own codecs, so what the simulators send is exactly
what the decoders must read back (the property tests round-trip the same frames).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from typing import Any

from bumble import gatt
from bumble.att import AttributeValue
from bumble.device import Connection

from devices import berrymed, o2ring
from devices.errors import ProtocolError
from devices.gatt import blood_pressure, glucose, heart_rate, plx, racp, thermometer, weight
from devices.gatt.date_time import DateTime
from devices.ieee11073 import Mder
from devices.sim.ble_peripheral import (INDICATE, NOTIFY, READ, WRITE, WRITE_NO_RESPONSE, BlePeripheral,
                                         characteristic)


class PlxOximeter(BlePeripheral):
    """Pulse Oximeter Service: continuous notifications each tick, a spot-check every 5th tick."""

    default_name = "Farlink PLX"
    service_uuid = plx.SERVICE
    SPOT_CHECK_EVERY = 5

    def services(self) -> list[gatt.Service]:
        self.continuous = characteristic(plx.CONTINUOUS, NOTIFY)
        self.spot_check = characteristic(plx.SPOT_CHECK, INDICATE)
        features = plx.Features(0x0008, measurement_status_support=0x00A0 << 2)
        return [gatt.Service(plx.SERVICE, [self.continuous, self.spot_check,
                                           characteristic(plx.FEATURES, READ, bytes(features))])]

    @staticmethod
    def frame(tick: int) -> plx.Continuous:
        return plx.Continuous(Mder(96 + tick % 4), Mder(70 + tick * 3 % 9),
                              pulse_amplitude_index=Mder(50 + tick % 7, -1))

    @staticmethod
    def spot(tick: int, when: float) -> plx.SpotCheck:
        return plx.SpotCheck(Mder(975 + tick % 3, -1), Mder(72), timestamp=DateTime.from_timestamp(when),
                             measurement_status=1 << 7)

    async def run(self) -> None:
        for tick in itertools.count():
            await self.send(self.continuous, bytes(self.frame(tick)))
            if tick % self.SPOT_CHECK_EVERY == self.SPOT_CHECK_EVERY - 1:
                await self.send(self.spot_check, bytes(self.spot(tick, time.time())))
            await asyncio.sleep(self.interval_s)


class BloodPressureCuff(BlePeripheral):
    """Blood Pressure Service: a cycle of rising cuff pressures (notified), then the result (indicated)."""

    default_name = "Farlink BP"
    service_uuid = blood_pressure.SERVICE
    INFLATION = (40, 90, 140, 170)

    def services(self) -> list[gatt.Service]:
        self.measurement = characteristic(blood_pressure.MEASUREMENT, INDICATE)
        self.cuff = characteristic(blood_pressure.INTERMEDIATE_CUFF_PRESSURE, NOTIFY)
        return [gatt.Service(blood_pressure.SERVICE, [self.measurement, self.cuff,
                                                      characteristic(blood_pressure.FEATURE, READ, b"\x05\x00")])]

    @classmethod
    def frame(cls, tick: int, when: float = 0.0) -> blood_pressure.BloodPressureMeasurement:
        step = tick % (len(cls.INFLATION) + 1)
        if step < len(cls.INFLATION):
            return blood_pressure.IntermediateCuffPressure.of(Mder(cls.INFLATION[step]))
        cycle = tick // (len(cls.INFLATION) + 1)
        return blood_pressure.BloodPressureMeasurement(
            Mder(118 + cycle % 5), Mder(78 + cycle % 3), Mder(91 + cycle % 4),
            timestamp=DateTime.from_timestamp(when) if when else None, pulse_rate=Mder(66 + cycle % 6),
            user_id=1, status=0)

    async def run(self) -> None:
        for tick in itertools.count():
            frame = self.frame(tick, time.time())
            final = not isinstance(frame, blood_pressure.IntermediateCuffPressure)
            await self.send(self.measurement if final else self.cuff, bytes(frame))
            await asyncio.sleep(self.interval_s)


class Thermometer(BlePeripheral):
    """Health Thermometer: an indicated ear temperature each tick."""

    default_name = "Farlink Thermometer"
    service_uuid = thermometer.SERVICE

    def services(self) -> list[gatt.Service]:
        self.measurement = characteristic(thermometer.MEASUREMENT, INDICATE)
        return [gatt.Service(thermometer.SERVICE, [self.measurement,
                                                   characteristic(thermometer.TEMPERATURE_TYPE, READ, b"\x09")])]

    @staticmethod
    def frame(tick: int, when: float = 0.0) -> thermometer.TemperatureMeasurement:
        return thermometer.TemperatureMeasurement(Mder(365 + tick % 6, -1),
                                                  timestamp=DateTime.from_timestamp(when) if when else None, site=9)

    async def run(self) -> None:
        for tick in itertools.count():
            await self.send(self.measurement, bytes(self.frame(tick, time.time())))
            await asyncio.sleep(self.interval_s)


class HeartRateStrap(BlePeripheral):
    """Heart Rate Service: notified heart rate with RR intervals, energy expended every 10th tick."""

    default_name = "Farlink HR"
    service_uuid = heart_rate.SERVICE

    def services(self) -> list[gatt.Service]:
        self.measurement = characteristic(heart_rate.MEASUREMENT, NOTIFY)
        return [gatt.Service(heart_rate.SERVICE, [self.measurement])]

    @staticmethod
    def frame(tick: int) -> heart_rate.HeartRateMeasurement:
        rate = 62 + tick % 11
        rr = round(60 / rate * heart_rate.RR_UNITS_PER_SECOND)
        return heart_rate.HeartRateMeasurement(rate, heart_rate.SensorContact.DETECTED,
                                               energy_expended=tick // 10 if tick % 10 == 0 else None,
                                               rr_intervals=(rr, rr + 7))

    async def run(self) -> None:
        for tick in itertools.count():
            await self.send(self.measurement, bytes(self.frame(tick)))
            await asyncio.sleep(self.interval_s)


class GlucoseMeter(BlePeripheral):
    """Glucose Service with stored records, downloaded through the Record Access Control Point."""

    default_name = "Farlink Glucose"
    service_uuid = glucose.SERVICE

    def __init__(self, name: str | None = None, *, interval_s: float = 1.0, records: int = 5) -> None:
        super().__init__(name, interval_s=interval_s)
        now = time.time()
        self.records = [self.frame(i, now - (records - i) * 3600) for i in range(records)]

    def services(self) -> list[gatt.Service]:
        self.measurement = characteristic(glucose.MEASUREMENT, NOTIFY)
        self.control_point = characteristic(racp.CONTROL_POINT, WRITE | INDICATE,
                                            AttributeValue(write=self._on_control_point))
        return [gatt.Service(glucose.SERVICE, [self.measurement, self.control_point,
                                               characteristic(glucose.FEATURE, READ, b"\x00\x00")])]

    @staticmethod
    def frame(sequence: int, when: float) -> glucose.GlucoseMeasurement:
        value = Mder(92 + sequence * 7 % 40, -5)  # kg/L: mantissa in mg/dL
        return glucose.GlucoseMeasurement(sequence, DateTime.from_timestamp(when), time_offset=0,
                                          concentration=glucose.Concentration(value))

    def _on_control_point(self, connection: Connection, value: bytes) -> None:
        self._spawn(self._answer(connection, bytes(value)))

    async def _answer(self, connection: Connection, value: bytes) -> None:
        try:
            request = racp.RacpRequest.parse(value)
        except ProtocolError:
            return
        answer: racp.RacpIndication
        if request.op is racp.RacpOp.REPORT_NUMBER_OF_RECORDS:
            answer = racp.RacpNumberOfRecords(len(self.records))
        elif request.op is racp.RacpOp.REPORT_RECORDS and request.operator is racp.RacpOperator.ALL:
            for record in self.records:
                await self.device.notify_subscriber(connection, self.measurement, bytes(record))
            answer = racp.RacpResponse(request.op, racp.RacpResult.SUCCESS if self.records
                                       else racp.RacpResult.NO_RECORDS)
        else:
            answer = racp.RacpResponse(request.op, racp.RacpResult.OPERATOR_NOT_SUPPORTED)
        await self.send(self.control_point, bytes(answer))


class WeightScale(BlePeripheral):
    """Weight Scale Service: an indicated weighing (with BMI and height) each tick."""

    default_name = "Farlink Scale"
    service_uuid = weight.SERVICE

    def services(self) -> list[gatt.Service]:
        self.measurement = characteristic(weight.MEASUREMENT, INDICATE)
        return [gatt.Service(weight.SERVICE, [self.measurement,
                                              characteristic(weight.FEATURE, READ, b"\x0e\x00\x00\x00")])]

    @staticmethod
    def frame(tick: int) -> weight.WeightMeasurement:
        raw = 14000 + tick % 5 * 20  # 70.0 kg + 0.1 kg steps
        return weight.WeightMeasurement(raw, user_id=1, bmi=round(raw * 0.005 / 1.75**2 * 10), height=1750)

    async def run(self) -> None:
        for tick in itertools.count():
            await self.send(self.measurement, bytes(self.frame(tick)))
            await asyncio.sleep(self.interval_s)


class BerryMedOximeter(BlePeripheral):
    """BerryMed BCI over the transparent UART: 100 packets/s in notifications that cut packets apart."""

    default_name = "BerryMed"
    service_uuid = berrymed.SERVICE
    CHUNK = 17  # notification size: never a multiple of the 5-byte packet

    def __init__(self, name: str | None = None, *, interval_s: float = 0.05) -> None:
        super().__init__(name, interval_s=interval_s)

    def services(self) -> list[gatt.Service]:
        self.notify = characteristic(berrymed.NOTIFY, NOTIFY)
        return [gatt.Service(berrymed.SERVICE, [self.notify, characteristic(berrymed.WRITE, WRITE_NO_RESPONSE)])]

    @staticmethod
    def frame(index: int) -> berrymed.BciPacket:
        second = index // 100
        return berrymed.BciPacket(signal_strength=6, pulse_beep=index % 80 == 0,
                                  pleth=round(64 + 50 * math.sin(index / 80 * 2 * math.pi)), bargraph=5,
                                  pulse_rate=70 + second % 6, spo2=97 + second % 2)

    async def run(self) -> None:
        stream = bytearray()
        per_tick = max(1, round(100 * self.interval_s))
        for tick in itertools.count():
            stream += b"".join(bytes(self.frame(tick * per_tick + i)) for i in range(per_tick))
            while len(stream) >= self.CHUNK:
                await self.send(self.notify, bytes(stream[:self.CHUNK]))
                del stream[:self.CHUNK]
            await asyncio.sleep(self.interval_s)


class O2Ring(BlePeripheral):
    """Wellue O2Ring: answers framed commands; READ_SENSORS (0x17) replies span two notifications."""

    default_name = "O2Ring 1234"
    service_uuid = o2ring.SERVICE
    MTU_PAYLOAD = 20

    def services(self) -> list[gatt.Service]:
        self.notify = characteristic(o2ring.NOTIFY, NOTIFY)
        write = characteristic(o2ring.WRITE, WRITE | WRITE_NO_RESPONSE, AttributeValue(write=self._on_write))
        self.polls = 0
        return [gatt.Service(o2ring.SERVICE, [write, self.notify])]

    @staticmethod
    def frame(poll: int) -> o2ring.O2Response:
        return o2ring.O2Response(0, data=bytes(o2ring.O2Sensors.build(95 + poll % 4, 58 + poll % 7,
                                                                      battery=90, motion=poll % 3)))

    def _on_write(self, _connection: Connection, value: bytes) -> None:
        try:
            request = o2ring.O2Request.parse(bytes(value))
        except ProtocolError:
            return
        if request.command == o2ring.O2Command.READ_SENSORS:
            answer = self.frame(self.polls)
            self.polls += 1
        elif request.command == o2ring.O2Command.INFO:
            answer = o2ring.O2Response(0, data=b'{"Model":"1652","SN":"sim"}')
        else:
            answer = o2ring.O2Response(0)
        self._spawn(self._reply(bytes(answer)))

    async def _reply(self, data: bytes) -> None:
        for start in range(0, len(data), self.MTU_PAYLOAD):
            await self.send(self.notify, data[start:start + self.MTU_PAYLOAD])


BLE_SIMULATORS: dict[str, type[BlePeripheral]] = {
    "ble-plx": PlxOximeter,
    "ble-bp": BloodPressureCuff,
    "ble-thermometer": Thermometer,
    "ble-heart-rate": HeartRateStrap,
    "ble-glucose": GlucoseMeter,
    "ble-weight": WeightScale,
    "ble-berrymed": BerryMedOximeter,
    "ble-o2ring": O2Ring,
}


async def start_ble_simulator(kind: str, name: str | None = None, **options: Any) -> BlePeripheral:
    """Start the simulated device of ``kind`` (a key of :data:`BLE_SIMULATORS`) on the air."""
    simulator = BLE_SIMULATORS[kind](name, **options)
    await simulator.start()
    return simulator
