"""The pre-call link check: the profile choice, a real measurement against a real server (on
loopback and over the emulated satellite link), where a call starts from it, and a station that
waits for it before asking for its first consult."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiohttp.test_utils import TestServer

from devices.errors import LocalError
from media.estimator import EstimatorConfig
from media.ladder import Ladder
from media.linkemu import LinkEmulator, unavailable_reason
from media.links import get_profile
from signaling.app import accounts_key, create_app
from signaling.config import ServerConfig
from station.linkcheck import (
    AUTO,
    START_SHARE,
    WIRE_PER_BYTE,
    LinkCheck,
    Transfer,
    check_link,
    choose_profile,
    field_profiles,
    start_at,
    start_bps,
    throughput_kbps,
)
from station.runtime import ConsultPhase, ConsultRequest, Station, StationSetup
from tests.conftest import Server
from tests.media.peers import MovingTrack

EMULATOR = unavailable_reason()


@pytest.mark.parametrize(("rtt_ms", "up", "down", "expected"), [
    (2, 900_000, 900_000, "lan"),
    (45, 9_000, 60_000, "starlink"),
    (620, 9_000, 60_000, "vsat-geo"),  # fast but far: not Starlink's timers
    (850, 300, 300, "bgan-256"),
    (950, 70, 70, "bgan-64"),
    (1600, 30, 50, "bgan-field"),
    (3000, 5, 5, "bgan-field"),  # carries no preset: start at the thinnest
])
def test_the_richest_profile_the_path_carries_is_chosen(rtt_ms: float, up: float, down: float, expected: str) -> None:
    assert choose_profile(rtt_ms, up, down, field_profiles()) == expected


def test_outage_scenarios_are_not_presets() -> None:
    assert "certus-outage" not in {p.name for p in field_profiles()}


async def test_check_against_the_real_server_on_loopback(server: Server) -> None:
    result = await check_link(server.url, server.station_token)
    # Loopback is "lan" on an idle machine; on a loaded one the round trip can grow past what
    # "lan" allows, so the test checks that the choice follows from the measurement.
    assert result.rtt_ms > 0 and result.up_kbps > 1000 and result.down_kbps > 1000
    assert result.profile == choose_profile(result.rtt_ms, result.up_kbps, result.down_kbps, field_profiles())


async def test_a_wrong_token_is_a_local_error(server: Server) -> None:
    with pytest.raises(LocalError) as caught:
        await check_link(server.url, "not-a-token")
    assert caught.value.code == "unauthorized"


async def test_the_endpoints_refuse_strangers_and_oversize_transfers(server: Server) -> None:
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(server.url + "api/linkcheck/download", params={"bytes": "1000"}) as res:
            assert res.status == 401 and (await res.json())["error"]["code"] == "unauthorized"
    headers = {"Authorization": f"Bearer {server.station_token}"}
    async with aiohttp.ClientSession(headers=headers) as station:
        async with station.get(server.url + "api/linkcheck/download", params={"bytes": "123457"}) as res:
            assert res.status == 200 and len(await res.read()) == 123457
        async with station.get(server.url + "api/linkcheck/download", params={"bytes": str(10**9)}) as res:
            assert res.status == 413 and (await res.json())["error"]["code"] == "too_large"
        async with station.get(server.url + "api/linkcheck/download", params={"bytes": "lots"}) as res:
            assert res.status == 400 and (await res.json())["error"]["code"] == "bad_field"
        async with station.post(server.url + "api/linkcheck/upload", data=bytes(5 * 1024 * 1024)) as res:
            assert res.status == 413 and (await res.json())["error"]["code"] == "too_large"
        async with station.post(server.url + "api/linkcheck/upload", data=bytes(70_000)) as res:
            assert res.status == 200 and (await res.json()) == {"bytes": 70_000}


# -- the reading ------------------------------------------------------------------------------

def test_the_throughput_counts_the_time_the_link_carried_something_after_the_warmup() -> None:
    # Two connections in step: each request crosses the link in 1 s, then the link idles for
    # the answer's round trip; the first requests were slow (slow start).
    streams = [[Transfer(0.0, 2.0, 1000), Transfer(3.0, 4.0, 1000), Transfer(5.0, 6.0, 1000)] for _ in range(2)]
    steady = 2 * 1000 * 8 / 1000 * WIRE_PER_BYTE  # kbit/s while something crossed the link
    assert throughput_kbps(streams, since=2.5) == pytest.approx(steady)
    assert throughput_kbps(streams, since=0.0) < 0.9 * steady  # the slow start reads low, not high
    # a window that ends before it starts (a measurement cut short): everything counts
    assert throughput_kbps(streams, since=7.0) == throughput_kbps(streams, since=0.0)


# -- where a call starts ----------------------------------------------------------------------

@pytest.mark.parametrize(("up_kbps", "rung"), [
    (10_000, "vga30"),  # lan: the top rung at once, the estimator at its maximum
    (1_000, "vga27"),  # vsat-geo: VGA at 27 fps, not a minute's climb from QVGA over 600 ms
    (256, "vga12"),  # bgan-256
    (64, "qvga6"),  # bgan-64: small video, not a flood of qvga10
    (24, "stills"),  # bgan-field: audio and a still now and then
    (8, "vitals"),  # thinner still: vitals alone
])
def test_a_call_starts_on_the_best_rung_for_a_share_of_the_uplink(up_kbps: float, rung: str) -> None:
    ladder, estimator = start_at(start_bps(up_kbps))
    assert estimator.target_bps == min(EstimatorConfig.max_bps, int(START_SHARE * up_kbps * 1000))
    assert ladder.rung.name == rung
    above = ladder.rungs[max(0, ladder.rungs.index(ladder.rung) - 1)]
    assert ladder.rung.required_bps() <= estimator.target_bps and (
        above is ladder.rung or above.required_bps() > estimator.target_bps)
    # before any feedback the controller neither climbs on the guess nor drops from it
    assert ladder.update(estimator.target_bps, 0.0, None, climb=False) is ladder.rung


@pytest.mark.parametrize(("reading", "rung", "below", "far"), [
    (38_000, "qvga6", "stills", 25_500),  # bgan-64 checks read 38-58 of 64 kbit/s, bgan-field's up to 25.5
    (11_000, "stills", "vitals", 8_000),  # bgan-field's read from 11 of 24; stills needs 17
])
def test_a_reading_close_to_the_next_rung_up_from_one_without_motion_starts_on_it(
        reading: int, rung: str, below: str, far: int) -> None:
    """As the probe from there would ten seconds on: the estimator at what the probe asks."""
    assert Ladder().best_fit(reading).name == below
    ladder, estimator = start_at(reading)
    assert ladder.rung.name == rung
    assert estimator.target_bps == int(ladder.rung.required_bps() * ladder.config.up_headroom)
    assert start_at(far)[0].rung.name == below  # not close: no probe


async def test_a_consult_asked_for_at_start_waits_for_the_first_link_check(server: Server) -> None:
    station = Station(StationSetup(server=server.url, token=server.station_token, video=None, audio=None,
                                   request=ConsultRequest(reason="at start", again_after_s=None), profile=AUTO))
    running = asyncio.create_task(station.run())
    try:
        async with asyncio.timeout(60):
            while station.consult_state is ConsultPhase.NONE:
                await asyncio.sleep(0.02)
        assert station.link_check is not None  # measured before the request went out
        assert station.start_bps == start_bps(station.link_check.up_kbps)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_the_next_call_starts_where_the_last_one_settled(tuned: None) -> None:
    station = Station(StationSetup(server="http://127.0.0.1:9/", token="t", video=MovingTrack(), audio=None,
                                   request=None, profile="bgan-64"))
    assert station.start_bps == start_bps(64)  # the preset's uplink until something newer is known
    await station._open_peer("doctor")
    link = station.peers["doctor"]
    assert link.controller is not None and link.controller.estimator.target_bps == start_bps(64)
    doctor = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        await doctor.setRemoteDescription(link.pc.localDescription)
        await doctor.setLocalDescription(await doctor.createAnswer())
        await link.accept({"kind": "answer", "sdp": doctor.localDescription.sdp})
        async with asyncio.timeout(30):  # the first receiver reports measure the loopback link
            while link.controller.estimator.rtt_ms is None or link.controller.estimator.target_bps == start_bps(64):
                await asyncio.sleep(0.1)
        settled = link.controller.estimator.target_bps
        await station._on_message({"type": "consult_ended", "consult": None})
        assert station.start_bps == settled and not station.peers
        await station._open_peer("doctor")
        assert station.peers["doctor"].controller.estimator.target_bps == settled
    finally:
        await station._close_peers()
        await doctor.close()


# -- over the emulated satellite link ---------------------------------------------------------

@pytest.mark.netns
@pytest.mark.skipif(EMULATOR is not None, reason=EMULATOR or "")
@pytest.mark.parametrize(("name", "low"), [("vsat-geo", 0.6), ("bgan-64", 0.5)])
def test_a_satellite_uplink_reads_within_a_factor_of_its_rate(name: str, low: float, tmp_path: Path) -> None:
    """The real server on the far side of the emulated link, the check on the station's side.
    The uplink (what a call starts from) reads between ``low`` and 1.1 times the link's rate:
    it may read low, never high. The downlink is only shown to the clinic: it must not read
    high either."""
    profile = get_profile(name)
    with LinkEmulator(profile, seed=4) as link:
        with link.inside("b"):
            far = FarServer(tmp_path, link.b_addr)
        try:
            result: dict[str, LinkCheck | BaseException] = {}

            def check() -> None:
                with link.inside("a"):
                    try:
                        result["ok"] = asyncio.run(check_link(far.url, far.token))
                    except BaseException as exc:  # reported below
                        result["error"] = exc

            thread = threading.Thread(target=check)
            thread.start()
            thread.join(timeout=60)
        finally:
            far.stop()
    reading = result.get("ok")
    assert isinstance(reading, LinkCheck), result
    assert low * profile.up_kbps <= reading.up_kbps <= 1.1 * profile.up_kbps, reading
    assert 0 < reading.down_kbps <= 1.1 * profile.down_kbps, reading
    assert reading.rtt_ms >= profile.rtt_ms, reading


class FarServer:
    """``signaling``'s app on its own loop in a thread (started inside the far namespace)."""

    def __init__(self, tmp_path: Path, host: str) -> None:
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stopped: asyncio.Event | None = None
        self.url = f"http://{host}:8080/"
        self.token = ""
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(tmp_path, host),))
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the far server did not start")

    async def _serve(self, tmp_path: Path, host: str) -> None:
        self._stopped = asyncio.Event()
        app = create_app(ServerConfig(data_dir=tmp_path / "data"))
        runner = TestServer(app, host=host, port=8080)
        await runner.start_server()
        self.token = await app[accounts_key].create_station_token("far-clinic")
        self._ready.set()
        try:
            await self._stopped.wait()
        finally:
            await runner.close()

    def stop(self) -> None:
        if self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(timeout=30)
        self._loop.close()
