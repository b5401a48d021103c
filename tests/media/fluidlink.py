"""A fluid model of a bottleneck link that produces RTCP-like feedback on synthetic time.

It honours what the estimator relies on: the sender reports every ``report_ms``; the receiver's
answer to each report comes back one round trip later (base RTT plus the queue the probe met),
carrying the fraction of packets lost since the previous answer. The queue is drop-tail.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from media.estimator import ReceiverReport

STEP_MS = 20


@dataclass
class FluidLink:
    capacity_bps: Callable[[float], float]
    base_rtt_ms: float
    queue_ms: float
    loss: float = 0.0
    report_ms: float = 1000.0
    seed: int = 1
    extra_loss: Callable[[float], float] = lambda now_ms: 0.0
    now_ms: float = 0.0
    _queue_bits: float = 0.0
    _sent_bits: float = 0.0
    _lost_bits: float = 0.0
    _pending: list[tuple[float, ReceiverReport]] = field(default_factory=list)
    _next_probe_ms: float = 0.0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def queue_delay_ms(self) -> float:
        return 1000 * self._queue_bits / self.capacity_bps(self.now_ms)

    def run(self, until_ms: float, send_bps: Callable[[], float]) -> Iterator[tuple[float, ReceiverReport]]:
        """Advance time, sending at ``send_bps()``; yield (arrival_ms, report) as answers arrive."""
        while self.now_ms < until_ms:
            self.now_ms += STEP_MS
            capacity = self.capacity_bps(self.now_ms)
            bits = send_bps() * STEP_MS / 1000
            random_loss = min(1.0, self.loss + self.extra_loss(self.now_ms))
            lost = bits * random_loss
            self._queue_bits += bits - lost
            self._queue_bits = max(0.0, self._queue_bits - capacity * STEP_MS / 1000)
            limit = capacity * self.queue_ms / 1000
            if self._queue_bits > limit:
                lost += self._queue_bits - limit
                self._queue_bits = limit
            self._sent_bits += bits
            self._lost_bits += lost
            if self.now_ms >= self._next_probe_ms:
                self._next_probe_ms = self.now_ms + self.report_ms * (0.75 + 0.5 * self._rng.random())
                rtt = self.base_rtt_ms + self.queue_delay_ms()
                fraction = self._lost_bits / self._sent_bits if self._sent_bits else 0.0
                # a random packet-level wobble around the fluid loss, as real counts have
                fraction = max(0.0, fraction + self._rng.gauss(0, self.loss / 2))
                self._sent_bits = self._lost_bits = 0.0
                self._pending.append((self.now_ms + rtt, ReceiverReport(fraction, rtt, self.now_ms)))
            for item in [p for p in self._pending if p[0] <= self.now_ms]:
                self._pending.remove(item)
                yield item
