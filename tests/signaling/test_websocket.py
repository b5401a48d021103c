"""The WebSocket endpoint against bad input: wrong credentials, malformed and oversize messages."""

from __future__ import annotations

import json

import aiohttp

from tests.conftest import Server


async def specialist_session(server: Server) -> aiohttp.ClientSession:
    # aiohttp refuses cookies from bare IP addresses unless the jar is "unsafe"; browsers accept them.
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    name, password = server.specialist
    async with session.post(server.url + "api/login", json={"name": name, "password": password}) as res:
        assert res.status == 200
    return session


async def receive_type(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict:
    while True:
        msg = await ws.receive_json(timeout=5)
        if msg["type"] == kind:
            return msg


async def test_websocket_without_credentials_is_refused_with_4401(server: Server) -> None:
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {"Authorization": "Bearer not-a-real-token"}):
            async with session.ws_connect(server.url + "ws", headers=headers) as ws:
                first = await ws.receive_json(timeout=5)
                assert first == {"type": "error", "code": "unauthorized", "message": "valid credentials required"}
                closing = await ws.receive(timeout=5)
                assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert ws.close_code == 4401


async def test_wrong_password_is_refused_with_a_code(server: Server) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(server.url + "api/login", json={"name": "doctor", "password": "nope"}) as res:
            assert res.status == 401
            assert (await res.json())["error"]["code"] == "bad_credentials"
        async with session.post(server.url + "api/login", data=b"\xff\xfe garbage") as res:
            assert res.status == 400
            assert (await res.json())["error"]["code"] == "bad_request"


async def test_bad_messages_get_error_replies_and_the_connection_survives(server: Server) -> None:
    session = await specialist_session(server)
    async with session, session.ws_connect(server.url + "ws") as ws:
        await receive_type(ws, "waiting_room")
        cases = [
            ("{not json", "bad_json"),
            ("[1, 2, 3]", "bad_json"),
            (json.dumps({"type": "teleport"}), "unknown_type"),
            (json.dumps({"type": "join"}), "bad_field"),
            (json.dumps({"type": "request_consult", "priority": "routine", "reason": "x"}), "forbidden"),
            (json.dumps({"type": "join", "consult": "no-such-consult"}), "no_consult"),
            (json.dumps({"type": "ping", "pad": "x" * 100_000}), "too_large"),
            (json.dumps({"type": "ping", "pad": "x" * 2_000_000}), "too_large"),
        ]
        for raw, code in cases:
            await ws.send_str(raw)
            reply = await receive_type(ws, "error")
            assert reply["code"] == code, raw[:40]
        await ws.send_bytes(b"\x00\x01")
        assert (await receive_type(ws, "error"))["code"] == "bad_json"
        await ws.send_str(json.dumps({"type": "ping"}))
        assert (await receive_type(ws, "pong"))["type"] == "pong"
    async with aiohttp.ClientSession() as probe, probe.get(server.url + "healthz") as res:
        assert res.status == 200


async def test_signals_are_relayed_only_within_one_consult(server: Server) -> None:
    session = await specialist_session(server)
    station_headers = {"Authorization": f"Bearer {server.station_token}"}
    async with session, session.ws_connect(server.url + "ws") as doctor, \
            session.ws_connect(server.url + "ws", headers=station_headers) as station:
        station_welcome = await receive_type(station, "welcome")
        doctor_welcome = await receive_type(doctor, "welcome")
        # Before any consult, nobody can signal anybody.
        await doctor.send_json({"type": "signal", "consult": "x", "to": station_welcome["member"], "data": {}})
        assert (await receive_type(doctor, "error"))["code"] == "no_consult"
        await station.send_json({"type": "request_consult", "priority": "urgent", "reason": "chest pain"})
        consult = (await receive_type(station, "consult_requested"))["consult"]
        room = await receive_type(doctor, "waiting_room")
        while not room["consults"]:
            room = await receive_type(doctor, "waiting_room")
        assert room["consults"][0]["id"] == consult["id"]
        assert room["consults"][0]["priority"] == "urgent"
        # Not yet a member: refused.
        await doctor.send_json({"type": "signal", "consult": consult["id"], "to": station_welcome["member"], "data": {}})
        assert (await receive_type(doctor, "error"))["code"] == "not_member"
        await doctor.send_json({"type": "join", "consult": consult["id"]})
        joined = await receive_type(doctor, "joined")
        assert joined["consult"]["state"] == "live"
        peer_joined = await receive_type(station, "peer_joined")
        assert peer_joined["peer"]["id"] == doctor_welcome["member"]
        await station.send_json({"type": "signal", "consult": consult["id"], "to": doctor_welcome["member"],
                                 "data": {"kind": "offer", "sdp": "v=0"}})
        relayed = await receive_type(doctor, "signal")
        assert relayed["from"] == station_welcome["member"] and relayed["data"]["sdp"] == "v=0"
        await doctor.send_json({"type": "end", "consult": consult["id"]})
        assert (await receive_type(station, "consult_ended"))["consult"] == consult["id"]
