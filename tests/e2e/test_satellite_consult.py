"""A short consult over the emulated bgan-64 link (64 kbit/s each way, 900 ms round trip, 1 % loss).

The real ``farlink serve`` runs on the far side of the link and a real ``farlink station``
(simulated oximeter, test pattern, tone) on the near side, as processes started by
``media.benchmark.consult_rig``; the specialist is the Python aiortc peer of ``tests/specialist.py``,
run in a thread inside the far side's namespace. Needs root, TUN and network namespaces.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from media.benchmark import consult_rig
from media.ladder import RUNGS
from media.linkemu import unavailable_reason
from media.links import get_profile
from tests.specialist import SpecialistPeer

REASON = unavailable_reason()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

CONSULT_S = 45.0  # measured after the first decoded frame
RECENT_S = 15.0  # "still alive": vitals within this long of the end...
#: ...and frames: the documented dip to vitals-only (see below) lasts 10 s before the station
#: probes stills again, whose frames come every 10 s (a CI run ended 17 s after its last still)
VIDEO_RECENT_S = 25.0


@dataclass
class Outcome:
    doctor: SpecialistPeer
    state: str  # the specialist's peer connection at the end
    ended_at: float  # wall clock, seconds


async def _consult(url: str, user: str, password: str) -> Outcome:
    async with SpecialistPeer(url, user, password) as doctor:
        # Over 900 ms round trips the waiting room, the offer and ICE take several seconds.
        await doctor.join_first_waiting(timeout=90)
        await doctor.wait_for(lambda: doctor.frames > 0, timeout=90)
        await asyncio.sleep(CONSULT_S)
        assert doctor.pc is not None
        return Outcome(doctor, doctor.pc.connectionState, time.time())


def test_a_consult_survives_bgan64_with_vitals_and_small_video(tmp_path: Path, tuned: None) -> None:
    outcome: dict[str, Outcome | BaseException] = {}
    with consult_rig(get_profile("bgan-64"), tmp_path) as rig:

        def specialist() -> None:
            with rig.link.inside("b"):
                try:
                    outcome["ok"] = asyncio.run(_consult(rig.url, rig.user, rig.password))
                except BaseException as exc:  # reported below, with the logs' place
                    outcome["error"] = exc

        thread = threading.Thread(target=specialist, name="specialist")
        thread.start()
        thread.join(timeout=CONSULT_S + 240)
        station_alive = rig.station.poll() is None
        counters = rig.link.stats()
    assert not thread.is_alive(), f"the specialist hung; logs in {tmp_path}"
    assert "error" not in outcome, f"{outcome.get('error')!r}; logs in {tmp_path}"
    result = outcome["ok"]
    assert isinstance(result, Outcome)
    doctor = result.doctor
    end_ms = int(result.ended_at * 1000) % 2**32  # the clock of the capture timecode

    # The session survived the whole consult (aioice's stock consent check would close it at ~30 s).
    assert station_alive, f"the station process ended; see {tmp_path}/station.log"
    assert result.state == "connected"

    # Vitals arrived, and kept arriving until the end.
    assert {"spo2", "pulse_rate"} <= {r["kind"] for r in doctor.readings}
    assert result.ended_at - max(r["time"] for r in doctor.readings) < RECENT_S, "vitals stopped"

    # Video: decoded frames at a QVGA rung (the link cannot carry VGA), still coming at the end.
    assert doctor.frames >= 10, f"only {doctor.frames} frames decoded over {CONSULT_S} s"
    assert set(doctor.frame_sizes[-5:]) == {(320, 240)}, doctor.frame_sizes[-5:]
    assert any(end_ms - stamp < VIDEO_RECENT_S * 1000 for stamp in doctor.frame_times[-5:]), "video stopped"
    # The station told the specialist which rung it chose: a QVGA one. (qvga6, motion, is the
    # target on this link; on a loaded host the station often settles on stills, a miss the
    # benchmark table shows: docs/benchmarks.md. With the specialist decoding in this process
    # on two cores, its late receiver reports read as a queue and have taken the station on to
    # vitals-only near the end, probing back 10 s later: the video checks above hold either way.)
    rungs = [m["rung"] for m in doctor.control if m.get("type") == "link"]
    assert rungs, "no link status on the control channel"
    with_video = [name for name in rungs if name != "vitals"]
    assert with_video and with_video[-1] in {r.name for r in RUNGS if r.width == 320}, rungs

    # It all crossed the emulated bottleneck (not some path around it).
    up = counters["up"]
    assert up["video"]["packets"] > 0 and up["audio"]["packets"] > 0 and up["data"]["packets"] > 0
