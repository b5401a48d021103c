"""The buffer every sans-I/O stream decoder keeps.

A serial read or a BLE notification can end anywhere: a decoder takes whatever arrived with
:meth:`StreamDecoder.receive_data`, holds the start of a packet that has not fully arrived
(:attr:`~StreamDecoder.pending`), and drops, counting them in ``dropped_bytes``, the bytes
that cannot start one. Each protocol's subclass finds its packets in ``_buffer``.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class StreamDecoder:
    def __init__(self, label: str) -> None:
        self.label = label
        self._buffer = bytearray()
        self.dropped_bytes = 0

    @property
    def pending(self) -> int:
        """Bytes held back as the start of a packet that has not fully arrived."""
        return len(self._buffer)

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    def _drop(self, count: int) -> None:
        if count:
            log.debug("%s: dropped %d bytes while resynchronising", self.label, count)
            self.dropped_bytes += count
            del self._buffer[:count]
