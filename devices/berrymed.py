"""BerryMed "BCI protocol" oximeters: 5-byte packets at ~100 Hz, sync on bit 7 of the first byte.

Over BLE the packets arrive through the ISSC transparent-UART service, and notification
boundaries do not line up with packet boundaries: :class:`BciDecoder` is a sans-I/O stream
decoder that resynchronises on bit 7 (:mod:`devices.syncbit`, shared with the legacy Contec
stream) and drops (and counts) bytes that cannot start a packet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from devices import oximetry
from devices.oximetry import INVALID_PULSE_RATE, INVALID_SPO2, SYNC_PACKET_SIZE, SyncPacket
from devices.reading import Reading
from devices.syncbit import SyncBitDecoder

SERVICE = "49535343-fe7d-4ae5-8fa9-9fafd205e455"
NOTIFY = "49535343-1e4d-4bd9-ba61-23c647249616"
WRITE = "49535343-8841-43f4-a8d4-ecbe34729bb3"

PACKET_SIZE = SYNC_PACKET_SIZE


@dataclass(frozen=True, slots=True)
class BciPacket:
    """One BCI packet (BCI Protocol v1.2)."""

    signal_strength: int = 0  # 0-15
    no_signal: bool = False
    probe_unplugged: bool = False
    pulse_beep: bool = False
    pleth: int = 0  # 0-127, 0 = invalid
    bargraph: int = 0  # 0-15, 0 = invalid
    no_finger: bool = False
    pulse_searching: bool = False
    pulse_rate: int = INVALID_PULSE_RATE  # 0-255
    spo2: int = INVALID_SPO2  # 0-127

    @classmethod
    def parse(cls, data: bytes) -> Self:
        f = SyncPacket.parse(data, "BCI")
        return cls(signal_strength=f.signal_strength, no_signal=f.head_flags[0], probe_unplugged=f.head_flags[1],
                   pulse_beep=f.head_flags[2], pleth=f.pleth, bargraph=f.bargraph, no_finger=f.bar_flags[0],
                   pulse_searching=f.bar_flags[1], pulse_rate=f.pulse_rate, spo2=f.spo2)

    def __bytes__(self) -> bytes:
        return bytes(SyncPacket(self.signal_strength, (self.no_signal, self.probe_unplugged, self.pulse_beep),
                                self.pleth, self.bargraph, (self.no_finger, self.pulse_searching),
                                self.pulse_rate, self.spo2))

    @property
    def status(self) -> frozenset[str]:
        flags = {"no_signal": self.no_signal, "probe_unplugged": self.probe_unplugged,
                 "no_finger": self.no_finger, "pulse_searching": self.pulse_searching}
        return frozenset(name for name, on in flags.items() if on)

    def readings(self, time: float, source: str) -> list[Reading]:
        return oximetry.readings(self.spo2, self.pulse_rate, time, source, self.status)


class BciDecoder(SyncBitDecoder[BciPacket]):
    """Sans-I/O BCI stream decoder (notification boundaries need not match packet boundaries)."""

    def __init__(self) -> None:
        super().__init__(BciPacket.parse, PACKET_SIZE, "BCI")
