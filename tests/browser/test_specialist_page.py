"""The specialist page in real headless Chromium: log in, join, watch video and vitals."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devices.catalog import open_source, start_simulator
from media.pattern import TestPatternTrack, ToneTrack
from station.runtime import ConsultRequest, Station, StationSetup
from tests.conftest import Server

pytestmark = __import__("pytest").mark.browser


async def frames_decoded(page) -> int:
    return await page.evaluate("() => (window.farlink.videoStats || {}).framesDecoded || 0")


async def test_specialist_logs_in_joins_and_sees_video_and_vitals(server: Server, browser, artifacts: Path) -> None:
    oximeter = await start_simulator("contec-v7")
    cuff = await start_simulator("visomat-bp", interval_s=3.0)
    station = Station(StationSetup(
        server=server.url, token=server.station_token,
        video=TestPatternTrack(size=(320, 240), fps=15), audio=ToneTrack(),
        sources=[open_source("contec-v7", oximeter.port), open_source("visomat-bp", cuff.port)],
        request=ConsultRequest(priority="urgent", reason="shortness of breath", again_after_s=None),
    ))
    station_task = asyncio.create_task(station.run())
    page = await browser.new_page()
    try:
        await page.goto(server.url)
        await page.fill("#name", server.specialist[0])
        await page.fill("#password", "wrong password")
        await page.click("#login-btn")
        await page.wait_for_function("() => document.getElementById('login-error').textContent.length > 0")
        await page.fill("#password", server.specialist[1])
        await page.click("#login-btn")
        join = page.locator("button.join")
        await join.first.wait_for(timeout=20_000)
        assert "shortness of breath" in await page.locator("#room").inner_text()
        await join.first.click()
        await page.wait_for_function("() => (window.farlink.videoStats || {}).framesDecoded > 0", timeout=20_000)
        first = await frames_decoded(page)
        await page.wait_for_function(f"() => window.farlink.videoStats.framesDecoded > {first + 10}", timeout=20_000)
        await page.wait_for_function("() => document.getElementById('spo2').textContent !== '--'", timeout=20_000)
        spo2_before = await page.locator("#spo2-time").inner_text()
        await page.wait_for_function(
            f"() => document.getElementById('spo2-time').textContent !== {spo2_before!r}", timeout=20_000)
        spo2 = int(await page.locator("#spo2").inner_text())
        assert 80 <= spo2 <= 100
        await page.wait_for_function("() => !document.getElementById('bp').textContent.startsWith('--')",
                                     timeout=20_000)
        assert await page.locator("#consult-state").inner_text() == "live"
        await page.fill("#chat-input", "Hello from the browser")
        await page.click("#chat-send")
        for _ in range(100):
            if any(m["text"] == "Hello from the browser" for m in station.chat_log):
                break
            await asyncio.sleep(0.1)
        assert any(m["text"] == "Hello from the browser" for m in station.chat_log)
        await page.screenshot(path=str(artifacts / "specialist-live.png"), full_page=True)
        await page.click("#end-btn")
        await page.wait_for_function("() => document.getElementById('consult-state').textContent === 'ended'")
    finally:
        await page.close()
        station_task.cancel()
        await asyncio.gather(station_task, return_exceptions=True)
        await oximeter.stop()
        await cuff.stop()
