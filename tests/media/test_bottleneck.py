"""The link model on synthetic time: rate, drop-tail queue, one-way delay, loss windows."""

from __future__ import annotations

import random

import pytest

from media.bottleneck import Bottleneck
from media.links import LinkProfile
from media.traffic import TrafficClass

V = TrafficClass.VIDEO


def test_packets_leave_at_the_rate_after_the_delay() -> None:
    link = Bottleneck(rate_kbps=80, delay_ms=300, queue_ms=1000, loss_at=lambda t: 0.0, rng=random.Random(1))
    # 1000 bytes at 10 kB/s take 100 ms to serialise; three sent at once leave one after another.
    times = [link.admit(1000, V, 5.0) for _ in range(3)]
    assert times == pytest.approx([5.0 + 0.1 + 0.3, 5.0 + 0.2 + 0.3, 5.0 + 0.3 + 0.3])
    # once the queue has drained, a new packet waits for nobody
    assert link.admit(1000, V, 10.0) == pytest.approx(10.0 + 0.1 + 0.3)


def test_a_full_queue_drops_at_the_tail_and_counts_it() -> None:
    link = Bottleneck(rate_kbps=80, delay_ms=0, queue_ms=500, loss_at=lambda t: 0.0, rng=random.Random(1))
    results = [link.admit(1000, V, 0.0) for _ in range(10)]  # the queue holds 5000 bytes
    assert sum(r is not None for r in results) == 5
    c = link.counters[V]
    assert (c.packets, c.bytes, c.dropped, c.dropped_bytes, c.lost) == (5, 5000, 5, 5000, 0)
    assert link.admit(1000, V, 0.15) is not None  # 150 ms later, one packet's room has freed up


def test_a_queue_smaller_than_a_packet_still_carries_packets() -> None:
    link = Bottleneck(rate_kbps=8, delay_ms=0, queue_ms=100, loss_at=lambda t: 0.0, rng=random.Random(1))
    assert link.admit(1200, V, 0.0) is not None


def test_random_loss_is_applied_and_counted_per_class() -> None:
    link = Bottleneck(rate_kbps=100_000, delay_ms=0, queue_ms=1000, loss_at=lambda t: 0.25, rng=random.Random(7))
    for i in range(4000):
        link.admit(100, TrafficClass.AUDIO, i * 0.001)
    c = link.counters[TrafficClass.AUDIO]
    assert c.packets + c.lost == 4000 and c.dropped == 0
    assert 0.22 < c.lost / 4000 < 0.28


def test_outages_and_handovers_follow_the_profile_clock() -> None:
    profile = LinkProfile("t", 100, 100, 10, loss=0.0, outages=((40.0, 60.0),),
                          handover_every_s=15, handover_ms=150, handover_loss=0.5)
    assert profile.loss_at(39.9) == 0.0 and profile.loss_at(40.0) == 1.0 and profile.loss_at(99.99) == 1.0
    assert profile.loss_at(100.0) == 0.0
    assert profile.loss_at(1.0) == 0.0  # no handover before the first period ends
    assert profile.loss_at(15.1) == 0.5 and profile.loss_at(15.2) == 0.0 and profile.loss_at(30.05) == 0.5
