"""The clinic staff's station page in real headless Chromium, in English and in Chinese."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from devices.catalog import open_source, start_simulator
from media.pattern import TestPatternTrack
from signaling.app import hub_key
from station.linkcheck import field_profiles
from station.local_page import start_local_page
from station.outbox import ItemKind
from station.runtime import Station, StationSetup
from tests.conftest import Server

pytestmark = pytest.mark.browser

# The link check shows the profile it picked (which one depends on how loaded the machine is).
LINK_CHECKED = (f"() => {json.dumps([p.name for p in field_profiles()])}"
                ".some((p) => document.getElementById('link-detail').textContent.endsWith(p))")


async def test_station_page_in_english_and_chinese_calls_a_specialist(
        server: Server, browser, artifacts: Path, tmp_path: Path) -> None:
    oximeter = await start_simulator("contec-v7")
    cuff = await start_simulator("visomat-bp", interval_s=3.0)
    station = Station(StationSetup(
        server=server.url, token=server.station_token,
        video=TestPatternTrack(size=(640, 360), fps=10), audio=None,
        sources=[open_source("contec-v7", oximeter.port), open_source("visomat-bp", cuff.port)],
        request=None, data_dir=tmp_path / "station",
    ))
    runner, url = await start_local_page(station, "127.0.0.1", 0)
    station_task = asyncio.create_task(station.run())
    english = await browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    chinese = await browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    try:
        page = await english.new_page()
        await page.goto(url)
        await page.wait_for_function("() => document.getElementById('online').textContent === 'Online'",
                                     timeout=20_000)
        spo2 = page.locator(".device.connected .reading[data-kind=spo2] .value")
        await spo2.wait_for(timeout=20_000)
        assert 80 <= float(await spo2.inner_text()) <= 100
        systolic = page.locator(".device.connected .reading[data-kind=systolic] .value")
        await systolic.wait_for(timeout=20_000)
        assert float(await systolic.inner_text()) in set(cuff.sent_values("systolic"))
        devices = await page.locator("#devices").inner_text()
        assert "contec-v7" in devices and "visomat-bp" in devices and "Connected" in devices
        assert "Oxygen (SpO₂)" in devices and "Blood pressure, upper" in devices
        await page.wait_for_function(LINK_CHECKED, timeout=30_000)
        await page.wait_for_function("() => document.getElementById('self-view').naturalWidth > 0", timeout=20_000)
        # A note for the record: stored in the station's outbox, then uploaded.
        await page.fill("#note", "Gave paracetamol 1 g")
        await page.click("#note-btn")
        await page.wait_for_function(
            "() => document.getElementById('note-status').textContent.startsWith('Note saved')", timeout=10_000)
        assert station.outbox is not None
        assert [i.body["text"] for i, _ in await station.outbox.items(kind=ItemKind.NOTE)] == ["Gave paracetamol 1 g"]
        assert await page.input_value("#note") == ""
        # The outbox's backlog (readings wait up to 10 s to travel together) is shown in words.
        await page.wait_for_function("() => !document.getElementById('records-waiting').hidden", timeout=20_000)
        assert "readings and messages waiting to be sent" in await page.locator("#records-waiting").inner_text()
        await page.screenshot(path=str(artifacts / "station-page-en.png"), full_page=True)

        page_zh = await chinese.new_page()
        await page_zh.goto(url)
        await page_zh.locator(".device.connected .reading[data-kind=spo2]").wait_for(timeout=20_000)
        assert await page_zh.title() == "Farlink 远程诊疗站"
        devices_zh = await page_zh.locator("#devices").inner_text()
        assert "已连接" in devices_zh and "血氧" in devices_zh and "血压（高压）" in devices_zh
        assert await page_zh.locator("#online").inner_text() == "已联网"
        assert await page_zh.locator("#call-btn").inner_text() == "呼叫专家"
        assert await page_zh.locator("#note-btn").inner_text() == "保存备注"
        await page_zh.wait_for_function("() => !document.getElementById('records-waiting').hidden", timeout=20_000)
        assert "条读数和消息等待发送" in await page_zh.locator("#records-waiting").inner_text()

        await page_zh.check("input[name=priority][value=urgent]")
        await page_zh.fill("#reason", "发烧三天")
        await page_zh.click("#call-btn")
        await page_zh.wait_for_function(
            "() => document.getElementById('consult-status').textContent.startsWith('正在呼叫')", timeout=20_000)
        hub = server.app[hub_key]  # type: ignore[index]
        [consult] = hub.consults.values()
        assert (consult.station_id, consult.priority.value, consult.reason) == ("clinic-1", "urgent", "发烧三天")
        assert consult.state.value == "waiting"
        assert await page_zh.locator("#call-btn").is_disabled()
        await page_zh.wait_for_function(LINK_CHECKED, timeout=30_000)
        await page_zh.screenshot(path=str(artifacts / "station-page-zh-CN.png"), full_page=True)

        # The switch overrides the browser's language.
        await page.click("#lang-zh-CN")
        assert await page.locator("h2").first.inner_text() == "呼叫专家"
        await page.click("#lang-en")
        assert await page.locator("h2").first.inner_text() == "Call a specialist"
    finally:
        await english.close()
        await chinese.close()
        station_task.cancel()
        await asyncio.gather(station_task, return_exceptions=True)
        await runner.cleanup()
        await oximeter.stop()
        await cuff.stop()
