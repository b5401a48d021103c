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
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from devices import contec, nonin, visomat
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
        self.replug()
        self._task = asyncio.create_task(self.run(), name=f"serial-sim {self.kind}")

    def unplug(self) -> None:
        """Pull the cable: the port disappears until :meth:`replug`."""
        self._port.unplug()

    def replug(self) -> None:
        self._port.replug()

    async def halt(self) -> None:
        """Stop producing and stay plugged in, so the host reads whatever was sent last."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def stop(self) -> None:
        await self.halt()
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

    def __init__(self, *, interval_s: float | None = None, stream_for_s: float = 30.0) -> None:
        super().__init__(interval_s=interval_s)
        self.stream_for_s = stream_for_s
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
                self._stream_until = now + self.stream_for_s
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


class ContecLegacySimulator(SerialSimulator):
    """A CMS50D+ with legacy firmware: streams 60 packets/s from power-on, never listens."""

    kind = "contec-legacy"
    interval_s = 1 / 60

    @staticmethod
    def packet(tick: int) -> contec.LegacyPacket:
        second = tick // 60
        return contec.LegacyPacket(signal_strength=7, pleth=int(64 + 50 * math.sin(tick * 2 * math.pi / 50)),
                                   bargraph=6, pulse_beep=tick % 50 == 0, pulse_rate=64 + second * 5 % 11,
                                   spo2=96 + second % 4)

    async def run(self) -> None:
        for tick in itertools.count():
            packet = self.packet(tick)
            self.send(bytes(packet), {"spo2": packet.spo2, "pulse_rate": packet.pulse_rate})
            await asyncio.sleep(self.interval_s)


class NoninSimulator(SerialSimulator):
    """A Nonin oximeter that powers on in ``data_format``. Within 5 s of power-on (plugging in)
    it ACKs a select-format command and switches, later it NAKs; it ACKs set-time and stamps
    DF13 spot-checks with that clock. ``interval_s`` paces DF2/DF7 packets (a real device sends
    one every 1/3 s), DF8 frames (1 s) and DF13 spot-checks."""

    SELECT_WINDOW_S = 5.0
    INTERVALS = {nonin.DataFormat.DF2: 1 / 3, nonin.DataFormat.DF7: 1 / 3, nonin.DataFormat.DF8: 1.0,
                 nonin.DataFormat.DF13: 5.0}

    def __init__(self, data_format: nonin.DataFormat, *, interval_s: float | None = None) -> None:
        self.kind = f"nonin-df{int(data_format)}"
        self.data_format = data_format
        super().__init__(interval_s=self.INTERVALS[data_format] if interval_s is None else interval_s)
        self._commands = nonin.CommandDecoder()
        self.commands: list[nonin.NoninCommand] = []  # accepted or not, in order
        self._plugged_at = 0.0
        self._clock_offset = timedelta()

    def replug(self) -> None:
        super().replug()
        self._plugged_at = asyncio.get_running_loop().time()

    def on_host_data(self, data: bytes) -> None:
        self._commands.receive_data(data)
        for command in self._commands.commands():
            self.commands.append(command)
            if isinstance(command, nonin.SetTime):
                self._clock_offset = command.when - datetime.now()
                self.send(bytes([nonin.ACK]), {})
            elif asyncio.get_running_loop().time() - self._plugged_at <= self.SELECT_WINDOW_S:
                self.data_format = command.data_format
                self.send(bytes([nonin.ACK]), {})
            else:
                self.send(bytes([nonin.NAK]), {})

    @staticmethod
    def values(tick: int) -> tuple[int, int]:
        """Heart rate and SpO2 at ``tick``."""
        return 66 + tick * 5 % 17, 95 + tick % 5

    def frames(self, tick: int) -> bytes:
        """What the device sends at ``tick`` in its current format."""
        heart_rate, spo2 = self.values(tick)
        if self.data_format is nonin.DataFormat.DF8:
            return bytes(nonin.Df8Frame(heart_rate=heart_rate, spo2=spo2))
        if self.data_format is nonin.DataFormat.DF13:
            taken = (datetime.now() + self._clock_offset).replace(microsecond=0)
            return bytes(nonin.Df13Packet(taken, 1 << 9, heart_rate, spo2))
        frame = nonin.Df2Frame if self.data_format is nonin.DataFormat.DF2 else nonin.Df7Frame
        floats = nonin.packet_floats(heart_rate, spo2)
        return b"".join(bytes(frame(0x80 | (number == 0), int(60 + 40 * math.sin(number / 4)), value))
                        for number, value in enumerate(floats))

    async def run(self) -> None:
        for tick in itertools.count():
            heart_rate, spo2 = self.values(tick)
            self.send(self.frames(tick), {"spo2": spo2, "pulse_rate": heart_rate})
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


SERIAL_SIMULATORS: dict[str, Callable[..., SerialSimulator]] = {
    "contec-v7": ContecV7Simulator,
    "visomat-bp": VisomatSimulator,
    "contec-legacy": ContecLegacySimulator,
    **{f"nonin-df{int(data_format)}": partial(NoninSimulator, data_format) for data_format in nonin.DataFormat},
}
