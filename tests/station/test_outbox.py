"""The station outbox on a real SQLite file: restarts, SIGKILL, keys, acknowledgement; and a real
Visomat simulator re-sending its memory to a restarted station."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import select

from devices.catalog import open_source, start_simulator
from devices.reading import Kind, Reading
from station.outbox import ItemKind, ItemState, Outbox, reading_item, text_item
from signaling.app import store_key
from signaling.station_records import station_records
from station.outbox_upload import OutboxUploader
from station.runtime import Station, StationSetup
from tests.conftest import Server
from tests.station.test_local_page import poll

UNREACHABLE = "http://127.0.0.1:9/"


def spo2(at: float, value: float = 97.0, source: str = "contec-v7:/dev/sim") -> Reading:
    return Reading(Kind.SPO2, value, "%", at, source)


async def test_restart_keeps_unacked_items_and_acked_ones_are_not_pending(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = Outbox(path)
    readings = [reading_item(spo2(1_700_000_000 + i), "consult-1") for i in range(5)]
    note = text_item(ItemKind.NOTE, None, {"text": "patient arrived", "time": 1_700_000_010.0})
    assert await outbox.add([*readings, note]) == 6
    await outbox.ack([readings[0].key, readings[1].key])
    await outbox.refuse([(readings[2].key, "implausible")])
    outbox.close()

    again = Outbox(path)
    assert [item.key for item in await again.pending(100)] == [readings[3].key, readings[4].key, note.key]
    assert again.backlog.count == 3 and again.backlog.refused == 1 and again.backlog.oldest is not None
    states = {item.key: state for item, state in await again.items()}
    assert states[readings[0].key] is ItemState.ACKED and states[readings[2].key] is ItemState.REFUSED
    assert [i.body for i, _ in await again.items(consult="consult-1")] == [r.body for r in readings]
    await again.ack([readings[3].key, readings[4].key, note.key])
    assert await again.pending(100) == [] and again.backlog.count == 0 and again.backlog.oldest is None
    again.close()


async def test_acknowledged_items_are_pruned_after_the_keep_time_and_pending_ones_never(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db", keep_acked_s=0.0)
    items = [reading_item(spo2(1_700_000_000 + i), None) for i in range(4)]
    await outbox.add(items)
    await outbox.ack([items[0].key, items[1].key])
    await outbox.refuse([(items[2].key, "implausible")])
    assert await outbox.prune() == 2
    assert {i.key: s for i, s in await outbox.items()} == {items[2].key: ItemState.REFUSED,
                                                           items[3].key: ItemState.PENDING}
    outbox.close()
    kept = Outbox(tmp_path / "outbox.db")  # the default keeps a week of acknowledged items
    await kept.ack([items[3].key])
    assert await kept.prune() == 0 and len(await kept.items()) == 2
    kept.close()


async def test_reading_keys_come_from_content_and_repeat_readings_are_stored_once(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    first = spo2(1_700_000_000.25)
    assert first.content_key() == spo2(1_700_000_000.25).content_key()  # equal content, equal key
    others = [spo2(1_700_000_000.5), spo2(1_700_000_000.25, 96.0), spo2(1_700_000_000.25, source="nonin:sim"),
              Reading(Kind.PULSE_RATE, 97.0, "/min", 1_700_000_000.25, "contec-v7:/dev/sim")]
    assert len({r.content_key() for r in [first, *others]}) == 5
    assert await outbox.add([reading_item(first, None)]) == 1
    await outbox.ack([first.content_key()])
    # A device re-sending its memory, later and under another consult: the same reading, not a new one.
    assert await outbox.add([reading_item(first, "consult-2")]) == 0
    assert await outbox.pending(10) == []
    outbox.put(reading_item(first, None))
    outbox.put(reading_item(others[0], None))
    await outbox.flush()
    assert [i.key for i in await outbox.pending(10)] == [others[0].content_key()]
    outbox.close()


WRITER = textwrap.dedent("""
    import asyncio, os, signal, sys
    from devices.reading import Kind, Reading
    from station.outbox import Outbox, reading_item

    async def main() -> None:
        outbox = Outbox(__import__("pathlib").Path(sys.argv[1]))
        await outbox.add([reading_item(Reading(Kind.PULSE_RATE, 60.0 + i % 50, "/min", 1e9 + i, "sim"), None)
                          for i in range(200)])
        print("stored", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
""")


async def test_a_stored_item_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    proc = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", WRITER, str(path)], capture_output=True,
                                   text=True, cwd=Path(__file__).parents[2], timeout=120)
    assert proc.returncode == -signal.SIGKILL and proc.stdout == "stored\n", proc.stderr
    outbox = Outbox(path)
    assert len(await outbox.pending(500)) == 200
    outbox.close()


async def test_a_cuff_resending_its_memory_to_a_restarted_station_is_stored_once(tmp_path: Path) -> None:
    cuff = await start_simulator("visomat-bp", interval_s=0.5)
    source = open_source("visomat-bp", cuff.port)
    setup = StationSetup(server=UNREACHABLE, token="t", video=None, audio=None, sources=[source], request=None,
                         data_dir=tmp_path / "station")

    def sent() -> set[str]:
        return {r.content_key() for record in cuff.records for r in record.readings(source.name)}

    try:
        for _ in range(2):  # the second station is the first one restarted: it reads the whole memory again
            station = Station(setup)
            outbox = station.outbox
            assert outbox is not None
            task = asyncio.create_task(station.run())
            try:
                at_start = len(cuff.records)
                await poll(lambda: len(cuff.records) >= at_start + 3, timeout=60)
                await poll(lambda: outbox.backlog.count >= len(sent()) - 3, timeout=60)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        outbox = Outbox(tmp_path / "station" / "outbox.db")
        stored = [item.key for item, _ in await outbox.items(kind=ItemKind.READING)]
        outbox.close()
        # Every memory block repeats all earlier records, and the restarted station read them all
        # again: still each reading once (the newest block may not have been read before the stop).
        assert set(stored) <= sent() and len(stored) >= len(sent()) - 3
    finally:
        await cuff.stop()


async def test_the_uploader_acks_what_the_server_holds_and_keeps_what_it_refuses(
        server: Server, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    readings = [reading_item(spo2(1_700_000_000 + i), None) for i in range(3)]
    note = text_item(ItemKind.NOTE, None, {"text": "patient arrived", "time": 1_700_000_010.0})
    foreign = text_item(ItemKind.NOTE, "no-such-consult", {"text": "lost?", "time": 1_700_000_011.0})
    await outbox.add([*readings, foreign, note])
    uploader = OutboxUploader(server.url, server.station_token, outbox, batch_s=0.1)
    task = asyncio.create_task(uploader.run())
    try:
        await poll(lambda: outbox.backlog.count == 0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    states = {item.key: state for item, state in await outbox.items()}
    assert states.pop(foreign.key) is ItemState.REFUSED and set(states.values()) == {ItemState.ACKED}
    assert outbox.backlog.refused == 1 and uploader.requests == 1
    async with server.app[store_key].engine.connect() as conn:  # type: ignore[index]
        held = set((await conn.execute(select(station_records.c.key))).scalars())
    assert held == {i.key for i in [*readings, note]}
    outbox.close()


async def test_a_paused_uploader_sends_nothing_until_the_pause_ends(server: Server, tmp_path: Path) -> None:
    """Paused (a consult on a link too thin for motion video), batches wait; then they go."""
    outbox = Outbox(tmp_path / "outbox.db")
    readings = [reading_item(spo2(1_700_000_000 + i), None) for i in range(3)]
    await outbox.add(readings)
    thin = True
    uploader = OutboxUploader(server.url, server.station_token, outbox, batch_s=0.1, paused=lambda: thin)
    task = asyncio.create_task(uploader.run())
    try:
        await asyncio.sleep(1.0)
        assert uploader.requests == 0 and outbox.backlog.count == 3
        thin = False
        await poll(lambda: outbox.backlog.count == 0)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert uploader.requests == 1
    outbox.close()
