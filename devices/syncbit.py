"""Framing shared by the fixed-size streams that mark a packet's first byte with bit 7.

BerryMed BCI, the legacy Contec CMS50D+ stream and Nonin data format 8 all send short packets
whose first byte has bit 7 set and whose other bytes have it clear. A serial read or a BLE
notification can end anywhere, so :class:`SyncBitDecoder` buffers, resynchronises on bit 7 and
drops (and counts) bytes that cannot start a packet. Each protocol supplies only its size and
its packet parser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from devices.bytestream import StreamDecoder

P = TypeVar("P")


class SyncBitDecoder(StreamDecoder, Generic[P]):
    """Sans-I/O: feed any chunks with :meth:`receive_data`, take packets with :meth:`next_packet`.

    ``parse`` gets exactly ``size`` bytes, the first with bit 7 set and the rest with it clear.
    """

    def __init__(self, parse: Callable[[bytes], P], size: int, label: str) -> None:
        super().__init__(label)
        self._parse = parse
        self._size = size

    def next_packet(self) -> P | None:
        """The next complete packet, or None until more data arrives."""
        while True:
            start = next((i for i, byte in enumerate(self._buffer) if byte & 0x80), len(self._buffer))
            self._drop(start)
            if len(self._buffer) < self._size:
                return None
            # A sync byte inside the candidate means the packet was cut short: restart there.
            resync = next((i for i in range(1, self._size) if self._buffer[i] & 0x80), None)
            if resync is not None:
                self._drop(resync)
                continue
            packet = self._parse(bytes(self._buffer[:self._size]))
            del self._buffer[:self._size]
            return packet

    def packets(self) -> list[P]:
        out = []
        while (packet := self.next_packet()) is not None:
            out.append(packet)
        return out
