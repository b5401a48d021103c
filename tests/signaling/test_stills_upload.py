"""The resumable still upload against a real server: offsets, resumption, checksum, caps, roles."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from typing import Any

import aiohttp

from signaling.app import store_key
from signaling.stills import MAX_STILL_BYTES, record_key
from tests.conftest import Server
from tests.signaling.test_websocket import specialist_session


def meta(data: bytes, **changes: Any) -> dict[str, Any]:
    base = {"id": uuid.uuid4().hex, "name": "still.jpg", "mime": "image/jpeg", "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "width": 1920, "height": 1080, "taken": 1.0,
            "by": "staff", "consult": None}
    return {**base, **changes}


def station_session(server: Server) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(headers={"Authorization": f"Bearer {server.station_token}"})


async def patch(session: aiohttp.ClientSession, server: Server, still_id: str, offset: int, body: bytes) -> tuple[int, dict]:
    async with session.patch(f"{server.url}api/stills/{still_id}", data=body,
                             headers={"Upload-Offset": str(offset)}) as res:
        return res.status, await res.json()


async def test_upload_resumes_from_the_server_offset_and_is_verified(server: Server) -> None:
    data = os.urandom(300_000)
    info = meta(data)
    async with station_session(server) as station:
        async with station.post(server.url + "api/stills", json=info) as res:
            assert res.status == 201
            assert await res.json() == {"id": info["id"], "offset": 0, "size": len(data), "complete": False}
        status, body = await patch(station, server, info["id"], 0, data[:100_000])
        assert (status, body["offset"], body["complete"]) == (200, 100_000, False)
        # The station restarts and asks again: the server remembers where it was.
        async with station.post(server.url + "api/stills", json=info) as res:
            assert res.status == 200 and (await res.json())["offset"] == 100_000
        # A stale offset is refused with the server's own offset.
        status, body = await patch(station, server, info["id"], 0, data[:10])
        assert status == 409 and body["error"]["code"] == "offset_mismatch" and body["error"]["offset"] == 100_000
        status, body = await patch(station, server, info["id"], 100_000, data[100_000:])
        assert (status, body["offset"], body["complete"]) == (200, len(data), True)
    async with await specialist_session(server) as doctor:
        async with doctor.get(f"{server.url}api/stills/{info['id']}") as res:
            assert res.status == 200
            assert hashlib.sha256(await res.read()).hexdigest() == info["sha256"]


async def test_corrupted_bytes_never_enter_the_record(server: Server) -> None:
    data = os.urandom(50_000)
    info = meta(data)
    async with station_session(server) as station:
        async with station.post(server.url + "api/stills", json=info):
            pass
        status, body = await patch(station, server, info["id"], 0, b"x" + data[1:])
        assert status == 422 and body["error"]["code"] == "checksum_mismatch" and body["error"]["offset"] == 0
        status, body = await patch(station, server, info["id"], 0, data)
        assert status == 200 and body["complete"]


async def test_bad_uploads_get_clear_codes_and_the_server_keeps_running(server: Server) -> None:
    data = os.urandom(1000)
    async with station_session(server) as station:
        async with station.post(server.url + "api/stills", json=meta(data, size=MAX_STILL_BYTES + 1)) as res:
            assert res.status == 413 and (await res.json())["error"]["code"] == "too_large"
        async with station.post(server.url + "api/stills", json=meta(data, sha256="nope")) as res:
            assert res.status == 400 and (await res.json())["error"]["code"] == "bad_field"
        async with station.post(server.url + "api/stills", data=b"\xff\x00garbage") as res:
            assert res.status == 400 and (await res.json())["error"]["code"] == "bad_json"
        info = meta(data)
        async with station.post(server.url + "api/stills", json=info):
            pass
        status, body = await patch(station, server, info["id"], 0, data + b"more")
        assert status == 413 and body["error"]["code"] == "too_large"
        async with station.post(server.url + "api/stills", json={**info, "sha256": "0" * 64}) as res:
            assert res.status == 409 and (await res.json())["error"]["code"] == "conflict"
        async with station.post(server.url + "api/stills", json=meta(data, consult="no-such-consult")) as res:
            assert res.status == 403 and (await res.json())["error"]["code"] == "not_member"
        status, body = await patch(station, server, info["id"], 0, data)  # the refused bytes left nothing behind
        assert status == 200 and body["complete"]
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.post(server.url + "api/stills", json=meta(data)) as res:
            assert res.status == 401 and (await res.json())["error"]["code"] == "unauthorized"
    async with await specialist_session(server) as doctor:
        async with doctor.get(server.url + "api/me") as res:
            csrf = (await res.json())["csrf"]
        async with doctor.post(server.url + "api/stills", json=meta(data), headers={"X-CSRF-Token": csrf}) as res:
            assert res.status == 403 and (await res.json())["error"]["code"] == "forbidden"
        async with doctor.get(f"{server.url}api/stills/{uuid.uuid4().hex}") as res:
            assert res.status == 404 and (await res.json())["error"]["code"] == "no_still"
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "healthz") as res:
            assert res.status == 200


async def test_bytes_that_arrived_before_the_link_dropped_count(server: Server) -> None:
    """The connection dies mid-request: the server keeps what arrived, the upload resumes from there."""
    data = os.urandom(400_000)
    info = meta(data)
    async with station_session(server) as station:
        async with station.post(server.url + "api/stills", json=info):
            pass
        host, port = server.url.split("//")[1].rstrip("/").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write((f"PATCH /api/stills/{info['id']} HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: Bearer {server.station_token}\r\nUpload-Offset: 0\r\n"
                      f"Content-Length: {len(data)}\r\n\r\n").encode() + data[:150_000])
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.close()  # the satellite link goes down mid-request
        await writer.wait_closed()
        async with station.post(server.url + "api/stills", json=info) as res:
            offset = (await res.json())["offset"]
        assert 0 < offset <= 150_000
        status, body = await patch(station, server, info["id"], offset, data[offset:])
        assert status == 200 and body["complete"]
    async with station_session(server) as station:
        async with station.get(f"{server.url}api/stills/{info['id']}") as res:
            assert await res.read() == data


async def test_a_still_the_relay_received_whole_enters_the_record_once_with_the_uploads_checks(
        server: Server) -> None:
    store, record = server.app[store_key], server.app[record_key]  # type: ignore[index]
    for consult_id, station_id in (("c-mine", "clinic-1"), ("c-other", "clinic-2")):
        await store.insert_consult({"id": consult_id, "station_id": station_id, "priority": "routine",
                                    "reason": "test", "state": "requested"}, station_id)
    data = os.urandom(100_000)
    info = {"type": "file", **meta(data, consult="c-mine")}  # an offer as the files channel carries it
    async with station_session(server) as station:  # part of it came over HTTP before the consult went live
        async with station.post(server.url + "api/stills", json=meta(data, id=info["id"], consult="c-mine")) as res:
            assert res.status == 201
        assert (await patch(station, server, info["id"], 0, data[:40_000]))[0] == 200
    assert await record.put("c-mine", info, data)
    assert await record.put("c-mine", info, data)  # the station offered it again: still once
    # Refused as the upload would refuse it, and nothing of it enters the record.
    assert not await record.put("c-mine", meta(data, consult="c-mine", sha256="0" * 64), data)
    assert not await record.put("c-mine", meta(data, consult="c-other"), data)  # another station's consult
    assert not await record.put("c-mine", meta(data, consult="c-mine", by="robot"), data)
    assert not await record.put("no-such-consult", meta(data), data)
    assert [row["id"] for row in await record.of_consult("c-mine")] == [info["id"]]
    assert [e["body"]["still"] for e in await store.events("c-mine") if e["kind"] == "still"] == [info["id"]]
    async with await specialist_session(server) as doctor:
        async with doctor.get(f"{server.url}api/stills/{info['id']}") as res:
            assert res.status == 200 and await res.read() == data
