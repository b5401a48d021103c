"""Pauses in a relayed consult's video: ``python bench/relay_switch.py [--runs 3]``.

The switch-over: when a second viewer enters, the hub starts the relay and tells the station to
stream to it instead of to the first viewer, whose peer-to-peer link the station closes; the relay
then offers that viewer a fresh link. Measured: the longest pause in the first viewer's decoded
frames around the switch, and the second viewer's wait from entering to its first frame.

The station's comeback: the station process is stopped and started again (a crash, a power cut
of the clinic PC) while the relay serves both viewers. Measured: each viewer's longest pause, and
the part of it after the station was back on signaling (its ``peer_joined``): its offer to the
relay and the relay's switch to the new source, the rest being the station's own start-up.

Setup as ``bench/relay_cpu.py``: ``farlink serve`` and ``farlink station`` as processes on
loopback, Python specialist peers in this process. Prints a table, saves
``bench/results/relay_switch.{md,json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.relay_cpu import farlink_processes  # noqa: E402
from tests.specialist import SpecialistPeer  # noqa: E402

WARMUP_S = 10.0
SETTLE_S = 10.0  # how long frames are watched after each event


def longest_pause(peer: SpecialistPeer, since: float) -> float:
    """The longest interval between decoded frames from ``since`` on (now counts as a frame, so a
    pause still running is not hidden)."""
    times = [t for t in peer.frame_arrivals if t >= since] + [time.monotonic()]
    return max(b - a for a, b in zip(times, times[1:]))


async def frames_after(peer: SpecialistPeer, moment: float, timeout: float = 120.0) -> float:
    """Wait for the first frame ``peer`` decodes after ``moment``; its arrival time."""
    await peer.wait_for(lambda: peer.frame_arrivals and peer.frame_arrivals[-1] > moment, timeout)
    return next(t for t in peer.frame_arrivals if t > moment)


async def run(station_media: str) -> dict[str, float]:
    async with farlink_processes(2, station_media) as procs, \
            SpecialistPeer(procs.url, *procs.users[0]) as first, SpecialistPeer(procs.url, *procs.users[1]) as second:
        consult = await first.join_first_waiting(timeout=60)
        await first.wait_for(lambda: first.consult is not None, timeout=30)
        await asyncio.sleep(WARMUP_S)
        usual = statistics.median(b - a for a, b in zip(first.frame_arrivals[-50:], first.frame_arrivals[-49:]))
        await first.invite(second.name)
        await second.wait_for(lambda: second.invitations, timeout=30)
        entered = time.monotonic()
        await second.enter(consult["id"])
        second_first = await frames_after(second, entered)
        await first.wait_for(lambda: len(first.offers_from) >= 2, timeout=60)  # the relay's offer
        await frames_after(first, time.monotonic())
        await asyncio.sleep(SETTLE_S)
        switch_pause = longest_pause(first, entered - 1.0)

        stopped = time.monotonic()
        procs.stop_station()
        procs.start_station()
        await first.wait_for(lambda: any(m["type"] == "peer_joined" and m["peer"]["role"] == "station"
                                         for m in first.presence), timeout=120)
        rejoined = time.monotonic()
        back = [await frames_after(peer, rejoined) for peer in (first, second)]
        await asyncio.sleep(SETTLE_S)
        restart_pause = max(longest_pause(peer, stopped - 1.0) for peer in (first, second))
    return {
        "usual_interval_s": round(usual, 3),
        "switch_pause_s": round(switch_pause, 2),
        "second_viewer_first_frame_s": round(second_first - entered, 2),
        "restart_pause_s": round(restart_pause, 2),
        "after_rejoin_s": round(max(back) - rejoined, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--station-media", choices=["stock", "farlink"], default="stock")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    rows = [asyncio.run(run(args.station_media)) for _ in range(args.runs)]
    lines = ["| run | usual frame interval s | switch-over: first viewer's pause s | second viewer's first frame s "
             "| station restart: viewers' pause s | of which after its rejoin s |", "|---|---|---|---|---|---|"]
    lines += [f"| {i} | {r['usual_interval_s']} | {r['switch_pause_s']} | {r['second_viewer_first_frame_s']} "
              f"| {r['restart_pause_s']} | {r['after_rejoin_s']} |" for i, r in enumerate(rows, 1)]
    lines.append(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "relay_switch.md").write_text(text + "\n")
    (args.out / "relay_switch.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
