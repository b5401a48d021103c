"""The consult lifecycle through a real server: claim, decline, claim-next, transfer, positions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from signaling.accounts import Role
from signaling.app import accounts_key, create_app
from signaling.config import ServerConfig

PASSWORD = "correct horse battery"


class Client:
    """One WebSocket client of the real server, keeping every message it got."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, **message: object) -> None:
        await self.ws.send_json(message)

    async def next(self, kind: str, where: object = None) -> dict:
        while True:
            msg = await self.ws.receive_json(timeout=10)
            if msg["type"] == kind and (where is None or where(msg)):
                return msg
            if msg["type"] == "error" and kind != "error":
                raise AssertionError(f"server refused: {msg}")


@pytest.fixture
async def clinic(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:
    app = create_app(ServerConfig(data_dir=tmp_path, room_publish_s=0.02, consult_length_s=300))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    accounts = app[accounts_key]
    for name in ("ana", "ben"):
        await accounts.create_user(name, PASSWORD, Role.SPECIALIST)
    tokens = {station: await accounts.create_station_token(station) for station in ("north", "south")}
    try:
        yield str(server.make_url("/")), tokens
    finally:
        await server.close()


async def specialist(session: aiohttp.ClientSession, url: str, name: str) -> Client:
    async with session.post(url + "api/login", json={"name": name, "password": PASSWORD}) as res:
        assert res.status == 200
    return Client(await session.ws_connect(url + "ws"))


async def station(session: aiohttp.ClientSession, url: str, token: str) -> Client:
    return Client(await session.ws_connect(url + "ws", headers={"Authorization": f"Bearer {token}"}))


async def test_claim_decline_claim_next_and_transfer(clinic: tuple[str, dict[str, str]]) -> None:
    url, tokens = clinic
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as ana_http, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as ben_http, \
            aiohttp.ClientSession() as station_http:
        ana = await specialist(ana_http, url, "ana")
        ben = await specialist(ben_http, url, "ben")
        north = await station(station_http, url, tokens["north"])
        south = await station(station_http, url, tokens["south"])
        await north.send(type="request_consult", priority="routine", reason="rash")
        routine = (await north.next("consult_requested"))["consult"]
        await south.send(type="request_consult", priority="emergency", reason="seizure")
        emergency = (await south.next("consult_requested"))["consult"]
        # The emergency goes first although it came second; two specialists online share the queue.
        first = await south.next("queue_position")
        assert (first["position"], first["estimate_s"]) == (1, 150.0)
        second = await north.next("queue_position", lambda m: m["position"] == 2)
        assert second["estimate_s"] == 300.0
        room = await ana.next("waiting_room", lambda m: len(m["consults"]) == 2)
        assert [c["id"] for c in room["consults"]] == [emergency["id"], routine["id"]]
        assert room["staff"] == ["ana", "ben"]

        await ana.send(type="claim_next")
        claimed = (await ana.next("claimed"))["consult"]
        assert (claimed["id"], claimed["state"], claimed["lead"]) == (emergency["id"], "claimed", "ana")
        # Claimed by ana: ben can neither claim nor join it; claim_next gives ben the routine one.
        await ben.send(type="join", consult=emergency["id"])
        assert (await ben.next("error"))["code"] == "bad_transition"
        await ben.send(type="claim_next")
        assert (await ben.next("claimed"))["consult"]["id"] == routine["id"]
        await ben.send(type="claim_next")
        assert (await ben.next("error"))["code"] == "no_consult"
        # Ben declines: the routine consult is waiting again, in its old place.
        await ben.send(type="decline", consult=routine["id"])
        await ben.next("declined")
        await north.next("queue_position", lambda m: m["position"] == 1)
        await ana.send(type="decline", consult=routine["id"])
        assert (await ana.next("error"))["code"] == "bad_transition"

        # Ana goes live with the emergency, then hands it to ben.
        await ana.send(type="join", consult=emergency["id"])
        assert (await ana.next("joined"))["consult"]["state"] == "live"
        await south.next("peer_joined")
        await ana.send(type="transfer", consult=emergency["id"], to="nobody-here")
        assert (await ana.next("error"))["code"] == "bad_field"
        await ana.send(type="transfer", consult=emergency["id"], to="ben")
        assert (await ana.next("transferred"))["consult"]["state"] == "transferred"
        offer = await ben.next("transfer_offered")
        assert (offer["consult"]["id"], offer["from"]) == (emergency["id"], "ana")
        await south.next("peer_left")
        # Only ben may take the transfer; ana's claim_next gets the routine consult instead.
        await ana.send(type="claim", consult=emergency["id"])
        assert (await ana.next("error"))["code"] == "bad_transition"
        await ana.send(type="claim_next")
        assert (await ana.next("claimed"))["consult"]["id"] == routine["id"]
        await ben.send(type="join", consult=emergency["id"])
        joined = (await ben.next("joined"))["consult"]
        assert (joined["state"], joined["lead"], joined["transfer_to"]) == ("live", "ben", None)
        assert (await south.next("peer_joined"))["peer"]["name"] == "ben"
        await ben.send(type="end", consult=emergency["id"])
        await south.next("consult_ended")
        await ana.ws.close()
        # Ana's unjoined claim goes back to the queue when she leaves.
        room = await ben.next("waiting_room", lambda m: [c["state"] for c in m["consults"]] == ["waiting"])
        assert room["consults"][0]["id"] == routine["id"] and room["consults"][0]["lead"] is None
