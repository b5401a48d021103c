"""The server killed with SIGKILL mid-consult and started again on its data directory: the page
reconnects, enters the consult again, and video and vitals resume, with no one clicking.

Both the server and the station are real processes (``farlink serve``, ``farlink station
--config``); the page is real Chromium.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from devices.sim.serial_devices import ContecV7Simulator
from tests.conftest import SPECIALIST
from tests.processes import ServerProcess, StationProcess, farlink_admin, write_config

pytestmark = pytest.mark.browser


async def test_page_rejoins_after_the_server_is_killed_and_restarted(browser, tmp_path: Path) -> None:
    data = tmp_path / "server"
    farlink_admin(data, "create-user", SPECIALIST[0], "--role", "specialist", "--password", SPECIALIST[1])
    token = farlink_admin(data, "create-station-token", "clinic-1")
    server = ServerProcess(data, tmp_path / "serve")
    oximeter = ContecV7Simulator()
    await oximeter.start()
    station = StationProcess(write_config(tmp_path / "station.toml", server.url, token,
                                          [("contec-v7", oximeter.port)], 'profile = "lan"'), tmp_path / "station")
    page = await browser.new_page()
    try:
        await server.start_ready()
        station.start()
        await station.page_url()
        await page.goto(server.url)
        await page.fill("#name", SPECIALIST[0])
        await page.fill("#password", SPECIALIST[1])
        await page.click("#login-btn")
        await page.locator("button.join").first.wait_for(timeout=30_000)
        await page.locator("button.join").first.click()
        await page.wait_for_function("() => (window.farlink.videoStats || {}).framesDecoded > 10", timeout=30_000)
        await page.wait_for_function("() => document.getElementById('spo2').textContent !== '--'", timeout=30_000)
        consult = await page.evaluate("() => window.farlink.consult.id")
        await page.fill("#chat-input", "Before the crash")
        await page.click("#chat-send")
        await page.wait_for_function("() => document.getElementById('chat-log').textContent.includes('Before the crash')",
                                     timeout=15_000)
        await page.evaluate("""() => {
            window.before = window.farlink.pc;
            window.pills = [];  // what the page said, in order: printed if the test fails
            for (const id of ['conn', 'consult-state']) {
                const pill = document.getElementById(id);
                new MutationObserver(() => window.pills.push(`${id}:${pill.textContent}`))
                    .observe(pill, {childList: true, characterData: true, subtree: true});
            }
        }""")

        server.kill()
        await page.wait_for_function("() => document.getElementById('conn').textContent === 'offline'",
                                     timeout=15_000)
        spo2_time = await page.locator("#spo2-time").inner_text()
        await server.start_ready()
        restarted = time.monotonic()
        await page.wait_for_function("() => document.getElementById('conn').textContent === 'online'",
                                     timeout=30_000)
        await page.wait_for_function(
            "() => window.farlink.pc !== window.before && document.getElementById('consult-state').textContent === 'live'",
            timeout=60_000)
        # Frames decoded on the new connection: its stats count from zero.
        await page.wait_for_function(
            "() => window.farlink.videoStats.framesDecoded > 10 && window.farlink.videoStats.framesDecoded < 10000",
            timeout=30_000)
        frames = await page.evaluate("() => window.farlink.videoStats.framesDecoded")
        await page.wait_for_function(f"() => window.farlink.videoStats.framesDecoded > {frames} + 10", timeout=30_000)
        await page.wait_for_function(
            f"() => document.getElementById('spo2-time').textContent !== {spo2_time!r}", timeout=30_000)
        took = time.monotonic() - restarted
        assert await page.evaluate("() => window.farlink.consult.id") == consult
        pills = await page.evaluate("() => window.pills")
        assert "consult-state:reconnecting" in pills and "consult-state:ended" not in pills, pills
        assert "Before the crash" in await page.locator("#chat-log").inner_text(), "the rejoin cleared the chat"
        print(f"server SIGKILL: the page decodes video again {took:.1f} s after the restart")
    finally:
        print("page:", await page.evaluate("() => window.pills"))
        await page.close()
        station.stop()
        server.stop()
        await oximeter.stop()
