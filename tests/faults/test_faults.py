"""Fault injection with real processes: ``farlink serve`` (SQLite in a data directory),
``farlink station --config FILE``, simulated devices on ptys in this process, and a Python
specialist (aiortc) in a live consult. Each fault is followed by two checks:

* the consult resumes: the same consult is live, the specialist decodes new video frames and
  receives new vitals (readings taken after the fault was repaired);
* no reading is lost or duplicated, counted at the device and in the server's consult record
  (``GET /api/consults/{id}``, whose readings carry the outbox key they were uploaded with).
  What that means differs by device (see :meth:`Rig.check_records`): for the cuff, every
  measurement it made; for the oximeter, every reading the station published.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devices.sim.serial_devices import ContecV7Simulator, VisomatSimulator
from station.outbox import ItemKind, ItemState, Outbox
from tests.netcut import NetnsLink, Unavailable
from tests.processes import ServerProcess, StationProcess, farlink_admin, wait_until, write_config
from tests.specialist import SpecialistPeer

DOCTOR = ("doctor", "correct horse battery")
#: the cuff measures this often: at most 10 records share a minute (its clock's resolution), fewer
#: than the shortest period of its values, so no two records are identical
CUFF_EVERY_S = 6.0
LINK_CUT_S = 60.0


@dataclass
class Rig:
    server: ServerProcess
    station: StationProcess
    cuff: VisomatSimulator
    oximeter: ContecV7Simulator
    doctor: SpecialistPeer
    consult: str
    station_dir: Path

    async def resumed(self, since: float, timeout: float = 90.0) -> float:
        """Wait until the consult is live again and the specialist decodes frames and receives
        readings taken after ``since``; returns how long that took from now."""
        start = time.monotonic()
        frames = self.doctor.frames
        await wait_until(lambda: self.doctor.frames >= frames + 10, timeout, "video frames after the fault")
        await wait_until(lambda: any(r["kind"] == "spo2" and r["time"] > since for r in self.doctor.readings),
                         timeout, "vitals taken after the fault")
        assert self.doctor.consult is not None and self.doctor.consult["id"] == self.consult
        record = await self.record()
        assert record["consult"]["state"] == "live", record["consult"]
        return time.monotonic() - start

    async def record(self) -> dict[str, Any]:
        async with self.doctor.session.get(f"{self.server.url}api/consults/{self.consult}") as res:
            assert res.status == 200, await res.text()
            return dict(await res.json())

    async def check_records(self) -> None:
        """Stop both devices, let the station catch up, then count.

        The cuff (Visomat): each measurement is a record in its memory, and it sends the whole
        memory after every measurement, so a record measured while the cuff was unplugged, the
        station dead or the server unreachable still reaches the station with the next one. Every record it
        made is three readings (systolic, diastolic, pulse); each must be in the server's record
        exactly once, with the key the station derives from its content.

        The oximeter (Contec V7) streams 60 packets a second and the station publishes a
        throttled subset (a change at once, else once a second); what arrived while nobody read
        the port was never a reading. So: every reading the station stored in its outbox for
        this consult is in the server's record exactly once, acknowledged, and the record holds
        no uploaded reading the outbox does not (the cuff's included).
        """
        # A record measured while nobody read the port reaches the station with the cuff's next
        # memory push (the pty's buffer does not survive the port being opened again): wait for
        # one, then stop the cuff while it waits, so the block it sent last holds every record.
        pushes = len(self.cuff.sent_values("systolic"))
        await wait_until(lambda: len(self.cuff.sent_values("systolic")) > pushes, 3 * CUFF_EVERY_S,
                         "the cuff's next memory push")
        await self.cuff.halt()
        await self.oximeter.halt()
        source = f"visomat-bp:{self.cuff.port}"
        made = [r.content_key() for record in self.cuff.records for r in record.readings(source)]
        assert len(made) == 3 * len(self.cuff.records) == 3 * len(set(self.cuff.records))
        outbox = Outbox(self.station_dir / "outbox.db")
        try:
            last: dict[str, Any] = {}

            async def settled() -> bool:
                uploaded = [r["key"] for r in (await self.record())["readings"] if "key" in r]
                stored = await outbox.items(consult=self.consult, kind=ItemKind.READING)
                last.update(uploaded=uploaded, stored=stored)
                return set(made) <= set(uploaded) and set(uploaded) == {item.key for item, _ in stored} \
                    and all(state is ItemState.ACKED for _, state in stored)
            try:
                await wait_until(settled, 60, "the station's outbox and the server's record to agree")
            finally:
                uploaded, stored = last.get("uploaded", []), last.get("stored", [])
                print(f"cuff: {len(self.cuff.records)} measurements; outbox: {len(stored)} readings "
                      f"({sum(state is ItemState.ACKED for _, state in stored)} acknowledged); "
                      f"record: {len(uploaded)} uploaded readings, {len(set(uploaded))} distinct; "
                      f"cuff readings missing from the record: {len(set(made) - set(uploaded))}")
        finally:
            outbox.close()
        assert len(uploaded) == len(set(uploaded)), "a reading is in the record twice"
        cuff_readings = [key for key in uploaded if key in set(made)]
        assert sorted(cuff_readings) == sorted(made)


@asynccontextmanager
async def live_consult(tmp_path: Path, netns: NetnsLink | None = None) -> AsyncIterator[Rig]:
    """A server and a station process, a cuff and an oximeter on ptys, a specialist in the
    consult seeing video and vitals. The cuff starts measuring once the consult is live."""
    data = tmp_path / "server"
    farlink_admin(data, "create-user", DOCTOR[0], "--role", "specialist", "--password", DOCTOR[1])
    token = farlink_admin(data, "create-station-token", "clinic-1")
    server = ServerProcess(data, tmp_path / "serve")
    cuff, oximeter = VisomatSimulator(interval_s=CUFF_EVERY_S), ContecV7Simulator()
    cuff.replug()
    await oximeter.start()
    station_url = server.url if netns is None else f"http://{netns.host_ip}:{server.port}/"
    config = write_config(tmp_path / "station.toml", station_url, token,
                          [("visomat-bp", cuff.port), ("contec-v7", oximeter.port)],
                          'profile = "lan"\n[request]\npriority = "urgent"\nreason = "fault drill"')
    station = StationProcess(config, tmp_path / "station", netns)
    try:
        await server.start_ready()
        station.start()
        await station.page_url()
        async with SpecialistPeer(server.url, *DOCTOR) as doctor:
            await doctor.join_first_waiting(timeout=60)
            await wait_until(lambda: doctor.consult is not None and doctor.frames >= 10, 60, "first video frames")
            assert doctor.consult is not None
            await cuff.start()
            await wait_until(lambda: any(r["kind"] == "systolic" for r in doctor.readings), 30, "the first cuff reading")
            yield Rig(server, station, cuff, oximeter, doctor, doctor.consult["id"], tmp_path / "station")
    finally:
        station.stop()
        server.stop()
        await cuff.stop()
        await oximeter.stop()


async def test_server_sigkill_mid_consult_and_restart(tmp_path: Path, tuned: None) -> None:
    async with live_consult(tmp_path) as rig:
        rig.server.kill()
        killed = time.time()
        await asyncio.sleep(CUFF_EVERY_S)  # the cuff measures while the server is down
        await rig.server.start_ready()
        await rig.doctor.reconnect()  # the page's socket died with the server: it comes back and rejoins
        took = await rig.resumed(since=killed)
        print(f"server SIGKILL: media and vitals back {took:.1f} s after the specialist rejoined")
        await rig.check_records()


@pytest.mark.timeout(300)
@pytest.mark.netns
async def test_link_cut_for_60_s(tmp_path: Path, tuned: None) -> None:
    try:
        link = NetnsLink.create("faults")
    except Unavailable as exc:
        pytest.skip(f"no network namespace to cut the station's link: {exc}")
    try:
        async with live_consult(tmp_path, link) as rig:
            link.cut()
            cut_at = time.time()
            await asyncio.sleep(LINK_CUT_S)
            link.restore()
            took = await rig.resumed(since=cut_at + LINK_CUT_S)
            print(f"link cut {LINK_CUT_S:.0f} s: media and vitals back {took:.1f} s after the link")
            await rig.check_records()
    finally:
        link.close()


async def test_station_sigkill_and_restart(tmp_path: Path, tuned: None) -> None:
    async with live_consult(tmp_path) as rig:
        rig.station.kill()
        killed = time.time()
        await asyncio.sleep(CUFF_EVERY_S)  # the cuff measures while nobody reads it
        rig.station.start()
        took = await rig.resumed(since=killed)
        print(f"station SIGKILL: media and vitals back {took:.1f} s after the restart")
        await rig.check_records()


async def test_cuff_unplugged_and_plugged_back(tmp_path: Path, tuned: None) -> None:
    async with live_consult(tmp_path) as rig:
        rig.cuff.unplug()
        unplugged = time.time()
        await wait_until(lambda: any(m.get("type") == "device" and m["source"].startswith("visomat-bp")
                                     and m["state"] == "disconnected" for m in rig.doctor.control),
                         30, "the specialist told the cuff is gone")
        await asyncio.sleep(CUFF_EVERY_S)  # it measures while unplugged: the record waits in its memory
        rig.cuff.replug()
        await wait_until(lambda: any(m.get("type") == "gap" and m["source"].startswith("visomat-bp")
                                     and m["end"] > unplugged for m in rig.doctor.control),
                         60, "the gap reported once the cuff is back")
        took = await rig.resumed(since=unplugged)
        print(f"cuff unplugged: consult carried on; new frames and vitals {took:.1f} s after the gap report")
        await rig.check_records()
