"""The benchmark's numbers, computed from synthetic recordings with known answers."""

from __future__ import annotations

from media.benchmetrics import freezes, percentile, summarise, table


def recording(fps: int, seconds: int, gap: tuple[int, int] | None = None) -> dict:
    frames = []
    for i in range(fps * seconds):
        t = 1_000_000 + i * 1000 // fps
        if gap and gap[0] <= t - 1_000_000 < gap[1]:
            continue
        frames.append([t, 640, 480, 100 + i % 10])
    stats = [{"t": 1_000_000 + s * 1000, "state": "connected",
              "video": {"bytes": s * 50_000}, "audio": {"bytes": s * 2_000}} for s in range(seconds + 1)]
    vitals = [[1_000_000 + s * 200, 1_000_000 + s * 200 - 150] for s in range(seconds * 5)]
    link = [[1_002_000, {"rung": "qvga10"}], [1_009_000, {"rung": "vga30"}]]
    return {"frames": frames, "vitals": vitals, "stats": stats, "link": link}


def test_steady_stream() -> None:
    probe = recording(fps=30, seconds=70)
    counters = {"up": {"rtp_video": {"bytes": 3_500_000, "packets": 4000, "dropped": 3},
                       "rtx": {"bytes": 70_000, "packets": 60, "dropped": 1}},
                "down": {"audio": {"bytes": 350_000, "packets": 3500, "dropped": 0}}}
    r = summarise("lan", "farlink", probe, counters, 1_000_000, 1_070_000, None)
    assert r.survived
    assert 29 <= r.fps <= 30.1
    assert (r.width, r.height) == (640, 480)
    assert r.video_kbps == 400.0 and r.audio_kbps == 16.0
    assert r.freezes_per_min == 0 and r.longest_freeze_s == 0
    assert r.p95_frame_delay_ms == 109
    assert r.vitals_p99_ms == 150
    assert r.retransmit_kbps == 8.0
    assert r.down_on_air_kbps == {"audio": 40.0}
    assert r.bottleneck_drops == 4
    assert r.recovery_s is None
    assert r.rung == "vga30"
    assert "| lan | farlink | True | vga30 |" in table([r])


def test_gap_counts_as_freeze_and_recovery() -> None:
    probe = recording(fps=10, seconds=60, gap=(30_000, 42_500))
    r = summarise("certus-outage", "farlink", probe, {}, 1_000_000, 1_060_000, 1_040_000)
    assert r.freezes_per_min == 1.2
    assert 12.4 <= r.longest_freeze_s <= 12.7
    assert r.recovery_s is not None and 2.4 <= r.recovery_s <= 2.7


def test_dead_session_is_not_survived() -> None:
    probe = recording(fps=10, seconds=30)
    probe["stats"][-1]["state"] = "failed"
    r = summarise("bgan-64", "stock", probe, {}, 1_000_000, 1_060_000, None)
    assert not r.survived
    assert r.longest_freeze_s >= 29


def test_helpers() -> None:
    assert percentile([], 95) is None
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50) in (5.0, 6.0)
    assert freezes([100, 200, 900], 0, 1000) == [0.7]


CONTRACT = {"profile", "variant", "seconds", "survived", "video_kbps", "width", "height", "fps",
            "p95_frame_delay_ms", "freezes_per_min", "longest_freeze_s", "audio_kbps", "vitals_p99_ms",
            "retransmit_kbps", "bottleneck_drops", "recovery_s"}


def test_json_carries_the_issue_contract_and_on_air_includes_losses() -> None:
    counters = {"up": {"rtx": {"bytes": 60_000, "lost_bytes": 15_000, "packets": 50, "dropped": 0}}}
    r = summarise("bgan-64", "stock", recording(fps=10, seconds=60), counters, 1_000_000, 1_060_000, None)
    assert CONTRACT <= r.to_json().keys()
    assert r.retransmit_kbps == 10.0  # 75 kB crossed the bottleneck in 60 s, 15 kB of it lost after


def test_a_run_that_never_started_is_a_row_not_a_crash() -> None:
    empty = {"frames": [], "vitals": [], "stats": []}
    r = summarise("bgan-field", "stock", empty, {}, 1_000_000, 1_060_000, 1_040_000)
    assert not r.survived and r.fps == 0 and r.p95_frame_delay_ms is None and r.recovery_s is None
    assert "| bgan-field | stock | False |" in table([r])


def test_a_new_connection_after_an_outage_counts_from_zero() -> None:
    probe = recording(fps=10, seconds=60)
    for sample in probe["stats"][31:]:  # a fresh peer connection at 31 s: its counters restart
        sample["video"]["bytes"] -= 30 * 50_000
        sample["audio"]["bytes"] -= 30 * 2_000
    r = summarise("certus-outage", "farlink", probe, {}, 1_000_000, 1_060_000, None)
    assert r.video_kbps == 400.0 and r.audio_kbps == 16.0


def test_a_misread_timecode_is_no_delay() -> None:
    probe = recording(fps=1, seconds=60)
    # six frames in a minute (a thin link), one of them garbage that passed the checksum
    delays = [800, 900, 950, 1000, 1100, 1200, 898_216_348]
    probe["frames"] = [[1_000_000 + k * 9_000, 320, 240, d] for k, d in enumerate(delays)]
    r = summarise("bgan-64", "stock", probe, {}, 1_000_000, 1_060_000, None)
    assert r.p95_frame_delay_ms == 1200
