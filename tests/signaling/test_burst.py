"""An outbreak: 1,000 stations ask within seconds; nobody is lost, the sickest come first, no claim twice.

Runs on SQLite and on PostgreSQL (FARLINK_TEST_POSTGRES; skipped with the reason when unreachable).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from signaling.accounts import Role
from signaling.app import accounts_key, create_app, store_key
from signaling.config import ServerConfig
from signaling.consults import PRIORITY_RANK, Priority
from signaling.store import consults

STATIONS = 1000
SPECIALISTS = 8
CLAIMS_EACH = 40
PRIORITIES = [Priority.ROUTINE, Priority.URGENT, Priority.ROUTINE, Priority.EMERGENCY, Priority.URGENT]


@pytest.mark.timeout(400)  # a thousand WebSockets on a shared two-core machine
async def test_thousand_requests_in_priority_order_and_no_duplicate_claims(
        database_url: str, tmp_path: Path) -> None:
    config = ServerConfig(data_dir=tmp_path, database_url=database_url, room_publish_s=0.2,
                          messages_per_second=1000, message_burst=1000)
    app = create_app(config)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/"))
    accounts = app[accounts_key]
    tokens = [await accounts.create_station_token(f"clinic-{i:04d}") for i in range(STATIONS)]
    for i in range(SPECIALISTS):
        await accounts.create_user(f"doc{i}", "pass word", Role.SPECIALIST)
    connector = aiohttp.TCPConnector(limit=0)
    stations = aiohttp.ClientSession(connector=connector)
    doctors = [aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) for _ in range(SPECIALISTS)]
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    readers: list[asyncio.Task[None]] = []
    try:
        for i, doctor in enumerate(doctors):
            async with doctor.post(url + "api/login", json={"name": f"doc{i}", "password": "pass word"}) as res:
                assert res.status == 200
        watcher = await doctors[0].ws_connect(url + "ws")
        rooms: list[dict] = []

        async def watch() -> None:
            async for msg in watcher:  # reading also answers the server's heartbeat pings
                room = msg.json()
                if room["type"] == "waiting_room":
                    rooms.append(room)

        watching = asyncio.create_task(watch())

        async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for _ in ws:
                pass

        async def ask(i: int, token: str) -> str:
            ws = await stations.ws_connect(url + "ws", headers={"Authorization": f"Bearer {token}"})
            sockets.append(ws)
            assert (await ws.receive_json(timeout=60))["type"] == "welcome"
            await ws.send_json({"type": "request_consult", "priority": PRIORITIES[i % len(PRIORITIES)].value,
                                "reason": f"fever {i}"})
            while True:
                msg = await ws.receive_json(timeout=60)
                if msg["type"] == "consult_requested":
                    # Keep reading, as a station does: it answers the server's heartbeat pings.
                    readers.append(asyncio.create_task(drain(ws)))
                    return msg["consult"]["id"]
                assert msg["type"] != "error", msg

        started = time.monotonic()
        ids = await asyncio.gather(*(ask(i, token) for i, token in enumerate(tokens)))
        elapsed = time.monotonic() - started
        print(f"{STATIONS} consults requested and acknowledged in {elapsed:.1f} s")
        assert len(set(ids)) == STATIONS

        # All of them in the specialists' waiting room, in priority order, oldest first within one.
        for _ in range(300):
            if rooms and len(rooms[-1]["consults"]) == STATIONS:
                break
            await asyncio.sleep(0.1)
        room = rooms[-1]
        watching.cancel()
        assert {c["id"] for c in room["consults"]} == set(ids)
        keys = [(PRIORITY_RANK[Priority(c["priority"])], c["requested_at"]) for c in room["consults"]]
        assert keys == sorted(keys)
        assert room["consults"][0]["priority"] == "emergency" and room["consults"][-1]["priority"] == "routine"

        # Eight specialists claim as fast as they can, all at once.
        async def claim(doctor: aiohttp.ClientSession) -> list[str]:
            ws = await doctor.ws_connect(url + "ws")
            sockets.append(ws)
            for _ in range(CLAIMS_EACH):
                await ws.send_json({"type": "claim_next"})
            got: list[str] = []
            while len(got) < CLAIMS_EACH:
                msg = await ws.receive_json(timeout=60)
                assert msg["type"] != "error", msg
                if msg["type"] == "claimed":
                    got.append(msg["consult"]["id"])
            # Stay and keep answering heartbeats: a specialist who goes away hands the claims back.
            readers.append(asyncio.create_task(drain(ws)))
            return got

        started = time.monotonic()
        claims = [c for got in await asyncio.gather(*(claim(d) for d in doctors)) for c in got]
        print(f"{len(claims)} concurrent claims in {time.monotonic() - started:.1f} s")
        assert len(claims) == SPECIALISTS * CLAIMS_EACH
        assert len(set(claims)) == len(claims), "a consult was claimed twice"
        # What was claimed is the front of the queue: every emergency before any routine request.
        emergencies = sum(1 for i in range(STATIONS) if PRIORITIES[i % len(PRIORITIES)] is Priority.EMERGENCY)
        front = [c["id"] for c in room["consults"][:len(claims)]]
        assert set(claims) == set(front) and len(claims) > emergencies
        async with app[store_key].engine.connect() as conn:
            counts = dict((await conn.execute(
                select(consults.c.state, func.count()).group_by(consults.c.state))).all())
        assert counts == {"claimed": len(claims), "waiting": STATIONS - len(claims)}
    finally:
        for reader in readers:
            reader.cancel()
        for ws in sockets:
            await ws.close()
        await stations.close()
        for doctor in doctors:
            await doctor.close()
        await server.close()
