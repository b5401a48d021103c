"""A full-resolution still crosses an outage intact: files channel during the consult, then the record."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import aiohttp
import cv2
import numpy as np

from media.pattern import TestPatternTrack
from station.filechannel import WINDOW
from station.runtime import ConsultRequest, Station, StationSetup
from station.stills import StillStore
from tests.conftest import Server
from tests.signaling.test_websocket import specialist_session
from tests.specialist import SpecialistPeer

BLACKOUT_AFTER = 40_000  # bytes of the still that get through before the specialist's link dies


async def test_a_1080p_still_survives_a_dropped_connection_mid_transfer(server: Server, tmp_path: Path) -> None:
    station = Station(StationSetup(
        server=server.url, token=server.station_token,
        # One frame a second: encoding and decoding 1080p video is not what is tested here, and on
        # a busy machine it would starve the transfer.
        video=TestPatternTrack(size=(1920, 1080), fps=1), audio=None,
        request=ConsultRequest(priority="urgent", reason="wound", again_after_s=None),
        data_dir=tmp_path / "station",
    ))
    station_task = asyncio.create_task(station.run())
    try:
        async with SpecialistPeer(server.url, *server.specialist) as doctor:
            await doctor.join_first_waiting()
            await doctor.wait_for(lambda: "control" in doctor.channels
                                  and doctor.channels["control"].readyState == "open", timeout=60)
            doctor.files_blackout_after = BLACKOUT_AFTER
            await doctor.send_control({"type": "still_request"})
            await doctor.wait_for(lambda: any(len(b) >= BLACKOUT_AFTER for b in doctor.stills.partial.values()), timeout=60)
            [still_id] = doctor.stills.partial
            offer = doctor.stills.offers[still_id]
            assert offer["size"] > BLACKOUT_AFTER + WINDOW, "the still must still be mid-transfer at the blackout"
            assert still_id not in doctor.stills.files
            await doctor.reconnect()
            await doctor.wait_for(lambda: still_id in doctor.stills.files, timeout=60)

            data = doctor.stills.files[still_id]
            first, *after_outage = doctor.stills.resumed_from
            assert first == 0 and after_outage and min(after_outage) >= BLACKOUT_AFTER  # resumed, not restarted
            assert hashlib.sha256(data).hexdigest() == offer["sha256"]
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            assert image.shape[1] >= 1920 and image.shape[0] >= 1080
            assert station.stills is not None
            still = station.stills.get(still_id)
            assert still is not None
            await doctor.wait_for(lambda: still.shown, timeout=30)  # the receiver's "done" reached the station
            assert still.sent == still.size
            assert station.stills.data(still) == data
            assert still.consult == doctor.consult["id"]

            # After the consult the station uploads the still into the consult record.
            await doctor.ws.send_json({"type": "end", "consult": doctor.consult["id"]})
            await doctor.wait_for(lambda: still.recorded, timeout=60)
        async with await specialist_session(server) as session:
            async with session.get(f"{server.url}api/consults/{still.consult}/stills") as res:
                listed = await res.json()
            assert [s["id"] for s in listed] == [still_id]
            assert (listed[0]["width"], listed[0]["height"]) == (1920, 1080)
            async with session.get(f"{server.url}api/stills/{still_id}") as res:
                assert res.status == 200
                assert await res.read() == data
    finally:
        station_task.cancel()
        await asyncio.gather(station_task, return_exceptions=True)


async def test_stills_taken_offline_are_kept_and_uploaded_when_the_server_returns(
        server: Server, tmp_path: Path) -> None:
    """Stored first: a still taken while the server is unreachable survives a station restart."""
    setup = StationSetup(server="http://127.0.0.1:9/", token=server.station_token,
                         video=TestPatternTrack(size=(1920, 1080), fps=1), audio=None, request=None,
                         data_dir=tmp_path / "station")
    offline = Station(setup)
    still = await offline.take_still("staff")
    assert offline.stills is not None and [s.id for s in offline.stills.pending()] == [still.id]

    setup.server = server.url  # the station restarts, now with a reachable server
    station = Station(setup)
    assert station.stills is not None and [s.id for s in station.stills.pending()] == [still.id]
    task = asyncio.create_task(station.run())
    try:
        for _ in range(300):
            if not station.stills.pending():
                break
            await asyncio.sleep(0.1)
        assert not station.stills.pending()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {server.station_token}"}) as session:
        async with session.get(f"{server.url}api/stills/{still.id}") as res:
            assert res.status == 200
            assert hashlib.sha256(await res.read()).hexdigest() == still.sha256


async def test_a_still_of_an_earlier_consult_never_reaches_the_next_specialist(server: Server, tmp_path: Path) -> None:
    """Stills wait at the station until the record has them; one still pending from an earlier
    consult (another patient) is neither offered to this consult's specialist nor sent when asked
    for by id; this consult's own still is."""
    earlier = StillStore(tmp_path / "station" / "stills").add(
        b"\xff\xd8 another patient \xff\xd9", consult="0" * 32, by="staff", width=2, height=1)
    station = Station(StationSetup(
        server=server.url, token=server.station_token, video=TestPatternTrack(size=(320, 240), fps=5), audio=None,
        request=ConsultRequest(priority="routine", reason="rash", again_after_s=None), data_dir=tmp_path / "station",
    ))
    station_task = asyncio.create_task(station.run())
    try:
        async with SpecialistPeer(server.url, *server.specialist) as doctor:
            await doctor.join_first_waiting()
            await doctor.wait_for(lambda: "files" in doctor.channels
                                  and doctor.channels["files"].readyState == "open", timeout=60)
            # Ask for the earlier still by id, as a page that guessed it would, ready to take its bytes.
            doctor.stills.offers[earlier.id] = earlier.offer()
            doctor.stills.partial[earlier.id] = bytearray()
            doctor.channels["files"].send(json.dumps({"type": "resume", "id": earlier.id, "offset": 0}))
            await doctor.send_control({"type": "still_request"})
            await doctor.wait_for(lambda: len(doctor.stills.files) == 1, timeout=60)

            [(still_id, data)] = doctor.stills.files.items()
            assert station.stills is not None
            assert station.stills.get(still_id).consult == doctor.consult["id"]
            assert doctor.stills.resumed_from == [0]  # one offer: this consult's still
            assert earlier.id not in doctor.stills.files and not doctor.stills.partial[earlier.id]
    finally:
        station_task.cancel()
        await asyncio.gather(station_task, return_exceptions=True)
