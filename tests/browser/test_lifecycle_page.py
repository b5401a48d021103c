"""The waiting-room controls in real Chromium: claim next, decline, join, transfer to a colleague."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from signaling.accounts import Role
from signaling.app import accounts_key
from tests.conftest import Server

pytestmark = pytest.mark.browser

COLLEAGUE = ("ben", "another long password")


async def logged_in(browser, server: Server, name: str, password: str):
    page = await browser.new_page()
    await page.goto(server.url)
    await page.fill("#name", name)
    await page.fill("#password", password)
    await page.click("#login-btn")
    await page.locator("#room-view").wait_for(state="visible", timeout=20_000)
    return page


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict:
    while True:
        msg = await ws.receive_json(timeout=20)
        if msg["type"] == kind:
            return msg


async def test_claim_decline_join_and_transfer_from_the_page(server: Server, browser, artifacts: Path) -> None:
    await server.app[accounts_key].create_user(*COLLEAGUE, Role.SPECIALIST)  # type: ignore[index]
    ana = await logged_in(browser, server, *server.specialist)
    ben = await logged_in(browser, server, *COLLEAGUE)
    async with aiohttp.ClientSession() as http, http.ws_connect(
            server.url + "ws", headers={"Authorization": f"Bearer {server.station_token}"}) as station:
        await next_of(station, "welcome")
        await station.send_json({"type": "request_consult", "priority": "urgent", "reason": "wheezing child"})
        await next_of(station, "consult_requested")
        await ben.locator("button.join").wait_for(timeout=20_000)

        await ana.locator("#claim-next").click()
        await ana.locator("#claimed-box").wait_for(state="visible", timeout=20_000)
        assert "wheezing child" in await ana.locator("#claimed-title").inner_text()
        await ben.locator("#room-empty").wait_for(state="visible", timeout=20_000)  # claimed: gone from ben's list

        await ana.locator("#claimed-decline").click()
        await ana.locator("#claimed-box").wait_for(state="hidden", timeout=20_000)
        await ben.locator("button.join").wait_for(timeout=20_000)  # back in the queue

        await ana.locator("#claim-next").click()
        await ana.locator("#claimed-join").click()
        await ana.locator("#consult-view").wait_for(state="visible", timeout=20_000)
        assert (await next_of(station, "peer_joined"))["peer"]["name"] == server.specialist[0]

        await ana.fill("#transfer-to", COLLEAGUE[0])
        await ana.locator("#transfer-btn").click()
        await ana.locator("#transfer-note").wait_for(state="visible", timeout=20_000)
        assert "ben" in await ana.locator("#transfer-note").inner_text()
        await ana.locator("#room-view").wait_for(state="visible", timeout=20_000)
        await ben.locator("#transfer-note").wait_for(state="visible", timeout=20_000)
        assert "wheezing child" in await ben.locator("#transfer-note").inner_text()
        await ben.wait_for_function("() => document.getElementById('room').textContent.includes('transferred')",
                                    timeout=20_000)
        assert await ana.locator("button.join").count() == 0  # a transfer to ben is not ana's to take
        await ben.screenshot(path=str(artifacts / "specialist-transfer-offered.png"), full_page=True)
        await ben.locator("button.join").click()
        await ben.locator("#consult-view").wait_for(state="visible", timeout=20_000)
        assert (await next_of(station, "peer_joined"))["peer"]["name"] == COLLEAGUE[0]
    await ana.close()
    await ben.close()
