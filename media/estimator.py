"""Send-side bandwidth estimation from RTCP feedback, built for long round trips.

The estimator is pure: every input carries ``now_ms`` and nothing here reads a clock or starts a
task (the adaptive controller owns the clock). It combines three signals:

* loss (GCC-like): above 10 % the target falls towards the delivered rate, below 2 % (smoothed:
  one packet lost in a sparse report of 40 is 2.5 %) it may rise;
  one lossy report alone only pauses the increase, so a short burst (a satellite handover) does
  not move the target; loss that persists (consecutive reports and the smoothed figure above
  10 %) is congestion;
* delay: the round-trip samples from SR/RR (LSR/DLSR) minus the smallest recent sample give the
  bottleneck queue; a growing queue means we send faster than the link drains, once two
  consecutive reports show it or it comes with loss (a single late report is as likely a busy
  CPU at either end). Its slope also
  measures the link: sending ``S`` while the queue grows by ``g`` seconds per second means the
  capacity is ``S / (1 + g)`` (fluid model), so one report is enough to step straight down to it;
* REMB, when the receiver sends it, as an upper bound held for a few seconds (a single low REMB
  on a long-RTT link is noise; a sustained one is not), while the round trips show a queue.

No feedback at all is not congestion but an outage (a satellite beam lost, rain fade): with no
report nothing here changes, so the target (and the ladder's rung) holds through it, and the
first report after more than ``silence_ms`` without any is not a decision either: its loss
counts everything sent into the outage, and the capacity did not change. It only restarts the
counting, so media come back at the rate the link had before.

Increases are multiplicative but scaled down by the round trip (a 1.5 s link probes ~7x slower
than a 200 ms one), slowed near the capacity last measured, and allowed above it only as time
passes, with a backoff that doubles whenever a probe hits the same wall again: that is what keeps
the target (and the ladder above it) from oscillating around the capacity. And the target never
runs far ahead of what is sent: rates above the current rung are found by sending them, the
controller padding up to the target while it ``may_probe``, ramping at the increase rate, so
that the probe that meets the link's capacity overshoots it by a few per cent, not by the next
rung's (a jump from vga12 to vga15 on a 256 kbit/s link was a second of queue in front of every
vitals message).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass


#: the longest gap between reports that still counts as time to grow in
MAX_REPORT_GAP_S = 6.0
#: the target may rise above the rate sent by this factor plus this much, no further
PROBE_LEAD = 1.1
PROBE_LEAD_BPS = 4_000


class Trend(enum.Enum):
    """What the last update did to the target."""

    INCREASE = "increase"
    HOLD = "hold"
    DECREASE = "decrease"


@dataclass(frozen=True)
class ReceiverReport:
    """One RTCP report block about a stream we send, as the estimator needs it.

    ``fraction_lost`` is 0..1 over the report's interval, None when it counted too few packets
    to tell (see ``media.tuning.LOSS_MIN_PACKETS``). ``rtt_ms`` is the round trip measured
    from the echoed sender report (LSR/DLSR), or None when the block echoes none we know;
    ``probe_ms`` is when that sender report left us, on the same clock as ``now_ms``.
    """

    fraction_lost: float | None
    rtt_ms: float | None = None
    probe_ms: float | None = None


@dataclass(frozen=True)
class EstimatorConfig:
    start_bps: int = 300_000
    min_bps: int = 12_000
    max_bps: int = 3_000_000
    loss_high: float = 0.10
    loss_low: float = 0.02
    #: loss above ``loss_high`` is congestion once it has lasted this long (a burst is not)
    loss_persist_ms: float = 1_000.0
    #: relative increase per second at or below ``reference_rtt_ms``
    increase_per_s: float = 0.15
    reference_rtt_ms: float = 200.0
    #: queueing delay (RTT above the base) that counts as congestion: this plus a share of base
    queue_threshold_ms: float = 120.0
    queue_threshold_share: float = 0.1
    #: while the sender pads to probe, the increase is this much slower: the overshoot a
    #: round trip's feedback finds is smaller
    probe_slowdown: float = 0.5
    #: after a decrease, the target settles this far below the measured capacity
    backoff: float = 0.9
    #: how long the smallest RTT sample is remembered as the base (path changes need forgetting)
    base_rtt_window_ms: float = 120_000.0
    #: a REMB bounds the target for this long (plus two round trips)
    remb_hold_ms: float = 3_000.0
    #: after congestion at capacity C the target may return to 0.97 C, plus C per this many
    #: seconds (doubled after each probe that hit the same wall, up to ``probe_backoff_max``
    #: times): the next rung up is tried after ~0.7 of it, so a link whose capacity came back
    #: is found within a minute or two, and a steady wall is knocked on every few minutes
    probe_patience_s: float = 60.0
    probe_backoff_max: float = 8.0
    #: the start was measured (a link check, the last call), not guessed: the first report
    #: does not bring it down to what the sender happens to send at first
    start_measured: bool = False
    #: no report for this long is an outage, not a report interval (Chromium reports every ~1 s
    #: with video, every ~5 s with audio alone)
    silence_ms: float = 8_000.0


class BandwidthEstimator:
    """Target send rate (bits/s, all media on the path) from receiver feedback."""

    def __init__(self, config: EstimatorConfig | None = None) -> None:
        self.config = config or EstimatorConfig()
        self._target = float(self.config.start_bps)
        self._trend = Trend.HOLD
        self._rtt_samples: deque[tuple[float, float]] = deque()  # (probe_ms, rtt_ms)
        self._last_rtt: tuple[float, float] | None = None
        self._srtt: float | None = None
        self._loss = 0.0
        self._lossy_reports = 0
        self._lossy_since_ms: float | None = None  # the first of the lossy reports in a row
        self._queued_reports = 0
        self._last_update_ms: float | None = None
        self._last_decrease_ms: float | None = None
        self._capacity: tuple[float, float] | None = None  # (bps, when) measured at congestion
        self._probe_backoff = 1.0
        self._rembs: deque[tuple[float, float]] = deque()  # (now_ms, bps)
        self._sent: deque[tuple[float, float]] = deque()  # (now_ms, sent_bps) as reported
        self._probe_ms = float("-inf")  # when the last probe from silence began
        self._may_rise = False  # the last report allowed an increase (whether or not a ceiling held it)
        self._probe_floor: tuple[float, float] | None = None  # (bps, when) a failed probe left

    @property
    def target_bps(self) -> int:
        return int(self._target)

    @property
    def trend(self) -> Trend:
        return self._trend

    @property
    def rtt_ms(self) -> float | None:
        """Smoothed round trip, None before the first sample."""
        return self._srtt

    @property
    def loss(self) -> float:
        """Smoothed fraction lost, 0..1."""
        return self._loss

    @property
    def queue_ms(self) -> float:
        """Latest estimate of the bottleneck queueing delay."""
        if self._last_rtt is None:
            return 0.0
        return self._last_rtt[1] - self._base_rtt()

    def silent_ms(self, now_ms: float) -> float:
        """How long since the last report (0 before the first: nothing was expected yet)."""
        return 0.0 if self._last_update_ms is None else now_ms - self._last_update_ms

    def on_remb(self, bitrate_bps: int, now_ms: float) -> None:
        """A receiver's estimated maximum bitrate (REMB)."""
        self._rembs.append((now_ms, float(bitrate_bps)))
        self._cap_by_remb(now_ms)

    def probe(self, bps: float, now_ms: float) -> None:
        """Raise the target to ``bps`` where nothing can measure the link (the controller sends no
        media to report on). The loss and queue that brought the target down are forgotten:
        nothing measured them since, and the probe's own reports will. Reports about the time
        before it (their sender report left before ``now_ms``) measured a silent sender: they
        give round-trip samples and nothing else."""
        self._target = min(float(self.config.max_bps), max(self._target, bps))
        self._loss = 0.0
        self._lossy_reports = self._queued_reports = 0
        self._lossy_since_ms = None
        self._probe_ms = now_ms
        self._trend = Trend.INCREASE

    def may_probe(self, bps: float, now_ms: float) -> bool:
        """Whether a sender that wants to know if ``bps`` fits should pad up to the target now
        (``probing``): the last report allowed an increase and is recent (padding into an
        outage only fills the queue the link comes back to), and either no congestion has been
        met yet, or the rate that met it is old enough for the probe schedule to allow ``bps``
        (below that, padding would only find the same wall again)."""
        if not self._may_rise or self.silent_ms(now_ms) > self.config.silence_ms / 2 + 2 * (self._srtt or 0.0):
            return False
        if self._capacity is None:
            return True
        wall, seen_ms = self._capacity
        return wall * (0.97 + (now_ms - seen_ms) / 1000 / (self.config.probe_patience_s * self._probe_backoff)) >= bps

    def on_report(self, report: ReceiverReport, sent_bps: float, now_ms: float, *, padding_bps: float = 0.0) -> int:
        """Feed one receiver report; ``sent_bps`` is what we sent lately (wire rate, all media).
        ``padding_bps`` (of that): the sender pads up to the target to probe; a queue that starts to
        grow in a single report then ends the probe (a congestion at the rate sent): padding stops
        at once, and on a long round trip the second report that confirms a queue comes a second
        too late to keep the vitals behind it within a few hundred milliseconds. The target then
        falls no lower than what was sent beside the padding, which the link carried before the
        probe (its own queue reads as far less capacity: a bgan-64 probe fell to stills).

        Returns the new target in bits/s.
        """
        cfg = self.config
        probing = padding_bps > 0
        if report.probe_ms is not None and report.probe_ms < self._probe_ms:
            self._add_rtt(report)
            return self.target_bps
        # Growth is per second, however sparse the reports (Chromium reports on audio every ~5 s,
        # the only stream on the stills rung); an outage's silence is not growth time.
        dt_s = 1.0 if self._last_update_ms is None else min(MAX_REPORT_GAP_S, max(0.0, now_ms - self._last_update_ms) / 1000)
        # (a silence the controller probed out of, on a rung without media, was no outage)
        first = self._last_update_ms is None
        outage = (self._last_update_ms is not None and self._probe_ms < self._last_update_ms
                  and self.silent_ms(now_ms) > cfg.silence_ms)
        self._last_update_ms = now_ms
        if outage:
            # The link is back after an outage: hold the target and count afresh from here.
            self._add_rtt(report)
            self._sent_at(report.probe_ms, sent_bps, now_ms)
            self._lossy_reports = self._queued_reports = 0
            self._lossy_since_ms = None
            self._trend, self._may_rise = Trend.HOLD, False
            return self.target_bps
        counted = report.fraction_lost is not None
        if report.fraction_lost is not None:
            self._loss = 0.7 * self._loss + 0.3 * min(1.0, max(0.0, report.fraction_lost))
        # a report that counted too few packets to tell leaves the loss as it was
        loss = min(1.0, max(0.0, report.fraction_lost)) if report.fraction_lost is not None else self._loss
        growth = self._add_rtt(report)
        rtt = self._srtt if self._srtt is not None else cfg.reference_rtt_ms
        self._may_rise = False

        threshold = self._queue_threshold()
        queue = self.queue_ms
        # A queue that grows, or stands high without draining, means we send faster than the link.
        standing = queue > 2 * threshold and growth > -0.02
        lossy = loss > cfg.loss_high
        if counted:
            self._lossy_reports = self._lossy_reports + 1 if lossy else 0
            if not lossy:
                self._lossy_since_ms = None
            elif self._lossy_since_ms is None:
                self._lossy_since_ms = now_ms
        # On a thin link one lost packet in a report of eight is 12 %: loss is congestion only when
        # it persists, in consecutive reports and in the smoothed figure.
        # And for a second at least: Starlink's handover (150 ms at 50 %) came in two reports a
        # few hundred milliseconds apart, and took a 3 Mbit/s link from vga30 to vga15.
        loss_congested = (self._lossy_reports >= 2 and self._loss > cfg.loss_high and self._lossy_since_ms is not None
                          and now_ms - self._lossy_since_ms >= cfg.loss_persist_ms)
        # A decision needs a round trip and a report interval to show in the feedback: after a
        # decrease, a report counts only if its probe left at least a second later (the queue
        # needs that long to start draining), or, with no probe, a round trip and a second later.
        last = self._last_decrease_ms
        if last is None:
            settled = True
        elif report.probe_ms is not None:
            settled = report.probe_ms > last + 1000
        else:
            settled = now_ms - last > rtt + 1000
        # What was sent either arrived, was dropped, or joined the queue (fluid model); the rate
        # that matters is the one we sent when the report's probe left.
        sent_then = self._sent_at(report.probe_ms, sent_bps, now_ms)
        capacity = sent_then * (1 - loss) / (1 + max(0.0, growth))
        growing = queue > threshold and growth > 0.05
        # A queue in one report may be a pause of either end's CPU (on a loaded host a report
        # handled late reads like one that queued); a queue that the next report confirms, or
        # that loses packets as it grows (a full drop-tail queue), is the link's.
        self._queued_reports = self._queued_reports + 1 if growing or standing else 0
        delay_congested = self._queued_reports >= 2 or (self._queued_reports == 1 and lossy) or (
            probing and queue > threshold / 2 and growth > 0.02)
        # Unsettled reports may still push further down when the queue keeps growing and they
        # show far less than the target: the capacity fell again (or much further than measured).
        # Not those about the time before the last decrease (their probe left before it): they
        # show the overshoot that decrease answered, and on a long round trip the queue it left
        # keeps growing in them for seconds (a failed probe to the next rung then cascaded to
        # vitals-only).
        after_decrease = last is None or report.probe_ms is None or report.probe_ms > last
        if (settled and (delay_congested or loss_congested)) or (
            after_decrease and growing and delay_congested and capacity * cfg.backoff < 0.8 * self._target
        ):
            drain = 0.92 if queue > 2 * threshold else 1.0
            floor = sent_bps - padding_bps if probing and not loss_congested else 0.0
            self._target = min(self._target, max(floor, capacity * cfg.backoff * drain))
            if floor:
                self._probe_floor = (floor, now_ms)
            self._remember_congestion(capacity, now_ms)
            self._last_decrease_ms = now_ms
            self._trend = Trend.DECREASE
        elif self._loss < cfg.loss_low and settled and queue < threshold / 2:
            self._may_rise = True
            rate = cfg.increase_per_s * min(1.0, cfg.reference_rtt_ms / max(rtt, 1.0))
            if probing:
                rate *= cfg.probe_slowdown
            # The target rises no further than a little above what is sent: an app-limited sender
            # learns nothing about the link above its own rate, and the rates beyond are found by
            # sending them (padding, see ``may_probe``). A target above what is sent is kept (an
            # encoder that sends less than its rung on a still scene says nothing against the
            # rung), unless far above it, or it is the start's guess: that comes down at once.
            lead = PROBE_LEAD * sent_bps + PROBE_LEAD_BPS
            self._target = min(self._target, lead if first and not cfg.start_measured else 2.5 * sent_bps + 64_000)
            ceiling = max(self._target, lead)
            if self._capacity is not None:
                wall, seen_ms = self._capacity
                if sent_then > 1.1 * wall:
                    # This report is about a time we sent well above the wall, and it shows no
                    # congestion: the link changed. Forget the wall and climb freely.
                    self._capacity = None
                    self._probe_backoff = 1.0
                else:
                    if self._target > 0.9 * wall:
                        rate *= 0.25
                    # Up to just below the wall the link was measured: no need to send it first.
                    # Going back above it is a probe: allowed a little more as time passes, more
                    # slowly after each probe that failed.
                    age_s = (now_ms - seen_ms) / 1000
                    ceiling = min(max(ceiling, 0.97 * wall),
                                  wall * (0.97 + age_s / (cfg.probe_patience_s * self._probe_backoff)))
            if self._target < ceiling:
                self._target = min(ceiling, self._target * (1 + rate * dt_s))
                self._trend = Trend.INCREASE
            else:
                self._trend = Trend.HOLD
        else:
            self._trend = Trend.HOLD
        self._cap_by_remb(now_ms)
        self._target = min(float(cfg.max_bps), max(float(cfg.min_bps), self._target))
        return self.target_bps

    def _sent_at(self, probe_ms: float | None, sent_bps: float, now_ms: float) -> float:
        self._sent.append((now_ms, sent_bps))
        while len(self._sent) > 2 and self._sent[1][0] < now_ms - 30_000:
            self._sent.popleft()
        if probe_ms is None:
            return sent_bps
        # the rate reported just after the probe left is the one the probe travelled with
        return next((bps for t, bps in self._sent if t >= probe_ms), sent_bps)

    def _remember_congestion(self, capacity: float, now_ms: float) -> None:
        if self._capacity is not None and 0.8 < capacity / max(self._capacity[0], 1.0) < 1.25:
            self._probe_backoff = min(self.config.probe_backoff_max, self._probe_backoff * 2)  # the same wall
        else:
            self._probe_backoff = 1.0
        self._capacity = (capacity, now_ms)

    def _add_rtt(self, report: ReceiverReport) -> float:
        """Record an RTT sample; return the queue growth in seconds per second (0 if unknown)."""
        if report.rtt_ms is None or report.probe_ms is None:
            return 0.0
        rtt, probe = report.rtt_ms, report.probe_ms
        self._srtt = rtt if self._srtt is None else 0.8 * self._srtt + 0.2 * rtt
        self._rtt_samples.append((probe, rtt))
        while self._rtt_samples and self._rtt_samples[0][0] < probe - self.config.base_rtt_window_ms:
            self._rtt_samples.popleft()
        growth = 0.0
        if self._last_rtt is not None and probe - self._last_rtt[0] > 100:
            growth = (rtt - self._last_rtt[1]) / (probe - self._last_rtt[0])
        if self._last_rtt is None or probe > self._last_rtt[0]:
            self._last_rtt = (probe, rtt)
        return growth

    def _base_rtt(self) -> float:
        return min((rtt for _, rtt in self._rtt_samples), default=0.0)

    def _queue_threshold(self) -> float:
        return self.config.queue_threshold_ms + self.config.queue_threshold_share * self._base_rtt()

    def _cap_by_remb(self, now_ms: float) -> None:
        hold = self.config.remb_hold_ms + 2 * (self._srtt or 0.0)
        while self._rembs and self._rembs[0][0] < now_ms - hold:
            self._rembs.popleft()
        # A receiver's delay estimate is only as good as its clock readings, which a loaded host
        # turns to noise (Chromium's fell to a fifth of a 64 kbit/s link our round trips showed
        # empty): a REMB bounds the target while our own round trips see a queue too.
        if self._rembs and self.queue_ms > self._queue_threshold():
            bound = max(bps for _, bps in self._rembs)
            # A failed probe's queue is the padding's, and it is gone: Chromium's REMB answered
            # it with a fraction of the little video it saw (9.7 kbit/s beside a 20 kbit/s rung:
            # bgan-64 went to stills for the rest of the call). The rate sent beside the padding
            # stands, as it does against our own reports.
            if self._probe_floor is not None and now_ms - self._probe_floor[1] < hold:
                bound = max(bound, self._probe_floor[0])
            self._target = min(self._target, bound)
