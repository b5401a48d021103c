"""Invitations into a live consult, and the uplink the server assigns to the station."""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import pytest

from media import tuning
from signaling.accounts import Role
from signaling.app import accounts_key
from tests.conftest import Server
from tests.signaling.test_websocket import receive_type

COLLEAGUE = ("cardiologist", "second opinion please")
STUDENT = ("student", "watch and learn")


@pytest.fixture(autouse=True)
def untuned_afterwards() -> Iterator[None]:
    was = tuning.applied()
    yield
    if not was:
        tuning.restore()


async def login(server: Server, name: str, password: str) -> aiohttp.ClientSession:
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post(server.url + "api/login", json={"name": name, "password": password}) as res:
        assert res.status == 200
    return session


async def error_code(ws: aiohttp.ClientWebSocketResponse, message: dict) -> str:
    await ws.send_json(message)
    return (await receive_type(ws, "error"))["code"]


async def test_only_the_lead_invites_and_only_the_invited_enter(server: Server) -> None:
    accounts = server.app[accounts_key]  # type: ignore[index]
    await accounts.create_user(*COLLEAGUE, Role.SPECIALIST)
    await accounts.create_user(*STUDENT, Role.OBSERVER)
    sessions = [await login(server, *server.specialist), await login(server, *COLLEAGUE), await login(server, *STUDENT)]
    station_headers = {"Authorization": f"Bearer {server.station_token}"}
    async with sessions[0] as s0, sessions[1] as s1, sessions[2] as s2, \
            s0.ws_connect(server.url + "ws") as lead, s1.ws_connect(server.url + "ws") as colleague, \
            s2.ws_connect(server.url + "ws") as student, \
            s0.ws_connect(server.url + "ws", headers=station_headers) as station:
        await station.send_json({"type": "request_consult", "priority": "urgent", "reason": "sepsis?"})
        consult = (await receive_type(station, "consult_requested"))["consult"]["id"]
        lead_id = (await receive_type(lead, "welcome"))["member"]
        await lead.send_json({"type": "join", "consult": consult})
        await receive_type(lead, "joined")
        uplink = await receive_type(station, "uplink")
        assert [p["id"] for p in uplink["peers"]] == [lead_id]  # one viewer: straight to it

        invite = {"type": "invite", "consult": consult, "user": COLLEAGUE[0], "as": "specialist"}
        assert await error_code(colleague, {"type": "join", "consult": consult}) == "not_invited"
        assert await error_code(student, {"type": "observe", "consult": consult}) == "not_invited"
        assert await error_code(colleague, invite) == "not_member"
        assert await error_code(student, invite) == "forbidden"
        assert await error_code(lead, {**invite, "user": "nobody"}) == "not_online"
        assert await error_code(lead, {**invite, "as": "boss"}) == "bad_field"
        assert await error_code(lead, {**invite, "as": "observer"}) == "not_online"  # not an observer account

        await lead.send_json(invite)
        assert (await receive_type(lead, "invite_sent"))["user"] == COLLEAGUE[0]
        invited = await receive_type(colleague, "invited")
        assert (invited["consult"]["id"], invited["by"], invited["as"]) == (consult, server.specialist[0], "specialist")
        await colleague.send_json({"type": "join", "consult": consult})
        await receive_type(colleague, "joined")
        # Two viewers: the station now streams to the server's relay only.
        uplink = await receive_type(station, "uplink")
        assert [p["role"] for p in uplink["peers"]] == ["relay"]
        relay_id = uplink["peers"][0]["id"]
        offer = await receive_type(colleague, "signal")
        assert offer["from"] == relay_id and offer["from_role"] == "relay" and offer["data"]["kind"] == "offer"

        # The colleague is not the lead: it may not invite; an invited observer may observe.
        assert await error_code(colleague, {**invite, "user": STUDENT[0], "as": "observer"}) == "forbidden"
        await lead.send_json({**invite, "user": STUDENT[0], "as": "observer"})
        await receive_type(student, "invited")
        await student.send_json({"type": "observe", "consult": consult})
        await receive_type(student, "joined")
        assert (await receive_type(student, "signal"))["from"] == relay_id
