"""The specialist asks for a still in real Chromium: it arrives over the files channel, verified."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from media.pattern import TestPatternTrack
from station.runtime import ConsultRequest, Station, StationSetup
from tests.conftest import Server

pytestmark = pytest.mark.browser

PAGE_SHA256 = """async (id) => {
  const response = await fetch(document.querySelector(`li[data-still="${id}"] a.download`).href);
  const digest = await crypto.subtle.digest("SHA-256", await response.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}"""


async def test_specialist_requests_a_still_and_sees_and_can_download_it(
        server: Server, browser, artifacts: Path, tmp_path: Path) -> None:
    station = Station(StationSetup(
        server=server.url, token=server.station_token,
        video=TestPatternTrack(size=(1280, 720), fps=2), audio=None,
        request=ConsultRequest(priority="routine", reason="rash on the arm", again_after_s=None),
        data_dir=tmp_path / "station",
    ))
    station_task = asyncio.create_task(station.run())
    page = await browser.new_page(viewport={"width": 1400, "height": 1200})
    try:
        await page.goto(server.url)
        await page.fill("#name", server.specialist[0])
        await page.fill("#password", server.specialist[1])
        await page.click("#login-btn")
        join = page.locator("button.join")
        await join.first.wait_for(timeout=20_000)
        await join.first.click()
        await page.wait_for_function("() => window.farlink.control && window.farlink.control.readyState === 'open'",
                                     timeout=20_000)
        await page.click("#still-btn")
        image = page.locator("#stills li.still img")
        await image.wait_for(timeout=30_000)
        await page.wait_for_function("() => document.querySelector('#stills img').naturalWidth === 1280",
                                     timeout=20_000)
        assert station.stills is not None
        [still] = station.stills.pending()
        assert still.by == "specialist" and (still.width, still.height) == (1280, 720)
        assert await page.evaluate(PAGE_SHA256, still.id) == still.sha256
        assert await page.locator("#stills a.download").get_attribute("download") == still.name
        for _ in range(100):
            if still.shown:
                break
            await asyncio.sleep(0.1)
        assert still.shown and still.sent == still.size  # the station's progress reached 100 %
        await page.screenshot(path=str(artifacts / "specialist-still.png"), full_page=True)
    finally:
        await page.close()
        station_task.cancel()
        await asyncio.gather(station_task, return_exceptions=True)
