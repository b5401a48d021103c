"""An outage longer than Chromium's consent timeout: the consult stays live, the page says
"reconnecting" (never "ended"), and video and vitals come back without anyone doing anything.

The station runs as ``farlink station`` in its own network namespace; the path to it (signaling
and media alike) is cut for ``OUTAGE_S`` and restored. 35 s is past Chromium's consent expiry,
so the page's peer connection turns "failed"; the station keeps its side (tuned consent) and
checks every second, and the first check that arrives after the link returns brings the page's
connection back: no fresh offer, media on the same peer connection.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from signaling.accounts import Role
from signaling.app import accounts_key, create_app
from signaling.config import ServerConfig
from signaling.consults import ConsultState
from signaling.hub import Hub
from tests.conftest import SPECIALIST
from tests.netcut import NetnsLink, Unavailable

pytestmark = [pytest.mark.browser, pytest.mark.netns]

OUTAGE_S = 35.0


@pytest.fixture
def link() -> Iterator[NetnsLink]:
    try:
        made = NetnsLink.create("outage")
    except Unavailable as exc:
        pytest.skip(f"no network namespace for the station: {exc}")
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
async def open_server(tmp_path: Path) -> AsyncIterator[tuple[TestServer, str]]:
    """The server on every local address: the page uses loopback, the station the veth."""
    app = create_app(ServerConfig(data_dir=tmp_path / "data"))
    server = TestServer(app, host="0.0.0.0")
    await server.start_server()
    await app[accounts_key].create_user(*SPECIALIST, Role.SPECIALIST)
    token = await app[accounts_key].create_station_token("clinic-far")
    try:
        yield server, token
    finally:
        await server.close()


def hub_of(server: TestServer) -> Hub:
    return next(v for v in server.app.values() if isinstance(v, Hub))


async def test_station_recovers_after_an_outage_and_the_page_shows_reconnecting(
    link: NetnsLink, open_server: tuple[TestServer, str], browser, tmp_path: Path
) -> None:
    server, token = open_server
    station = link.spawn(
        [sys.executable, "-m", "station.cli", "station", "--server", f"http://{link.host_ip}:{server.port}",
         f"--token={token}", "--simulate", "contec-v7", "--reason", "outage drill", "--media", "farlink",
         "--station-dir", str(tmp_path / "station"), "--page-port", "0"],
        tmp_path / "station.log",
    )
    page = await browser.new_page()
    try:
        await page.goto(f"http://127.0.0.1:{server.port}/")
        await page.fill("#name", SPECIALIST[0])
        await page.fill("#password", SPECIALIST[1])
        await page.click("#login-btn")
        await page.locator("button.join").first.wait_for(timeout=30_000)
        await page.locator("button.join").first.click()
        await page.wait_for_function("() => document.getElementById('consult-state').textContent === 'live'",
                                     timeout=30_000)
        await page.wait_for_function("() => (window.farlink.videoStats || {}).framesDecoded > 10", timeout=30_000)
        await page.wait_for_function("() => document.getElementById('spo2').textContent !== '--'", timeout=30_000)
        await page.wait_for_function("() => document.getElementById('link-stats').textContent.includes('link:')",
                                     timeout=30_000)
        await page.evaluate("""() => {
            window.pills = [];
            const pill = document.getElementById('consult-state');
            new MutationObserver(() => window.pills.push(pill.textContent))
                .observe(pill, {childList: true, characterData: true, subtree: true});
        }""")
        (consult_id,) = hub_of(server).consults
        await page.evaluate("""() => {
            const pc = window.farlink.pc;
            window.states = [];
            pc.addEventListener('connectionstatechange', () => window.states.push(pc.connectionState));
        }""")

        link.cut()
        cut_at = time.monotonic()
        await page.wait_for_function("() => window.pills.includes('reconnecting')", timeout=15_000)
        await asyncio.sleep(cut_at + OUTAGE_S - 5 - time.monotonic())
        assert hub_of(server).consults[consult_id].state is ConsultState.LIVE  # kept while away
        await asyncio.sleep(cut_at + OUTAGE_S - time.monotonic())
        await page.evaluate("() => { window.before = [window.farlink.pc, window.farlink.videoStats.framesDecoded]; }")
        spo2_time = await page.locator("#spo2-time").inner_text()
        link.restore()
        restored = time.monotonic()

        await page.wait_for_function("() => window.pills.lastIndexOf('live') > window.pills.indexOf('reconnecting')",
                                     timeout=30_000)
        # Video decodes again, on the peer connection that had failed.
        await page.wait_for_function("""() => {
            const [pc, frames] = window.before;
            return window.farlink.pc === pc && window.farlink.videoStats.framesDecoded > frames + 10;
        }""", timeout=30_000)
        recovered_s = time.monotonic() - restored
        await page.wait_for_function(
            f"() => document.getElementById('spo2-time').textContent !== {spo2_time!r}", timeout=30_000)
        states = await page.evaluate("() => window.states")
        assert "failed" in states and states[-1] == "connected", states
        pills = await page.evaluate("() => window.pills")
        assert "ended" not in pills, pills
        assert hub_of(server).consults[consult_id].state is ConsultState.LIVE
        assert station.poll() is None, "the station process died"
        print(f"media back {recovered_s:.1f} s after a {OUTAGE_S:.0f} s outage; page states {pills}, "
              f"connection states {states}")
    finally:
        await page.close()
        station.terminate()
        try:
            station.wait(10)
        except Exception:
            station.kill()
