"""Backfill in real Chromium: readings a station took while it was cut off (and restarted, so no
peer link carried them live) reach the specialist's chart after the link returns, in time order."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from devices.catalog import open_source, start_simulator
from station.runtime import ConsultRequest, Station, StationSetup
from tests.conftest import Server
from tests.cutproxy import CutProxy
from tests.station.test_local_page import poll

pytestmark = pytest.mark.browser

CHART = "() => window.farlink.vitals ? Array.from(window.farlink.vitals.chart.data[0]) : []"


async def test_readings_from_an_outage_are_merged_into_the_specialists_chart(
        server: Server, browser, artifacts: Path, tmp_path: Path) -> None:
    oximeter = await start_simulator("contec-v7")
    proxy = CutProxy(server.url)
    setup = StationSetup(server=await proxy.start(), token=server.station_token, video=None, audio=None,
                         sources=[open_source("contec-v7", oximeter.port)],
                         request=ConsultRequest(priority="urgent", reason="desaturating", again_after_s=None),
                         data_dir=tmp_path / "station")
    station = Station(setup)
    task = asyncio.create_task(station.run())
    page = await browser.new_page()
    try:
        await page.goto(server.url)
        await page.fill("#name", server.specialist[0])
        await page.fill("#password", server.specialist[1])
        await page.click("#login-btn")
        join = page.locator("button.join")
        await join.first.wait_for(timeout=20_000)
        await join.first.click()
        await page.wait_for_function(f"() => ({CHART})().length >= 3", timeout=30_000)

        # The clinic loses its link and its PC restarts: the peer link is gone with it, and the
        # new station cannot reach the server, so nothing reaches the page live.
        proxy.cut()
        cut_at = time.time()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        station = Station(setup)
        task = asyncio.create_task(station.run())
        assert station.outbox is not None
        backlog = station.outbox.backlog.count
        await poll(lambda: station.outbox is not None and station.outbox.backlog.count >= backlog + 20, timeout=60)
        restored_at = time.time()
        gap = [t for t in await page.evaluate(CHART) if cut_at + 1 < t < restored_at - 1]
        assert gap == [], "nothing should have reached the page during the outage"

        proxy.restore()
        await page.wait_for_function(
            f"() => ({CHART})().some((t) => t > {cut_at + 1} && t < {restored_at - 1})", timeout=60_000)
        await poll(lambda: station.outbox is not None and station.outbox.backlog.count == 0, timeout=60)
        await page.wait_for_function(f"() => ({CHART})().filter((t) => t > {cut_at + 1} && t < {restored_at - 1})"
                                     f".length >= {int(restored_at - cut_at) - 4}", timeout=30_000)
        times = await page.evaluate(CHART)
        assert times == sorted(times) and len(times) == len(set(times))
        spo2 = await page.evaluate("() => Array.from(window.farlink.vitals.chart.data[1])")
        backfilled = [v for t, v in zip(times, spo2) if cut_at + 1 < t < restored_at - 1 and v is not None]
        assert backfilled and set(backfilled) <= set(oximeter.sent_values("spo2"))
        # The tile shows the newest value, not one from the backfill.
        newest = await page.evaluate("() => window.farlink.vitals.latest.spo2.time")
        assert newest >= max(t for t in times if cut_at + 1 < t < restored_at - 1)
        await page.screenshot(path=str(artifacts / "specialist-backfill.png"), full_page=True)
    finally:
        await page.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await proxy.close()
        await oximeter.stop()
