"""Two specialists in real headless Chromium: the lead invites a colleague from the consult page;
the colleague accepts from the waiting room and sees the station's video through the relay; a
still the colleague asks for reaches both pages; the station's outage shows as "reconnecting"."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.catalog import open_source, start_simulator
from media import tuning
from media.pattern import TestPatternTrack, ToneTrack
from signaling.accounts import Role
from signaling.app import accounts_key, hub_key
from station.runtime import ConsultRequest, Station, StationSetup
from tests.browser.test_specialist_stills import PAGE_SHA256
from tests.conftest import Server

pytestmark = pytest.mark.browser

COLLEAGUE = ("neurologist", "second opinion please")


@pytest.fixture(autouse=True)
def untuned_afterwards() -> Iterator[None]:
    was = tuning.applied()
    yield
    if not was:
        tuning.restore()


async def log_in(browser, server: Server, name: str, password: str):  # type: ignore[no-untyped-def]
    page = await (await browser.new_context()).new_page()  # a context each: separate session cookies
    await page.goto(server.url)
    await page.fill("#name", name)
    await page.fill("#password", password)
    await page.click("#login-btn")
    await page.wait_for_function("() => document.getElementById('who').textContent.length > 0")
    return page


async def test_invited_colleague_sees_the_station_in_chromium(
        server: Server, browser, artifacts: Path, tmp_path: Path) -> None:
    await server.app[accounts_key].create_user(*COLLEAGUE, Role.SPECIALIST)  # type: ignore[index]
    oximeter = await start_simulator("contec-v7")
    station = Station(StationSetup(
        server=server.url, token=server.station_token,
        video=TestPatternTrack(size=(320, 240), fps=15), audio=ToneTrack(),
        sources=[open_source("contec-v7", oximeter.port)],
        request=ConsultRequest(priority="urgent", reason="stroke window", again_after_s=None),
        data_dir=tmp_path / "station",
    ))
    station_task = asyncio.create_task(station.run())
    try:
        lead = await log_in(browser, server, *server.specialist)
        colleague = await log_in(browser, server, *COLLEAGUE)
        await lead.locator("button.join").first.click(timeout=20_000)
        await lead.wait_for_function("() => (window.farlink.videoStats || {}).framesDecoded > 0", timeout=30_000)
        assert await colleague.locator("#invite-form").is_hidden()

        await lead.fill("#invite-user", "nobody")
        await lead.click("#invite-btn")
        await lead.wait_for_function("() => document.getElementById('invite-status').textContent.includes('nobody')")
        await lead.fill("#invite-user", COLLEAGUE[0])
        await lead.select_option("#invite-as", "specialist")
        await lead.click("#invite-btn")
        await lead.wait_for_function(
            f"() => document.getElementById('invite-status').textContent === '{COLLEAGUE[0]} invited as specialist'")

        accept = colleague.locator("#invitations button.accept")
        await accept.wait_for(timeout=20_000)
        assert "stroke window" in await colleague.locator("#invitations").inner_text()
        await accept.click()
        await colleague.wait_for_function("() => (window.farlink.videoStats || {}).framesDecoded > 10", timeout=40_000)
        await colleague.wait_for_function("() => document.getElementById('spo2').textContent !== '--'", timeout=20_000)
        assert 80 <= int(await colleague.locator("#spo2").inner_text()) <= 100
        hub = server.app[hub_key]  # type: ignore[index]
        relay = next(iter(hub.relays.values()))
        assert list(station.peers) == [relay.id]  # the station's video goes out once
        # The lead's page moved to the relay too and keeps decoding.
        before = await lead.evaluate("() => window.farlink.videoStats.framesDecoded")
        await lead.wait_for_function(f"() => window.farlink.videoStats.framesDecoded > {before + 10}", timeout=40_000)

        # The colleague asks for a still: the relay records it and both pages show the same bytes.
        await colleague.click("#still-btn")
        for page in (lead, colleague):
            await page.locator("#stills li.still img").wait_for(timeout=30_000)
        [held] = relay.ws._session.stills.unshown()  # type: ignore[union-attr]
        assert station.stills is not None
        still = station.stills.get(held.id)
        assert still is not None and still.by == "specialist"
        for page in (lead, colleague):
            assert await page.evaluate(PAGE_SHA256, still.id) == still.sha256
        for _ in range(100):
            if still.recorded:
                break
            await asyncio.sleep(0.1)
        assert still.recorded and not station.stills.pending()
        await colleague.screenshot(path=str(artifacts / "invited-colleague.png"), full_page=True)

        # The station drops off signaling: both pages say "reconnecting" (never "ended") while the
        # relay keeps their links, and "live" with moving video once the station is back.
        pages = (lead, colleague)
        for page in pages:
            await page.evaluate("""() => {
                const pill = document.getElementById('consult-state');
                window.pills = [];
                new MutationObserver(() => window.pills.push(pill.textContent))
                    .observe(pill, {childList: true, characterData: true, subtree: true});
            }""")
        [gone] = [m for m in hub.members.values() if m.principal.role is Role.STATION]
        await gone.ws.close()
        for page in pages:
            await page.wait_for_function("() => window.pills.includes('reconnecting')", timeout=30_000)
            await page.wait_for_function(
                "() => document.getElementById('consult-state').textContent === 'live'", timeout=60_000)
            before = await page.evaluate("() => window.farlink.videoStats.framesDecoded")
            await page.wait_for_function(f"() => window.farlink.videoStats.framesDecoded > {before + 10}",
                                         timeout=40_000)
            assert "ended" not in await page.evaluate("() => window.pills")
        assert list(station.peers) == [relay.id]
    finally:
        station_task.cancel()
        await asyncio.gather(station_task, return_exceptions=True)
        await oximeter.stop()
