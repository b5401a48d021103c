"""The degradation ladder: budgets, hysteresis, and the ladder riding the estimator on synthetic links."""

from __future__ import annotations

import pytest

from devices.errors import LocalError
from media.adaptive import padding_bps
from media.estimator import BandwidthEstimator, EstimatorConfig, ReceiverReport
from media.ladder import RUNGS, Ladder, Rung
from station.linkcheck import start_at
from tests.media.fluidlink import FluidLink


def test_audio_overhead_matches_the_measured_wire_rate() -> None:
    rung = Rung("x", 0, 0, 0, 0, 16_000, 60)
    assert 22_000 <= rung.audio_wire_bps() <= 24_500  # "16 kbit/s in 60 ms packets is ~22.5 on the wire"


@pytest.mark.parametrize(
    ("link_bps", "expected"),
    [
        (10_000_000, "vga30"),
        (1_000_000 * 0.85, "vga27"),  # vsat-geo: the estimator holds ~0.85-0.95 of the link
        (256_000 * 0.85, "vga12"),
        (64_000 * 0.85, "qvga6"),
        (24_000 * 0.9, "stills"),
        (12_000, "vitals"),
    ],
)
def test_the_designed_links_get_their_rungs(link_bps: float, expected: str) -> None:
    assert Ladder().best_fit(link_bps).name == expected


def test_rungs_meet_the_benchmark_floors() -> None:
    ladder = Ladder(top="hd30")
    vga12, qvga6, stills = (ladder.by_name(n) for n in ("vga12", "qvga6", "stills"))
    # above the targets by more than the link's loss (bgan: 1 %), which takes its share of both
    assert (vga12.width, vga12.height) == (640, 480) and vga12.fps * 0.99 > 10 and vga12.audio_bps * 0.99 > 16_000
    assert (qvga6.width, qvga6.height) == (320, 240) and qvga6.fps * 0.99 > 5 and qvga6.audio_bps * 0.99 > 8_000
    assert stills.stills and 1 / stills.fps <= 15 and stills.has_audio
    assert not ladder.rungs[-1].has_video and not ladder.rungs[-1].has_audio
    costs = [r.required_bps() for r in ladder.rungs]
    assert costs == sorted(costs, reverse=True)


def test_down_is_immediate_and_skips_rungs() -> None:
    ladder = Ladder(start="vga27")
    assert ladder.update(60_000, now_ms=0).name == "qvga6"


def test_down_has_a_small_margin_for_the_estimators_backoff() -> None:
    ladder = Ladder(start="qvga6")
    required = ladder.rung.required_bps()
    assert ladder.update(required * 0.95, 0).name == "qvga6"
    assert ladder.update(required * 0.90, 1_000).name == "stills"


def test_up_needs_sustained_headroom() -> None:
    ladder = Ladder(start="qvga6")
    enough = ladder.by_name("qvga8").required_bps() * 1.15
    assert ladder.update(enough, 0).name == "qvga6"
    assert ladder.update(enough, 2_900).name == "qvga6"  # not yet sustained
    assert ladder.update(enough, 3_000).name == "qvga8"


def test_up_jumps_to_what_the_headroom_allows_then_settles() -> None:
    ladder = Ladder(start="qvga6")
    plenty = 2_000_000
    ladder.update(plenty, 0)
    assert ladder.update(plenty, 3_000).name == "vga30"
    assert ladder.update(ladder.by_name("vga27").required_bps(), 4_000).name == "vga27"
    assert ladder.update(plenty, 6_000).name == "vga27"  # settling after the switch
    ladder.update(plenty, 7_000)
    assert ladder.update(plenty, 10_000).name == "vga30"


def test_headroom_must_be_continuous() -> None:
    ladder = Ladder(start="qvga6")
    above = ladder.by_name("qvga8").required_bps() * 1.2
    ladder.update(above, 0)
    ladder.update(ladder.by_name("qvga6").required_bps() * 1.05, 2_000)  # fits, but no headroom
    ladder.update(above, 3_000)
    assert ladder.update(above, 5_900).name == "qvga6"
    assert ladder.update(above, 6_000).name == "qvga8"


def test_long_round_trips_wait_longer_to_go_up() -> None:
    ladder = Ladder(start="qvga6")
    ladder.update(1_000_000, 0, rtt_ms=1500)
    assert ladder.update(1_000_000, 5_900, rtt_ms=1500).name == "qvga6"
    assert ladder.update(1_000_000, 6_000, rtt_ms=1500).name == "vga27"


def test_a_ladder_cut_short_stays_on_its_last_rung() -> None:
    ladder = Ladder(RUNGS[:8], start="qvga6")  # down to qvga6, as the relay gives its viewers
    assert ladder.update(1_000, now_ms=0).name == "qvga6"
    assert ladder.update(1_000, now_ms=500).name == "qvga6"


def test_unknown_rung_is_a_local_error() -> None:
    with pytest.raises(LocalError) as info:
        Ladder(top="8k")
    assert info.value.code == "unknown_rung"


def test_force_overrides_and_restarts_hysteresis() -> None:
    ladder = Ladder()
    assert ladder.force("stills", 0).name == "stills"
    assert ladder.update(10_000_000, 2_000).name == "stills"


def test_a_single_loss_burst_changes_no_rung() -> None:
    estimator = BandwidthEstimator(EstimatorConfig(max_bps=250_000))
    ladder = Ladder(start="vga12")
    now, rungs = 0.0, []
    for fraction in [0.0] * 20 + [0.4] + [0.0] * 10:
        now += 1000
        estimator.on_report(ReceiverReport(fraction, 800, now - 800), ladder.rung.wire_bps(), now)
        rungs.append(ladder.update(estimator.target_bps, now, estimator.rtt_ms).name)
    assert set(rungs) == {"vga12"}


@pytest.mark.parametrize(
    ("capacity", "rtt", "queue", "loss", "floor"),
    [
        (1_000_000, 600, 500, 0.005, "vga27"),
        (256_000, 800, 1000, 0.01, "vga12"),
        (64_000, 900, 1500, 0.01, "qvga6"),
        (24_000, 1500, 2000, 0.02, "stills"),
    ],
)
def test_the_ladder_settles_on_each_link_without_flapping(
    capacity: int, rtt: int, queue: int, loss: float, floor: str
) -> None:
    """From where a link check that read 0.85 of the link starts the call."""
    link = FluidLink(lambda t: capacity, base_rtt_ms=rtt, queue_ms=queue, loss=loss, seed=capacity)
    ladder, estimator = start_at(int(0.85 * capacity))
    switches = ride(link, 300_000, estimator, ladder)
    late = [name for t, name in switches if t > 120_000]
    names = [r.name for r in ladder.rungs]
    assert names.index(ladder.rung.name) <= names.index(floor), switches
    assert len(late) <= 4, switches  # an occasional probe, not flapping


def ride(link: FluidLink, until_ms: float, estimator: BandwidthEstimator, ladder: Ladder,
         queues: list[float] | None = None) -> list[tuple[float, str]]:
    """The ladder on the estimator on ``link`` as the controller runs them: the sender is
    app-limited at its rung's wire rate, plus the padding it probes with; returns the switches
    (and appends the link's queueing delay at every report to ``queues``)."""
    switches: list[tuple[float, str]] = []
    padding = 0.0

    def sent() -> float:
        return ladder.rung.wire_bps() + padding

    for now, report in link.run(until_ms, sent):
        estimator.on_report(report, sent(), now, padding_bps=padding)
        before = ladder.rung
        if ladder.update(estimator.target_bps, now, estimator.rtt_ms) != before:
            switches.append((now, ladder.rung.name))
        padding = padding_bps(ladder, estimator, ladder.rung.wire_bps(), now)
        if queues is not None:
            queues.append(link.queue_delay_ms())
    return switches


@pytest.mark.parametrize(
    ("capacity", "rtt", "queue", "loss", "start", "settles"),
    [
        (256_000, 800, 1000, 0.01, "vga12", "vga12"),
        (64_000, 900, 1500, 0.01, "qvga6", "qvga6"),
        (1_000_000, 600, 500, 0.005, "vga15", "vga27"),
    ],
)
def test_probing_for_the_next_rung_keeps_the_queue_short(
    capacity: int, rtt: int, queue: int, loss: float, start: str, settles: str
) -> None:
    """A call started from the link check probes for the next rung with padding ramping at the
    estimator's pace: the probe that meets the capacity queues a few per cent of it for a round
    trip or two, not the next rung's excess (vga12 -> vga15 on 256 kbit/s queued a second)."""
    link = FluidLink(lambda t: capacity, base_rtt_ms=rtt, queue_ms=queue, loss=loss, seed=capacity)
    ladder = Ladder(start=start)
    estimator = BandwidthEstimator(EstimatorConfig(start_bps=int(ladder.rung.required_bps() * 1.1), start_measured=True))
    queues: list[float] = []
    switches = ride(link, 300_000, estimator, ladder, queues)
    assert ladder.rung.name == settles, switches
    assert max(queues) < 250, switches


def test_the_rung_steps_down_within_two_round_trips_of_a_capacity_drop() -> None:
    drop_ms = 180_000
    link = FluidLink(lambda t: 256_000 if t < drop_ms else 64_000, base_rtt_ms=800, queue_ms=1000, loss=0.01)
    estimator, ladder = BandwidthEstimator(), Ladder()
    ride(link, drop_ms, estimator, ladder)
    assert ladder.rung.wire_bps() > 100_000  # it climbed on the 256 kbit/s link first
    # Two round trips as the link now has them: base RTT plus its full queue.
    ride(link, drop_ms + 2 * (800 + 1000), estimator, ladder)
    assert ladder.rung.wire_bps() <= 64_000, ladder.rung


def test_the_rung_climbs_when_capacity_returns_and_then_only_probes() -> None:
    rise_ms = 60_000
    link = FluidLink(lambda t: 64_000 if t < rise_ms else 1_000_000, base_rtt_ms=600, queue_ms=500, loss=0.005)
    estimator, ladder = BandwidthEstimator(), Ladder()
    ride(link, rise_ms, estimator, ladder)
    assert ladder.rung.wire_bps() <= 64_000
    switches = ride(link, rise_ms + 400_000, estimator, ladder)
    names = [r.name for r in ladder.rungs]
    reached = next(t for t, name in switches if names.index(name) <= names.index("vga27"))
    assert reached - rise_ms < 240_000, switches  # found within minutes (a wall met often is probed less)
    after = [(t, name) for t, name in switches if t > reached + 30_000]  # the climb is over
    assert all(names.index(name) <= names.index("vga27") for _, name in after), switches  # no fall
    assert len(after) <= 4, switches  # then a probe every minute or two, not a sawtooth


def test_no_climbing_on_a_guess_but_stepping_down_still_works() -> None:
    ladder = Ladder(start="qvga10")
    plenty = ladder.by_name("vga30").required_bps() * 2
    for now in range(0, 20_000, 500):
        assert ladder.update(plenty, now, climb=False).name == "qvga10"
    assert ladder.update(ladder.by_name("qvga6").required_bps(), 20_000, climb=False).name == "qvga6"


def test_a_climb_that_fails_at_once_returns_to_the_rung_it_left_and_holds_it() -> None:
    """bgan-64: qvga6 -> qvga8 overflows the link; the estimator's first figure after it (the
    queue the probe left, read as capacity) is below qvga6 too: the ladder goes back to qvga6
    and stays there while that queue drains, but not if the link really collapsed."""
    ladder = Ladder(start="qvga6")
    qvga8 = ladder.by_name("qvga8").required_bps()
    t = 10_000.0
    while ladder.rung.name == "qvga6":
        t += 500
        ladder.update(qvga8 * 1.2, t, rtt_ms=900)
        assert t < 60_000, "never climbed"
    assert ladder.rung.name == "qvga8"
    assert ladder.update(36_000, t + 5_000, rtt_ms=900).name == "qvga6"  # not stills
    assert ladder.update(38_000, t + 6_000, rtt_ms=900).name == "qvga6"  # held while it drains
    assert ladder.update(15_000, t + 7_000, rtt_ms=900).name != "qvga6"  # a collapse is not held
    # a fall long after a climb is no failed probe: straight to the rung that fits
    ladder = Ladder(start="qvga8")
    assert ladder.update(36_000, 60_000.0, rtt_ms=900).name == "stills"
