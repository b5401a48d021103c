"""media.pacer on synthetic time: when each packet of a burst may leave."""

from __future__ import annotations

import pytest

from devices.errors import LocalError
from media.pacer import BURST_MS, Pacer


def departures(pacer: Pacer, start_ms: float = 0.0) -> list[tuple[float, bytes]]:
    """Send everything queued, each packet as soon as it is due: (time, packet)."""
    now, sent = start_ms, []
    while (due := pacer.due_ms(now)) is not None:
        now = due
        sent.append((now, pacer.pop(now)))
    return sent


def burst(pacer: Pacer, count: int, size: int = 1_000) -> None:
    for i in range(count):
        pacer.push(bytes([i]) * size)


def test_a_burst_spreads_over_its_size_at_the_rate() -> None:
    rate = 80_000  # 10 KB in 1 s
    pacer = Pacer(rate)
    burst(pacer, 10)
    sent = departures(pacer)
    assert [p[0] for _, p in sent] == list(range(10))  # in order
    assert sent[0][0] == 0.0  # the first packet of an idle pacer goes at once
    gaps = [b - a for (a, _), (b, _) in zip(sent, sent[1:])]
    assert gaps == pytest.approx([100.0] * 9)  # each waits for the previous one's bits at the rate
    assert sent[-1][0] == pytest.approx(10_000 * 8 / rate * 1000 - 100)
    assert pacer.backlog_ms(sent[-1][0]) == pytest.approx(100.0)  # the last one's own bits
    assert pacer.due_ms(sent[-1][0]) is None


def test_a_rate_change_takes_effect_on_the_next_packet() -> None:
    pacer = Pacer(8_000)  # 1 s a packet
    burst(pacer, 3)
    assert pacer.due_ms(0.0) == 0.0
    pacer.pop(0.0)
    assert pacer.due_ms(0.0) == pytest.approx(1_000.0)
    pacer.set_rate(80_000, 500.0)  # half the debt is paid at the old rate, the rest at the new
    assert pacer.due_ms(500.0) == pytest.approx(550.0)
    pacer.pop(550.0)
    assert pacer.due_ms(550.0) == pytest.approx(650.0)
    with pytest.raises(LocalError):
        pacer.set_rate(0)


def test_an_idle_pacer_banks_only_a_short_burst() -> None:
    rate = 800_000
    pacer = Pacer(rate)
    pacer.push(b"x")
    pacer.pop(0.0)
    burst(pacer, 10)  # after a minute of silence
    sent = departures(pacer, 60_000.0)
    banked = rate * BURST_MS / 1000 / 8  # bytes an idle pacer lets through at once
    at_once = [t for t, _ in sent if t == 60_000.0]
    assert len(at_once) == 1 + int(banked // 1_000)
    assert sent[-1][0] - 60_000.0 == pytest.approx((10_000 - 1_000 - banked) * 8 / rate * 1000, abs=1)


def test_retransmissions_leave_before_new_video() -> None:
    pacer = Pacer(8_000)
    burst(pacer, 3)
    pacer.pop(0.0)
    pacer.push(b"r1", retransmission=True)
    pacer.push(b"r2", retransmission=True)
    assert [p for _, p in departures(pacer)] == [b"r1", b"r2", bytes([1]) * 1_000, bytes([2]) * 1_000]


def test_a_new_frame_is_admitted_only_while_the_queue_drains_within_the_limit() -> None:
    pacer = Pacer(8_000, limit_ms=1_500)  # 1 s a 1000-byte packet
    assert pacer.admit(0.0)
    burst(pacer, 3)  # a keyframe: 3 s of the rate
    assert not pacer.admit(0.0)
    pacer.pop(0.0)
    pacer.pop(1_000.0)
    assert not pacer.admit(1_000.0)  # the second packet just left: 2 s still owed
    assert pacer.admit(1_600.0)
    assert pacer.refused == 2
    pacer.push(b"x" * 1_000)
    pacer.clear()
    assert len(pacer) == 0 and pacer.due_ms(10_000.0) is None


def test_nothing_leaves_in_a_quiet_window() -> None:
    """A vitals message is expected at 1 000 ms: packets due from 750 on wait until 1 100."""
    pacer = Pacer(80_000)  # 100 ms a packet
    pacer.quiet(750.0, 1_100.0)
    burst(pacer, 10)
    times = [t for t, _ in departures(pacer)]
    assert times[:8] == pytest.approx([0, 100, 200, 300, 400, 500, 600, 700])  # before it
    assert times[8] == 1_100.0  # due at 800: held to the window's end
    assert times[9] == pytest.approx(1_200.0 - BURST_MS)  # the window banked a short burst, no more
    assert not any(750 <= t < 1_100 for t in times)
    pacer.quiet(2_000.0, 2_500.0)  # a new window replaces the last
    burst(pacer, 1)
    assert pacer.due_ms(1_300.0) == 1_300.0
