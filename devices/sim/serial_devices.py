"""Simulated serial vital-sign devices on pseudo-terminals.

Each simulator speaks its device's protocol byte for byte, built with the project's own codecs,
and records what it sent (:meth:`SerialSimulator.sent_values`) so tests can compare it with what
the station decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections import defaultdict
from datetime import datetime

from devices import contec, visomat
from devices.errors import ProtocolError
from devices.sim.serial_port import PtyPort


class SerialSimulator:
    """Base class: a device on a :class:`PtyPort`; ``interval_s`` paces :meth:`run`."""

    kind = ""
    interval_s = 1.0

    def __init__(self, *, interval_s: float | None = None) -> None:
        if interval_s is not None:
            self.interval_s = interval_s
        self._port = PtyPort(self.kind, self._on_host_data)
        self._sent: defaultdict[str, list[float]] = defaultdict(list)
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> str:
        """The stable path the station opens."""
        return self._port.path

    def sent_values(self, kind: str) -> list[float]:
        """Every value of reading kind ``kind`` this device has put on the wire."""
        return list(self._sent[kind])

    async def start(self) -> None:
        self._port.replug()
        self._task = asyncio.create_task(self.run(), name=f"serial-sim {self.kind}")

    def unplug(self) -> None:
        """Pull the cable: the port disappears until :meth:`replug`."""
        self._port.unplug()

    def replug(self) -> None:
        self._port.replug()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._port.close()

    # -- for subclasses ------------------------------------------------------------------

    async def run(self) -> None:
        raise NotImplementedError

    def on_host_data(self, data: bytes) -> None:
        """What the host wrote (default: ignored)."""

    def send(self, data: bytes, values: dict[str, float]) -> None:
        if self._port.write(data):
            for kind, value in values.items():
                self._sent[kind].append(value)

    def _on_host_data(self, data: bytes) -> None:
        self.on_host_data(data)


class ContecV7Simulator(SerialSimulator):
    """A CMS50D+ with V7.0 firmware: 60 real-time packets/s after 0xA1, silent 30 s after the
    last 0xA1 (as the real device), silent at once on 0xA2. Values drift once per second."""

    kind = "contec-v7"
    interval_s = 1 / 60
    STREAM_FOR_S = 30.0

    def __init__(self, *, interval_s: float | None = None) -> None:
        super().__init__(interval_s=interval_s)
        self._decoder = contec.V7Decoder()
        self._commands = bytearray()
        self.commands: list[int] = []  # host command codes, in order
        self._stream_until = 0.0

    def on_host_data(self, data: bytes) -> None:
        self._commands += data
        while len(self._commands) >= contec.PACKET_SIZE:
            start = self._commands.find(contec.COMMAND)
            if start < 0:
                self._commands.clear()
                return
            packet = bytes(self._commands[start:start + contec.PACKET_SIZE])
            if len(packet) < contec.PACKET_SIZE:
                return
            del self._commands[:start + contec.PACKET_SIZE]
            try:
                _, data7 = contec.unframe(packet)
            except ProtocolError:
                continue
            self.commands.append(data7[0])
            now = asyncio.get_running_loop().time()
            if data7[0] == contec.Command.START_REALTIME:
                self._stream_until = now + self.STREAM_FOR_S
            elif data7[0] == contec.Command.STOP_REALTIME:
                self._stream_until = now

    @staticmethod
    def packet(tick: int) -> contec.RealTime:
        second = tick // 60
        return contec.RealTime(signal=6, pleth=int(64 + 50 * math.sin(tick * 2 * math.pi / 50)),
                               bargraph=5, pulse_rate=68 + second * 7 % 13, spo2=95 + second % 5,
                               perfusion_index=250 + second * 13 % 200)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for tick in itertools.count():
            if loop.time() < self._stream_until:
                packet = self.packet(tick)
                self.send(bytes(packet), {"spo2": packet.spo2, "pulse_rate": packet.pulse_rate,
                                          "perfusion_index": packet.perfusion_index / 100})
            await asyncio.sleep(self.interval_s)


class VisomatSimulator(SerialSimulator):
    """A Visomat Double Comfort that measures every ``interval_s`` (the first time ``FIRST_AFTER_S``
    after power-on, as a nurse would) and pushes its memory block after each measurement."""

    kind = "visomat-bp"
    interval_s = 20.0
    FIRST_AFTER_S = 2.0

    def __init__(self, *, interval_s: float | None = None) -> None:
        super().__init__(interval_s=interval_s)
        self.records: list[visomat.Record] = []

    @staticmethod
    def record(tick: int, when: datetime) -> visomat.Record:
        return visomat.Record(when.replace(second=0, microsecond=0), 0, 118 + tick * 5 % 17,
                              76 + tick * 3 % 11, 66 + tick * 7 % 15)

    async def run(self) -> None:
        await asyncio.sleep(min(self.FIRST_AFTER_S, self.interval_s))
        for tick in itertools.count():
            record = self.record(tick, datetime.now())
            self.records = [*self.records, record][-99:]
            block = visomat.MemoryBlock({1: tuple(self.records), 2: ()})
            self.send(block.framed(), {"systolic": record.systolic, "diastolic": record.diastolic,
                                       "pulse_rate": record.pulse_rate})
            await asyncio.sleep(self.interval_s)


SERIAL_SIMULATORS: dict[str, type[SerialSimulator]] = {
    "contec-v7": ContecV7Simulator,
    "visomat-bp": VisomatSimulator,
}
