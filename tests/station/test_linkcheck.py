"""The pre-call link check: the profile choice, and a real measurement against a real server."""

from __future__ import annotations

import aiohttp
import pytest

from devices.errors import LocalError
from station.linkcheck import check_link, choose_profile, field_profiles
from tests.conftest import Server


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
