"""End to end: a live consult, the station's path to the server cut, the station restarted while
cut, the path back: the server's consult record then holds exactly what the station's outbox
holds for that consult (same keys, each once), and the specialist was sent the readings taken
while the link was down."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from devices.catalog import open_source, start_simulator
from station.outbox import ItemKind, ItemState, Outbox
from station.runtime import ConsultRequest, Station, StationSetup
from tests.conftest import Server
from tests.cutproxy import CutProxy
from tests.signaling.test_websocket import specialist_session
from tests.specialist import SpecialistPeer
from tests.station.test_local_page import poll


async def record_of(server: Server, consult: str) -> dict[str, Any]:
    async with await specialist_session(server) as session:
        async with session.get(f"{server.url}api/consults/{consult}") as res:
            assert res.status == 200
            return dict(await res.json())


async def test_after_an_outage_and_a_restart_the_record_equals_the_outbox(server: Server, tmp_path: Path) -> None:
    oximeter = await start_simulator("contec-v7")
    cuff = await start_simulator("visomat-bp", interval_s=2.0)
    proxy = CutProxy(server.url)
    setup = StationSetup(
        server=await proxy.start(), token=server.station_token, video=None, audio=None,
        sources=[open_source("contec-v7", oximeter.port), open_source("visomat-bp", cuff.port)],
        request=ConsultRequest(priority="urgent", reason="fever", again_after_s=None), data_dir=tmp_path / "station")
    station = Station(setup)
    task = asyncio.create_task(station.run())
    try:
        async with SpecialistPeer(server.url, *server.specialist) as doctor:
            await doctor.join_first_waiting()
            await doctor.wait_for(lambda: doctor.consult is not None and "control" in doctor.channels
                                  and doctor.channels["control"].readyState == "open", timeout=60)
            assert doctor.consult is not None
            consult = doctor.consult["id"]

            async def uploading() -> bool:
                return any("key" in r for r in (await record_of(server, consult))["readings"])
            await poll(uploading, timeout=60)
            await doctor.send_chat("Is the patient awake?")
            await poll(lambda: any(c["text"] == "Is the patient awake?" for c in station.chat_log))

            proxy.cut()
            cut_at = time.time()
            await station.send_chat("Yes, and talking.")
            await station.add_note("Nurse: gave paracetamol 1 g")
            await doctor.send_chat("Repeat the blood pressure please.")  # peer to peer: the link is up
            assert station.outbox is not None
            backlog = station.outbox.backlog.count
            await poll(lambda: station.outbox is not None and station.outbox.backlog.count >= backlog + 6, timeout=30)

            # The station restarts while its path is still cut: it does not know its consult from the
            # server, but its outbox does, and the readings it takes now still belong to the consult.
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            station = Station(setup)
            task = asyncio.create_task(station.run())
            assert station.outbox is not None and station.outbox.consult == consult
            backlog = station.outbox.backlog.count
            await poll(lambda: station.outbox is not None and station.outbox.backlog.count >= backlog + 4, timeout=30)

            proxy.restore()
            restored_at = time.time()
            await oximeter.stop()
            await cuff.stop()
            await poll(lambda: station.outbox is not None and station.outbox.backlog.count == 0, timeout=90)
            record = await record_of(server, consult)
            # The specialist's page was sent what happened during the outage (its chart backfills).
            assert any(cut_at <= r["time"] <= restored_at for r in doctor.pushed)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await proxy.close()
        await oximeter.stop()
        await cuff.stop()

    outbox = Outbox(tmp_path / "station" / "outbox.db")
    held = await outbox.items(consult=consult)
    outbox.close()
    assert {state for _, state in held} == {ItemState.ACKED}
    keys = {kind: sorted(item.key for item, _ in held if item.kind is kind) for kind in ItemKind}
    assert sorted(r["key"] for r in record["readings"] if "key" in r) == keys[ItemKind.READING]
    assert sorted(c["key"] for c in record["chat"]) == keys[ItemKind.CHAT]
    assert sorted(n["key"] for n in record["notes"]) == keys[ItemKind.NOTE]
    assert [c["text"] for c in record["chat"]] == [
        "Is the patient awake?", "Yes, and talking.", "Repeat the blood pressure please."]
    assert [(n["from"], n["text"]) for n in record["notes"]] == [("clinic-1", "Nurse: gave paracetamol 1 g")]
    during = [r for r in record["readings"] if cut_at <= r["time"] <= restored_at]
    assert {"spo2", "pulse_rate"} <= {r["kind"] for r in during}
    # Every reading the devices sent during the consult is in the record (the cuff's by value).
    assert set(cuff.sent_values("systolic")) >= {r["value"] for r in record["readings"] if r["kind"] == "systolic"}
    assert len(keys[ItemKind.READING]) > 20
