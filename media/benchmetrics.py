"""Turn what the benchmark's browser probe and link emulator recorded into the result row.

Pure functions over plain data, so the numbers can be checked on synthetic recordings.
Probe data (see ``web/probe.js``): ``frames`` = [recv_ms, width, height, delay_ms | None] per
decoded frame; ``vitals`` = [recv_ms, sent_ms] per vitals message; ``stats`` = one sample a
second with cumulative inbound ``video``/``audio`` bytes and the connection state; ``link`` =
[recv_ms, status] per link status message of the station (its rung and estimate).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from statistics import fmean
from typing import Any

FREEZE_MS = 500
WARMUP_S = 10.0
#: a frame delay beyond this is a timecode read wrong (its 8-bit checksum lets one garbled
#: picture in 256 through), not a frame that took minutes
MAX_DELAY_MS = 120_000


@dataclass
class Result:
    profile: str
    variant: str
    seconds: float
    survived: bool
    video_kbps: float
    width: int
    height: int
    fps: float
    p95_frame_delay_ms: float | None
    freezes_per_min: float
    longest_freeze_s: float
    audio_kbps: float
    vitals_p99_ms: float | None
    retransmit_kbps: float
    bottleneck_drops: int
    recovery_s: float | None
    on_air_kbps: dict[str, float]  # the uplink (station -> specialist), by traffic class
    down_on_air_kbps: dict[str, float] = field(default_factory=dict)  # the downlink, by class
    rung: str | None = None  # the station's rung at the end, from its last link status message
    #: the station's parity packets (media.fec; inside "video": the emulator cannot tell them
    #: apart, the RED block header is encrypted), the mean of its link status messages
    parity_kbps: float = 0.0
    load_avg: list[float] = field(default_factory=list)  # 1-minute load average before and after the run

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "padding_kbps": self.on_air_kbps.get("padding", 0.0),
                "uplink_kbps": round(sum(self.on_air_kbps.values()), 1)}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return float(ordered[index])


def freezes(frame_ms: list[int], start_ms: int, end_ms: int) -> list[float]:
    """Gaps longer than FREEZE_MS between start, consecutive frames and end, in seconds."""
    points = [start_ms] + [t for t in frame_ms if start_ms <= t <= end_ms] + [end_ms]
    return [(b - a) / 1000 for a, b in zip(points, points[1:]) if b - a > FREEZE_MS]


def kbps(samples: list[dict[str, Any]], kind: str, start_ms: int, end_ms: int) -> float:
    """Mean received rate over the window. The byte counts are cumulative per peer connection:
    one that falls is a new connection (after an outage), counting again from zero."""
    window = [s for s in samples if start_ms <= s["t"] <= end_ms and kind in s]
    if len(window) < 2:
        return 0.0
    seconds = (window[-1]["t"] - window[0]["t"]) / 1000
    received = 0
    for a, b in zip(window, window[1:]):
        before, after = a[kind]["bytes"], b[kind]["bytes"]
        received += after - before if after >= before else after
    return received * 8 / 1000 / seconds if seconds > 0 else 0.0


def recovery(frame_ms: list[int], outage_end_ms: int) -> float | None:
    after = [t for t in frame_ms if t >= outage_end_ms]
    return (after[0] - outage_end_ms) / 1000 if after else None


def summarise(
    profile: str,
    variant: str,
    probe: dict[str, Any],
    link_counters: dict[str, dict[str, dict[str, int]]],
    joined_ms: int,
    end_ms: int,
    outage_end_ms: int | None,
) -> Result:
    """``link_counters``: direction -> traffic class -> {"bytes", "packets", "dropped"}."""
    frames = probe["frames"]
    start_ms = joined_ms + int(WARMUP_S * 1000)
    window = [f for f in frames if start_ms <= f[0] <= end_ms]
    frame_times = [f[0] for f in frames]
    seconds = max(0.001, (end_ms - start_ms) / 1000)
    gaps = freezes(frame_times, start_ms, end_ms)
    delays = [float(f[3]) for f in window if f[3] is not None and f[3] <= MAX_DELAY_MS]
    sizes = sorted((f[1] * f[2], f[1], f[2]) for f in window)
    _, width, height = sizes[len(sizes) // 2] if sizes else (0, 0, 0)
    vitals = [float(r - s) for r, s in probe["vitals"] if r >= start_ms]
    stats = probe["stats"]
    last_state = stats[-1]["state"] if stats else "new"
    recent = end_ms - 15_000
    alive = last_state == "connected" and (
        any(t >= recent for t in frame_times) or any(r >= recent for r, _ in probe["vitals"])
    )
    total_s = max(0.001, (end_ms - joined_ms) / 1000)

    def on_air_of(direction: str) -> dict[str, float]:
        """What crossed the bottleneck, delivered or lost after it, by traffic class."""
        return {cls: round((c["bytes"] + c.get("lost_bytes", 0)) * 8 / 1000 / total_s, 1)
                for cls, c in sorted(link_counters.get(direction, {}).items())}

    on_air = on_air_of("up")
    return Result(
        profile=profile,
        variant=variant,
        seconds=round((end_ms - joined_ms) / 1000, 1),
        survived=alive,
        video_kbps=round(kbps(stats, "video", start_ms, end_ms), 1),
        width=width,
        height=height,
        fps=round(len(window) / seconds, 1),
        p95_frame_delay_ms=percentile(delays, 95),
        freezes_per_min=round(len(gaps) / seconds * 60, 1),
        longest_freeze_s=round(max(gaps, default=0.0), 2),
        audio_kbps=round(kbps(stats, "audio", start_ms, end_ms), 1),
        vitals_p99_ms=percentile(vitals, 99),
        retransmit_kbps=on_air.get("rtx", 0.0),
        bottleneck_drops=sum(c.get("dropped", 0) for d in link_counters.values() for c in d.values()),
        recovery_s=None if outage_end_ms is None else recovery(frame_times, outage_end_ms),
        on_air_kbps=on_air,
        down_on_air_kbps=on_air_of("down"),
        rung=next((status["rung"] for t, status in reversed(probe.get("link", [])) if t <= end_ms), None),
        parity_kbps=round(fmean([s.get("parity_kbps", 0.0) for t, s in probe.get("link", []) if start_ms <= t <= end_ms] or [0.0]), 1),
    )


COLUMNS = [
    ("variant", "variant"), ("survived", "alive"), ("rung", "rung"), ("video_kbps", "video kb/s"), ("width", "w"), ("height", "h"),
    ("fps", "fps"), ("p95_frame_delay_ms", "p95 delay ms"), ("freezes_per_min", "freezes/min"),
    ("longest_freeze_s", "longest s"), ("audio_kbps", "audio kb/s"), ("vitals_p99_ms", "vitals p99 ms"),
    ("retransmit_kbps", "rtx kb/s"), ("parity_kbps", "fec kb/s"), ("padding_kbps", "pad kb/s"), ("uplink_kbps", "up kb/s"),
    ("bottleneck_drops", "drops"), ("recovery_s", "recovery s"),
]


def table(results: list[Result]) -> str:
    """A Markdown table, one row per run, grouped by profile."""
    head = "| profile | " + " | ".join(label for _, label in COLUMNS) + " |"
    rule = "|" + "---|" * (len(COLUMNS) + 1)
    rows = []
    for r in results:
        data = r.to_json()
        cells = ["-" if data[key] is None else str(data[key]) for key, _ in COLUMNS]
        rows.append(f"| {r.profile} | " + " | ".join(cells) + " |")
    return "\n".join([head, rule, *rows])
