"""End to end: server + station (simulated devices) + a Python specialist peer through the real server."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiortc.codecs.vpx import Vp8Encoder

from devices.catalog import open_source, start_simulator
from media import tuning
from media.encoders import TunedVp8Encoder
from media.jitter import DeadlineJitterBuffer
from media.pattern import TestPatternTrack, ToneTrack
from media.rungtrack import RungTrack
from station.peer import MediaMode
from station.runtime import ConsultRequest, Station, StationSetup
from tests.conftest import Server
from tests.specialist import SpecialistPeer


@pytest.fixture
async def simulators():
    sims = [await start_simulator("contec-v7"), await start_simulator("visomat-bp", interval_s=2.0)]
    yield sims
    for sim in sims:
        await sim.stop()


async def test_live_consult_delivers_video_vitals_audio_and_chat(server: Server, simulators, tuned: None) -> None:
    oximeter, cuff = simulators
    setup = StationSetup(
        server=server.url, token=server.station_token,
        video=TestPatternTrack(size=(320, 240), fps=15), audio=ToneTrack(),
        sources=[open_source("contec-v7", oximeter.port), open_source("visomat-bp", cuff.port)],
        request=ConsultRequest(priority="urgent", reason="fever", again_after_s=None),
    )
    station = Station(setup)
    station_task = asyncio.create_task(station.run())
    try:
        async with SpecialistPeer(server.url, *server.specialist) as doctor:
            await doctor.join_first_waiting()
            # Video: frames decoded on the specialist side, carrying the station's capture clock.
            await doctor.wait_for(lambda: doctor.frames >= 20, timeout=30)
            assert doctor.frame_times, "no frame carried a readable capture timecode"
            now_ms = int(time.time() * 1000) % 2**32
            assert abs(now_ms - doctor.frame_times[-1]) < 10_000
            # Vitals: the simulated values arrive, with units.
            kinds = lambda: {r["kind"] for r in doctor.readings}
            await doctor.wait_for(lambda: {"spo2", "pulse_rate", "systolic", "diastolic"} <= kinds(), timeout=30)
            spo2 = [r["value"] for r in doctor.readings if r["kind"] == "spo2"]
            assert set(spo2) <= set(oximeter.sent_values("spo2"))
            assert all(r["unit"] == "%" for r in doctor.readings if r["kind"] == "spo2")
            systolic = [r["value"] for r in doctor.readings if r["kind"] == "systolic"]
            assert set(systolic) <= set(cuff.sent_values("systolic"))
            assert {r["unit"] for r in doctor.readings if r["kind"] == "systolic"} == {"mm[Hg]"}
            # Chat both ways.
            await doctor.wait_for(lambda: "control" in doctor.channels
                                  and doctor.channels["control"].readyState == "open")
            await doctor.send_chat("Please retake the blood pressure")
            await doctor.wait_for(lambda: any(m["text"] == "Please retake the blood pressure" for m in station.chat_log))
            await station.send_chat("Retaking now")
            await doctor.wait_for(lambda: any(m.get("text") == "Retaking now" for m in doctor.control))
            # The station hears the specialist.
            await doctor.wait_for(lambda: any(p.audio_frames_received > 10 for p in station.peers.values()))
            # Farlink media: the link adapts, tells the specialist, and the receiver has a deadline.
            (peer,) = station.peers.values()
            assert peer.controller is not None
            video_sender = next(s for s in peer.pc.getSenders() if s.kind == "video")
            assert isinstance(video_sender.track, RungTrack) and video_sender.track.rung == peer.controller.rung
            await doctor.wait_for(lambda: any(m.get("type") == "link" for m in doctor.control))
            link = next(m for m in doctor.control if m.get("type") == "link")
            assert link["rung"] in [r.name for r in peer.controller.ladder.rungs]
            await doctor.wait_for(lambda: peer.controller.status()["rtt_ms"] is not None)
            assert isinstance(doctor.video_jitter_buffer(), DeadlineJitterBuffer)
    finally:
        station_task.cancel()
        await asyncio.gather(station_task, return_exceptions=True)


async def test_stock_media_leaves_aiortc_as_it_ships(server: Server) -> None:
    """``--media stock``: no controller, no rung track, aiortc's own encoder (for benchmarks)."""
    assert not tuning.applied()
    station = Station(StationSetup(
        server=server.url, token=server.station_token,
        video=TestPatternTrack(size=(320, 240), fps=15), audio=ToneTrack(),
        request=ConsultRequest(reason="compare", again_after_s=None), media=MediaMode.STOCK,
    ))
    station_task = asyncio.create_task(station.run())
    try:
        async with SpecialistPeer(server.url, *server.specialist) as doctor:
            await doctor.join_first_waiting()
            await doctor.wait_for(lambda: doctor.frames >= 10, timeout=30)
            (peer,) = station.peers.values()
            assert peer.controller is None
            video_sender = next(s for s in peer.pc.getSenders() if s.kind == "video")
            assert not isinstance(video_sender.track, RungTrack)
            encoder = tuning.encoder_of(video_sender)
            assert isinstance(encoder, Vp8Encoder) and not isinstance(encoder, TunedVp8Encoder)
            ice = video_sender.transport.transport.iceGatherer._connection  # aioice underneath
            assert ice.stun_server is None and ice.turn_server is None  # the server names none
    finally:
        station_task.cancel()
        await asyncio.gather(station_task, return_exceptions=True)
