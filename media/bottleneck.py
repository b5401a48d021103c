"""One direction of an emulated link as a pure model: rate, drop-tail queue, delay and loss.

Time is an argument (seconds since the link started), so the model is deterministic under a
seeded random generator and testable without a network; ``linkemu.py`` feeds it real packets.
A packet that arrives while the queue holds more than ``queue_ms`` of the rate is dropped at
the tail; otherwise it leaves the queue after everything ahead of it has been serialised at
the rate, meets the profile's loss (random, outage, handover burst) on the air, and arrives
after the one-way delay. Arrival order is kept, so callers can deliver from a FIFO.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from media.traffic import TrafficClass

MTU = 1500


@dataclass
class Counter:
    """Per traffic class: what was delivered, dropped at the queue's tail, lost on the air."""

    packets: int = 0
    bytes: int = 0
    dropped: int = 0
    dropped_bytes: int = 0
    lost: int = 0
    lost_bytes: int = 0


class Bottleneck:
    def __init__(self, rate_kbps: float, delay_ms: float, queue_ms: float,
                 loss_at: Callable[[float], float], rng: random.Random) -> None:
        self.rate_bytes_s = rate_kbps * 1000 / 8
        self.delay_s = delay_ms / 1000
        # A queue smaller than one full packet would carry nothing at all.
        self.capacity = max(MTU, self.rate_bytes_s * queue_ms / 1000)
        self.loss_at = loss_at
        self.rng = rng
        self.busy_until = 0.0
        self.counters: dict[TrafficClass, Counter] = {}

    def queued_bytes(self, now_s: float) -> float:
        return max(0.0, self.busy_until - now_s) * self.rate_bytes_s

    def admit(self, size: int, kind: TrafficClass, now_s: float) -> float | None:
        """The time a packet of ``size`` bytes arriving at ``now_s`` is delivered, or None if it never is."""
        counter = self.counters.setdefault(kind, Counter())
        if self.queued_bytes(now_s) + size > self.capacity:
            counter.dropped += 1
            counter.dropped_bytes += size
            return None
        self.busy_until = max(now_s, self.busy_until) + size / self.rate_bytes_s
        if self.rng.random() < self.loss_at(self.busy_until):
            counter.lost += 1
            counter.lost_bytes += size
            return None
        counter.packets += 1
        counter.bytes += size
        return self.busy_until + self.delay_s
