"""A server restart keeps the open consults: the hub takes them back from the store.

Here the first server stops the ordinary way (its shutdown must not abandon anyone's consult);
tests/faults/test_faults.py kills ``farlink serve`` with SIGKILL mid-consult.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from signaling.accounts import Role
from signaling.app import accounts_key, create_app, hub_key, store_key
from signaling.config import ServerConfig
from signaling.consults import ConsultState
from tests.conftest import SPECIALIST
from tests.signaling.helpers import logged_in, next_of


async def started(config: ServerConfig) -> TestServer:
    server = TestServer(create_app(config), host="127.0.0.1")
    await server.start_server()
    return server


async def station_socket(session: aiohttp.ClientSession, server: TestServer, token: str) -> aiohttp.ClientWebSocketResponse:
    return await session.ws_connect(server.make_url("/ws"), headers={"Authorization": f"Bearer {token}"})


async def test_live_and_waiting_consults_survive_a_restart(database_url: str, tmp_path: Path) -> None:
    config = ServerConfig(data_dir=tmp_path / "data", database_url=database_url)
    first = await started(config)
    accounts = first.app[accounts_key]
    await accounts.create_user(*SPECIALIST, Role.SPECIALIST)
    tokens = [await accounts.create_station_token(name) for name in ("clinic-live", "clinic-waiting")]
    url = str(first.make_url("/"))
    async with aiohttp.ClientSession() as plain:
        live_ws, waiting_ws = [await station_socket(plain, first, token) for token in tokens]
        consults = []
        for ws, reason in ((live_ws, "fever"), (waiting_ws, "cough")):
            await next_of(ws, "welcome")
            await ws.send_json({"type": "request_consult", "priority": "urgent", "reason": reason,
                                "vitals": [{"kind": "spo2", "value": 97, "unit": "%", "time": 1.0, "source": "x"}]})
            consults.append((await next_of(ws, "consult_requested"))["consult"]["id"])
        live, waiting = consults
        doctor, _ = await logged_in(url, *SPECIALIST)
        async with doctor:
            doctor_ws = await doctor.ws_connect(url + "ws")
            await doctor_ws.send_json({"type": "join", "consult": live})
            await next_of(doctor_ws, "joined")
            await next_of(live_ws, "uplink")
            await first.close()

            second = await started(config)
            try:
                hub = second.app[hub_key]
                assert {c: hub.consults[c].state for c in consults} == {live: ConsultState.LIVE,
                                                                         waiting: ConsultState.WAITING}
                assert hub.consults[waiting].reason == "cough" and hub.consults[waiting].vitals[0]["value"] == 97
                assert hub.consults[live].lead == SPECIALIST[0] and hub.consults[live].live_since is not None
                # The station comes back into its live consult instead of asking for a new one.
                live_ws = await station_socket(plain, second, tokens[0])
                welcome = await next_of(live_ws, "welcome")
                assert welcome["consult"]["id"] == live and welcome["consult"]["state"] == "live"
                assert (await next_of(live_ws, "joined"))["consult"]["id"] == live
                assert (await next_of(live_ws, "uplink"))["peers"] == []  # nobody to stream to yet
                # The lead rejoins without an invitation; the station is told to stream to them.
                doctor, _ = await logged_in(str(second.make_url("/")), *SPECIALIST)
                async with doctor:
                    doctor_ws = await doctor.ws_connect(second.make_url("/ws"))
                    room = await next_of(doctor_ws, "waiting_room")
                    assert [c["id"] for c in room["consults"] if c["state"] == "waiting"] == [waiting]
                    await doctor_ws.send_json({"type": "join", "consult": live})
                    assert (await next_of(doctor_ws, "joined"))["consult"]["state"] == "live"
                    uplink = await next_of(live_ws, "uplink")
                    assert [p["name"] for p in uplink["peers"]] == [SPECIALIST[0]]
                    await doctor_ws.close()
                await live_ws.close()
            finally:
                await second.close()


async def test_a_waiting_consult_whose_station_does_not_come_back_is_abandoned(database_url: str, tmp_path: Path) -> None:
    config = ServerConfig(data_dir=tmp_path / "data", database_url=database_url, station_return_s=1.0)
    first = await started(config)
    accounts = first.app[accounts_key]
    tokens = [await accounts.create_station_token(name) for name in ("clinic-back", "clinic-gone")]
    async with aiohttp.ClientSession() as plain:
        consults, sockets = [], []
        for token in tokens:
            ws = await station_socket(plain, first, token)
            sockets.append(ws)  # a socket left to the garbage collector closes: its station would leave
            await next_of(ws, "welcome")
            await ws.send_json({"type": "request_consult", "priority": "routine", "reason": "check"})
            consults.append((await next_of(ws, "consult_requested"))["consult"]["id"])
        back, gone = consults
        await first.close()

        second = await started(config)
        try:
            hub = second.app[hub_key]
            assert set(hub.consults) == {back, gone}
            ws = await station_socket(plain, second, tokens[0])
            assert (await next_of(ws, "welcome"))["consult"]["id"] == back
            await next_of(ws, "joined")
            await asyncio.sleep(config.station_return_s + 1.0)
            assert set(hub.consults) == {back} and hub.consults[back].state is ConsultState.WAITING
            [abandoned] = await second.app[store_key].consults_in([ConsultState.ABANDONED.value])
            assert abandoned["id"] == gone
            await ws.close()
        finally:
            await second.close()
