"""The bandwidth estimator on synthetic time, against a fluid bottleneck model."""

from __future__ import annotations

import copy

from media.estimator import BandwidthEstimator, EstimatorConfig, ReceiverReport, Trend
from tests.media.fluidlink import FluidLink


def drive(link: FluidLink, estimator: BandwidthEstimator, until_ms: float) -> list[tuple[float, int]]:
    """Send at the estimator's target; return (time, target) after every report."""
    trace = []
    for now, report in link.run(until_ms, lambda: estimator.target_bps):
        estimator.on_report(report, estimator.target_bps, now)
        trace.append((now, estimator.target_bps))
    return trace


def steady(estimator: BandwidthEstimator, reports: int, rtt_ms: float, sent_bps: float | None = None,
           now: float = 0.0) -> float:
    """``reports`` loss-free reports a second apart at ``rtt_ms`` while sending ``sent_bps`` (the
    target when None), from ``now``; returns the time of the last."""
    for _ in range(reports):
        now += 1000
        estimator.on_report(ReceiverReport(0.0, rtt_ms, now - rtt_ms),
                            estimator.target_bps if sent_bps is None else sent_bps, now)
    return now


def test_steps_down_within_two_round_trips_of_a_capacity_drop() -> None:
    drop_ms = 60_000
    link = FluidLink(lambda t: 256_000 if t < drop_ms else 64_000, base_rtt_ms=800, queue_ms=1000, loss=0.01)
    estimator = BandwidthEstimator()
    drive(link, estimator, drop_ms)
    assert estimator.target_bps > 180_000  # it found the 256 kbit/s link first
    # Two round trips as the link now has them: base RTT plus its full queue.
    deadline = drop_ms + 2 * (800 + 1000)
    trace = drive(link, estimator, deadline)
    assert trace and trace[-1][1] <= 64_000 * 1.1  # one step lands near the new capacity
    drive(link, estimator, deadline + 10_000)
    assert estimator.target_bps <= 64_000


def test_steps_down_on_loss_alone_when_the_queue_is_tiny() -> None:
    drop_ms = 40_000
    link = FluidLink(lambda t: 512_000 if t < drop_ms else 128_000, base_rtt_ms=1500, queue_ms=40)
    estimator = BandwidthEstimator()
    drive(link, estimator, drop_ms)
    before = estimator.target_bps
    trace = drive(link, estimator, drop_ms + 2 * 1540 + 1000)
    assert trace[-1][1] <= 128_000 < before


def test_probes_up_to_the_capacity_and_then_stops_oscillating() -> None:
    link = FluidLink(lambda t: 1_000_000, base_rtt_ms=600, queue_ms=500, loss=0.005)
    estimator = BandwidthEstimator()
    trace = drive(link, estimator, 240_000)
    settled = [bps for now, bps in trace if now > 120_000]
    assert min(settled) > 700_000  # the link is used
    assert max(settled) < 1_150_000  # and not flooded
    decreases = sum(1 for a, b in zip(settled, settled[1:]) if b < a)
    assert decreases <= 3  # a probe every now and then, not a sawtooth every few seconds


def test_long_round_trips_probe_more_slowly() -> None:
    def rise(rtt_ms: float) -> int:
        link = FluidLink(lambda t: 10_000_000, base_rtt_ms=rtt_ms, queue_ms=500)
        estimator = BandwidthEstimator()
        drive(link, estimator, 20_000)
        return estimator.target_bps

    assert rise(1500) < rise(600) < rise(50)
    assert rise(1500) > 300_000  # but it does probe


def test_a_single_loss_burst_holds_the_target() -> None:
    estimator = BandwidthEstimator()
    now = steady(estimator, 30, 900, 200_000)
    before = estimator.target_bps
    now += 1000
    estimator.on_report(ReceiverReport(0.35, 900, now - 900), 200_000, now)
    assert estimator.target_bps == before
    assert estimator.trend is Trend.HOLD
    now += 1000
    estimator.on_report(ReceiverReport(0.0, 900, now - 900), 200_000, now)
    assert estimator.target_bps >= before


def test_one_late_report_is_not_congestion_but_a_queue_the_next_one_confirms_is() -> None:
    """A host too busy to handle a report at once reads it as a queue; the link's queue persists."""
    estimator = BandwidthEstimator()
    now = steady(estimator, 20, 50, 300_000)
    before = estimator.target_bps
    for rtt in (450, 50):  # handled 400 ms late once (a CPU pause), then on time again
        now += 1000
        estimator.on_report(ReceiverReport(0.0, rtt, now - rtt), 300_000, now)
        assert estimator.trend is not Trend.DECREASE and estimator.target_bps >= before
    for rtt in (450, 900):  # a queue that grows report after report
        now += 1000
        estimator.on_report(ReceiverReport(0.0, rtt, now - rtt), 300_000, now)
    assert estimator.trend is Trend.DECREASE
    assert estimator.target_bps < 0.9 * before


def test_a_growing_queue_that_loses_packets_is_congestion_at_once() -> None:
    estimator = BandwidthEstimator()
    now = steady(estimator, 20, 800, 200_000)
    now += 1000
    estimator.on_report(ReceiverReport(0.3, 1500, now - 1500), 200_000, now)  # a drop-tail queue overflowing
    assert estimator.trend is Trend.DECREASE
    assert estimator.target_bps < 200_000 * 0.7


def test_two_lossy_reports_are_congestion() -> None:
    estimator = BandwidthEstimator()
    now = 0.0
    for fraction in (0.0, 0.0, 0.0, 0.3, 0.3):
        now += 1000
        estimator.on_report(ReceiverReport(fraction, 200, now - 200), 200_000, now)
    assert estimator.trend is Trend.DECREASE
    assert estimator.target_bps < 200_000 * 0.7


def test_a_remb_bounds_the_target_while_the_round_trips_show_a_queue_and_then_goes_stale() -> None:
    estimator = BandwidthEstimator()
    now = 0.0
    for rtt in (800, 800, 1100):  # a base of 800 ms, then a 300 ms queue
        now += 1000
        estimator.on_report(ReceiverReport(0.0, rtt, now - rtt), 300_000, now)
    estimator.on_remb(100_000, now)
    assert estimator.target_bps == 100_000
    steady(estimator, 40, 800, now=now)
    assert estimator.target_bps > 150_000


def test_a_remb_is_no_bound_while_the_round_trips_show_no_queue() -> None:
    """A loaded receiver's delay estimate can fall far below a link that is empty."""
    estimator = BandwidthEstimator()
    now = steady(estimator, 5, 800, 300_000)
    before = estimator.target_bps
    estimator.on_remb(20_000, now)
    assert estimator.target_bps == before


def test_reports_without_rtt_still_drive_loss_control() -> None:
    estimator = BandwidthEstimator()
    for i in range(1, 4):
        estimator.on_report(ReceiverReport(0.4), 300_000, i * 1000.0)
    assert estimator.target_bps < 300_000


def test_the_start_guess_comes_down_to_what_an_app_limited_sender_shows() -> None:
    """A station sending 20 kbit/s of stills has shown nothing of the link above ~2.5 times that."""
    estimator = BandwidthEstimator()
    assert estimator.target_bps == 300_000  # the start: a guess
    estimator.on_report(ReceiverReport(0.0, 900, 100.0), 20_000, 1000.0)
    assert estimator.target_bps <= 2.5 * 20_000 + 64_000


def test_a_report_that_counted_too_few_packets_leaves_the_loss_alone() -> None:
    estimator = BandwidthEstimator()
    now = 0.0
    for fraction in (0.0, 0.0, 0.3, None, 0.0, 0.3):  # lossy, too few to tell, clean, lossy
        now += 1000
        estimator.on_report(ReceiverReport(fraction, 200, now - 200), 200_000, now)
        assert estimator.trend is not Trend.DECREASE
    now += 1000
    estimator.on_report(ReceiverReport(None, 200, now - 200), 200_000, now)
    now += 1000
    estimator.on_report(ReceiverReport(0.3, 200, now - 200), 200_000, now)  # lossy again, twice counted
    assert estimator.trend is Trend.DECREASE


def test_a_probe_from_silence_is_judged_by_its_own_reports() -> None:
    """After a probe, reports about the silent time before it (a low send rate, a queue and loss
    from long ago) do not take the target straight back down; the probe's own congestion does."""
    est = BandwidthEstimator()
    est.on_report(ReceiverReport(0.0, 2400.0, 5_000.0), 4_000, 6_000.0)
    est.probe(20_000, 10_000.0)
    for i in range(3):
        est.on_report(ReceiverReport(0.2, 3300.0 + 300 * i, 9_000.0 + 200 * i), 4_000, 10_500.0 + 500 * i)
    assert est.target_bps >= 20_000
    for i in range(4):  # the probe's own: its queue grows and it loses packets
        est.on_report(ReceiverReport(0.2, 3500.0 + 600 * i, 12_000.0 + 1000 * i), 20_000, 14_000.0 + 1000 * i)
    assert est.target_bps < 20_000


def test_an_outage_is_not_congestion_the_target_holds_through_it_and_after() -> None:
    """60 s without any report (the link is out), then the first report counts everything sent
    into the outage as lost and the next one a thin link's usual loss: the target stays where
    the link had it, and the smoothed loss (Opus FEC follows it) is not the outage's."""
    estimator = BandwidthEstimator()
    now = steady(estimator, 40, 700, 250_000)
    before = estimator.target_bps
    assert estimator.silent_ms(now) == 0.0
    now += 60_000  # the outage: nothing at all
    assert estimator.silent_ms(now) == 60_000
    estimator.on_report(ReceiverReport(0.98, 700, now - 700), 250_000, now)
    assert estimator.target_bps == before and estimator.trend is Trend.HOLD
    assert estimator.loss < estimator.config.loss_low
    now += 1000
    estimator.on_report(ReceiverReport(0.15, 700, now - 700), 250_000, now)  # one packet in seven
    assert estimator.trend is not Trend.DECREASE and estimator.target_bps >= before


def test_sparse_reports_grow_the_target_as_fast_as_dense_ones() -> None:
    """On the stills rung only audio reports come back, every ~5 s: the climb per second of a
    clear link must not depend on how often it is reported."""

    def after_30_s(every_ms: float) -> int:
        est = BandwidthEstimator(EstimatorConfig(start_bps=20_000))
        t = 0.0
        while t < 30_000:
            t += every_ms
            est.on_report(ReceiverReport(0.0, 900.0, t - 500), est.target_bps, t)
        return est.target_bps

    dense, sparse = after_30_s(1_000), after_30_s(5_000)
    assert dense > 25_000
    assert sparse >= 0.8 * dense  # compounded less often, so a little less


def test_one_lost_packet_in_a_sparse_report_does_not_stop_the_climb() -> None:
    """Audio on the stills rung: ~40 packets a report at 1 % loss, so one report in three shows
    a packet lost (2.5 %): the smoothed loss, not one report's count, says whether to rise."""
    est = BandwidthEstimator(EstimatorConfig(start_bps=20_000))
    for i in range(12):
        t = 5_000.0 * (i + 1)
        est.on_report(ReceiverReport(0.025 if i % 3 == 1 else 0.0, 900.0, t - 500), est.target_bps, t)
    assert est.target_bps > 4.5 * 20_000


def test_reports_about_the_overshoot_do_not_cascade_after_the_decrease_answered_it() -> None:
    """A probe to the next rung overshot a 900 ms link: once the target fell, reports whose
    sender report left before that (still showing the queue growing) do not push it further."""
    est = BandwidthEstimator(EstimatorConfig(start_bps=80_000))
    est.on_report(ReceiverReport(0.0, 900.0, 0.0), 80_000, 1_000.0)
    now, probe, rtt = 1_000.0, 0.0, 900.0
    while est.trend is not Trend.DECREASE:  # the overshoot: the queue grows 0.4 s a second
        now, probe, rtt = now + 500, probe + 500, rtt + 200
        est.on_report(ReceiverReport(0.0, rtt, probe), 80_000, now)
        assert now < 10_000, "never saw the congestion"
    answered = est.target_bps
    for _ in range(4):  # in flight before the decrease: the queue still growing in them
        now, probe, rtt = now + 500, probe + 250, rtt + 250
        est.on_report(ReceiverReport(0.02, rtt, probe), 60_000, now)
    assert est.target_bps == answered


def test_a_probe_ends_at_the_first_report_of_a_growing_queue() -> None:
    """Padding to probe: one report whose queue grows past half the threshold ends it (without
    padding a second one must confirm it: a single late report may be a busy CPU)."""
    def after(probing: bool) -> Trend:
        estimator = BandwidthEstimator(EstimatorConfig(start_bps=200_000))
        now = steady(estimator, 10, 800, 200_000)
        now += 1000
        estimator.on_report(ReceiverReport(0.0, 910, now - 910), 200_000, now, padding_bps=40_000 if probing else 0.0)
        assert estimator.target_bps >= 160_000  # not below what was sent beside the padding
        return estimator.trend

    assert after(probing=True) is Trend.DECREASE
    assert after(probing=False) is Trend.HOLD


def test_a_remb_after_a_failed_probe_keeps_what_was_sent_beside_the_padding() -> None:
    """Chromium's REMB answers the probe's queue with a fraction of the little video it saw
    (9.7 kbit/s on bgan-64 at qvga6): it bounds the target no lower than the probe's floor, as
    our own reports do. Once the probe is past, a REMB bounds as before."""
    estimator = BandwidthEstimator(EstimatorConfig(start_bps=60_000))
    now = steady(estimator, 10, 1000, 50_000)
    now += 1000
    estimator.on_report(ReceiverReport(0.0, 1230, now - 1230), 60_000, now, padding_bps=12_000)
    assert estimator.trend is Trend.DECREASE and estimator.target_bps >= 48_000
    estimator.on_remb(10_000, now + 500)
    assert estimator.target_bps >= 48_000
    later = now + 60_000
    estimator.on_report(ReceiverReport(0.0, 1400, later - 1400), 48_000, later)
    estimator.on_report(ReceiverReport(0.0, 1500, later + 500 - 1500), 48_000, later + 500)
    estimator.on_remb(10_000, later + 600)  # a queue again, long after: the REMB bounds it
    assert estimator.target_bps <= 10_000


def test_probes_wait_for_the_schedule_to_allow_the_next_rung() -> None:
    """After congestion at C, a probe for a rate R is due once the wall's schedule reaches R:
    later for a higher R."""
    estimator = BandwidthEstimator(EstimatorConfig(start_bps=100_000))
    now = steady(estimator, 5, 800, 100_000)
    assert estimator.may_probe(10_000_000, now)  # no wall met yet: any rate is worth a probe
    assert not estimator.may_probe(10_000_000, now + 8_000)  # but not into an outage
    for _ in range(3):  # a queue that grows: congestion at ~100 kbit/s
        now += 1000
        estimator.on_report(ReceiverReport(0.0, 800 + (now % 100_000) / 10, now - 800), 100_000, now)
    assert estimator.trend is Trend.DECREASE or estimator.target_bps < 100_000

    def due(bps: float) -> float:
        """Seconds of loss-free reports (the sender app-limited below the wall) until a probe
        for ``bps`` is due."""
        probe = copy.deepcopy(estimator)
        t = now
        while not probe.may_probe(bps, t):
            t = steady(probe, 1, 800, 90_000, t)
            assert t - now < 900_000, "never due"
        return (t - now) / 1000

    assert 0 < due(120_000) < due(200_000)


def test_a_handover_burst_in_two_quick_reports_is_not_congestion() -> None:
    """Starlink: 150 ms at 50 % loss, reported twice a few hundred milliseconds apart (Chromium
    sends a report with its NACKs): no decrease. The same loss going on for a second is one."""
    def after(gap_ms: float, reports: int) -> Trend:
        estimator = BandwidthEstimator(EstimatorConfig(start_bps=2_000_000))
        now = steady(estimator, 10, 50, 1_000_000)
        for _ in range(reports):
            now += gap_ms
            estimator.on_report(ReceiverReport(0.3, 50, now - 50), 1_000_000, now)
        return estimator.trend

    assert after(300, 2) is not Trend.DECREASE
    assert after(300, 5) is Trend.DECREASE
