"""The staff page's API on a real loopback server, in front of a real station and real devices."""

from __future__ import annotations

import asyncio
import time
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from devices.catalog import open_source, start_simulator
from media.pattern import TestPatternTrack
from signaling.app import hub_key
from station.linkcheck import field_profiles
from station.local_page import start_local_page
from station.outbox import ItemKind
from station.runtime import Station, StationSetup
from tests.conftest import Server


@dataclass
class Page:
    url: str
    station: Station
    session: aiohttp.ClientSession


async def poll(predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 20.0) -> None:
    """Wait until ``predicate`` (plain or async) holds."""
    async def loop() -> None:
        while True:
            result = predicate()
            if await result if inspect.isawaitable(result) else result:
                return
            await asyncio.sleep(0.1)
    await asyncio.wait_for(loop(), timeout)


@pytest.fixture
async def page(server: Server, tmp_path: Path) -> AsyncIterator[Page]:
    oximeter = await start_simulator("contec-v7")
    station = Station(StationSetup(server=server.url, token=server.station_token,
                                   video=TestPatternTrack(size=(320, 240), fps=10), audio=None,
                                   sources=[open_source("contec-v7", oximeter.port)], request=None,
                                   data_dir=tmp_path / "station"))
    runner, url = await start_local_page(station, "127.0.0.1", 0)
    task = asyncio.create_task(station.run())
    try:
        async with aiohttp.ClientSession() as session:
            yield Page(url, station, session)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await runner.cleanup()
        await oximeter.stop()


async def status(page: Page) -> dict:
    async with page.session.get(page.url + "api/status") as res:
        assert res.status == 200
        return await res.json()


async def test_status_shows_online_devices_and_readings(page: Page) -> None:
    async def ready() -> bool:
        now = await status(page)
        return now["online"] and any(d["readings"] for d in now["devices"])
    await poll(ready)
    now = await status(page)
    assert now["station"] == "clinic-1" and now["consult"]["state"] == "none"
    [device] = now["devices"]
    assert device["source"].startswith("contec-v7:") and device["state"] == "connected"
    assert {"spo2", "pulse_rate"} <= {r["kind"] for r in device["readings"]}


async def test_call_creates_a_consult_and_a_second_call_is_refused(page: Page, server: Server) -> None:
    await poll(page.station.client.connected.is_set)
    async with page.session.post(page.url + "api/call", json={"priority": "urgent", "reason": "chest pain"}) as res:
        assert res.status == 200
    hub = server.app[hub_key]  # type: ignore[index]
    await poll(lambda: bool(hub.consults))
    [consult] = hub.consults.values()
    assert (consult.station_id, consult.priority.value, consult.reason) == ("clinic-1", "urgent", "chest pain")
    await poll(lambda: page.station.consult_state.value == "waiting")
    async with page.session.post(page.url + "api/call", json={"priority": "urgent", "reason": "again"}) as res:
        assert res.status == 409 and (await res.json())["error"]["code"] == "consult_open"
    assert (await status(page))["consult"]["position"] == [1, 1]


async def test_bad_requests_get_codes(page: Page) -> None:
    async with page.session.post(page.url + "api/call", json={"priority": "whenever", "reason": "x"}) as res:
        assert res.status == 400 and (await res.json())["error"]["code"] == "bad_field"
    async with page.session.post(page.url + "api/call", data="priority=urgent",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"}) as res:
        assert res.status == 415 and (await res.json())["error"]["code"] == "bad_content_type"
    async with page.session.post(page.url + "api/call", data=b"{not json", headers={"Content-Type": "application/json"}) as res:
        assert res.status == 400 and (await res.json())["error"]["code"] == "bad_field"
    # DNS rebinding: a foreign host name pointing at 127.0.0.1 gets nothing.
    async with page.session.get(page.url + "api/status", headers={"Host": "evil.example"}) as res:
        assert res.status == 403 and (await res.json())["error"]["code"] == "forbidden"


async def test_link_check_self_view_and_still_buttons(page: Page) -> None:
    async with page.session.post(page.url + "api/linkcheck", json={}) as res:
        assert res.status == 200
        check = await res.json()
    assert check["profile"] in {p.name for p in field_profiles()}
    assert (await status(page))["link"] == check
    assert page.station.link_check is not None and page.station.link_check.to_json() == check
    async with page.session.get(page.url + "api/selfview.jpg") as res:
        assert res.status == 200 and res.content_type == "image/jpeg"
        assert (await res.read())[:2] == b"\xff\xd8"
    async with page.session.post(page.url + "api/still", json={}) as res:
        assert res.status == 200
        still = await res.json()
    assert (still["width"], still["height"], still["by"]) == (320, 240, "staff")

    async def uploaded() -> bool:
        return not (await status(page))["outbox"]
    await poll(uploaded)


async def test_offline_call_is_refused_with_a_code(tmp_path: Path) -> None:
    station = Station(StationSetup(server="http://127.0.0.1:9/", token="t", video=None, audio=None, request=None))
    runner, url = await start_local_page(station, "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(url + "api/call", json={"priority": "routine", "reason": ""}) as res:
                assert res.status == 503 and (await res.json())["error"]["code"] == "offline"
            async with session.post(url + "api/still", json={}) as res:
                assert res.status == 409 and (await res.json())["error"]["code"] == "no_store"
            async with session.get(url + "api/selfview.jpg") as res:
                assert res.status == 404 and (await res.json())["error"]["code"] == "no_camera"
            async with session.post(url + "api/linkcheck", json={}) as res:
                assert res.status == 502 and (await res.json())["error"]["code"] == "link_check_failed"
    finally:
        await runner.cleanup()


async def test_the_outbox_backlog_grows_while_offline_and_empties_once_the_server_is_back(
        server: Server, tmp_path: Path) -> None:
    oximeter = await start_simulator("contec-v7")
    setup = StationSetup(server="http://127.0.0.1:9/", token=server.station_token, video=None, audio=None,
                         sources=[open_source("contec-v7", oximeter.port)], request=None,
                         data_dir=tmp_path / "station")
    try:
        for online in (False, True):
            setup.server = server.url if online else "http://127.0.0.1:9/"
            station = Station(setup)
            runner, url = await start_local_page(station, "127.0.0.1", 0)
            task = asyncio.create_task(station.run())
            try:
                async with aiohttp.ClientSession() as session:
                    page = Page(url, station, session)
                    if not online:
                        await poll(lambda: station.outbox is not None and station.outbox.backlog.count >= 4)
                        records = (await status(page))["records"]
                        assert records["count"] >= 4 and records["refused"] == 0
                        assert records["oldest_age_s"] >= 0 and records["oldest"] <= time.time()
                    else:
                        async def sent() -> bool:
                            return (await status(page))["records"]["count"] == 0
                        await oximeter.stop()  # nothing new: the backlog can drain to zero
                        await poll(sent, timeout=60)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await runner.cleanup()
    finally:
        await oximeter.stop()


async def test_a_note_is_stored_for_the_record_and_bad_ones_are_refused(page: Page) -> None:
    async with page.session.post(page.url + "api/note", json={"text": "  Gave paracetamol 1 g  "}) as res:
        assert res.status == 200
    assert page.station.outbox is not None
    [(note, _)] = await page.station.outbox.items(kind=ItemKind.NOTE)
    assert note.body["text"] == "Gave paracetamol 1 g" and note.consult == page.station.consult_id
    for body in ({"text": "   "}, {"text": "x" * 2001}, {"words": "hi"}, ["text"]):
        async with page.session.post(page.url + "api/note", json=body) as res:
            assert res.status == 400 and (await res.json())["error"]["code"] == "bad_field"
    async with page.session.post(page.url + "api/note", data="text=hi",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"}) as res:
        assert res.status == 415
    assert len(await page.station.outbox.items(kind=ItemKind.NOTE)) == 1
