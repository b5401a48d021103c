"""Station record ingestion on a real server over SQLite and PostgreSQL: deduplication, codes for
bad input, no writing into another station's consult, the record, FHIR and summary built from it."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from devices.reading import Reading
from signaling.accounts import Role
from signaling.app import accounts_key, create_app, store_key
from signaling.config import ServerConfig
from signaling.station_records import MAX_ITEMS, station_records
from signaling.store import Store
from tests.conftest import SPECIALIST
from tests.signaling.helpers import logged_in

URL = "api/station/records"


@dataclass
class Ingest:
    url: str
    store: Store
    tokens: dict[str, str]  # station -> bearer token
    consults: dict[str, str]  # station -> its consult id
    answer_encoding: str | None = None

    async def post(self, station: str, body: bytes | Any, *, gzipped: bool = False) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[station]}", "Content-Type": "application/json"}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        if gzipped:
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        async with aiohttp.ClientSession() as session, session.post(self.url + URL, data=data, headers=headers) as res:
            self.answer_encoding = res.headers.get("Content-Encoding")
            return res.status, await res.json()

    async def rows(self) -> int:
        async with self.store.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(station_records))).scalar_one())


@pytest.fixture
async def ingest(database_url: str, tmp_path: Path) -> AsyncIterator[Ingest]:
    app = create_app(ServerConfig(data_dir=tmp_path / "data", database_url=database_url))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        accounts, store = app[accounts_key], app[store_key]
        await accounts.create_user(*SPECIALIST, Role.SPECIALIST)
        tokens = {name: await accounts.create_station_token(name) for name in ("clinic-1", "clinic-2")}
        consults = {}
        for name in tokens:
            consults[name] = str(uuid.uuid4())
            await store.insert_consult({"id": consults[name], "station_id": name, "priority": "routine",
                                        "reason": "check", "state": "waiting"}, name)
        yield Ingest(str(server.make_url("/")), store, tokens, consults)
    finally:
        await server.close()


def reading(at: float, value: float = 97.0, kind: str = "spo2", unit: str = "%") -> dict[str, Any]:
    return {"kind": kind, "value": value, "unit": unit, "time": at, "source": "contec-v7:sim"}


def item(kind: str, body: dict[str, Any], consult: str | None) -> dict[str, Any]:
    """An upload item as a station sends it: a reading without its key (the server derives it)."""
    out = {"kind": kind, "consult": consult, "body": body}
    return out if kind == "reading" else {"key": uuid.uuid4().hex, **out}


def key(item: dict[str, Any]) -> str:
    return str(item["key"]) if "key" in item else Reading.from_json(item["body"]).content_key()


async def test_items_are_held_once_however_often_they_are_sent(ingest: Ingest) -> None:
    consult = ingest.consults["clinic-1"]
    now = time.time()
    items = [item("reading", reading(now - 30 + i), consult) for i in range(10)]
    items += [item("chat", {"from": "doctor", "text": "Any chest pain?", "time": now - 5}, consult),
              item("chat", {"from": "clinic-1", "text": "No.", "time": now - 4}, consult),
              item("note", {"text": "Nurse: patient anxious", "time": now - 3}, consult),
              item("reading", reading(now - 2, 120.0, "pulse_rate", "/min"), None)]  # before any consult
    items[0]["key"] = key(items[0])  # a reading may carry its key: the right one
    status, answer = await ingest.post("clinic-1", {"items": items}, gzipped=True)
    assert status == 200 and answer == {"held": list(range(len(items))), "refused": []}
    assert ingest.answer_encoding in ("gzip", "deflate")  # the answer is compressed too
    # The acknowledgement was lost: the station sends everything again, overlapping a new item.
    extra = item("reading", reading(now - 1, 98.0), consult)
    status, answer = await ingest.post("clinic-1", {"items": [extra, *items[5:], items[0], extra]})
    assert status == 200 and answer == {"held": list(range(len(items) - 5 + 3)), "refused": []}
    assert await ingest.rows() == len(items) + 1
    # The same key from another station is that station's own record.
    other = dict(items[13], consult=None)
    assert (await ingest.post("clinic-2", {"items": [other]}))[1] == {"held": [0], "refused": []}
    assert await ingest.rows() == len(items) + 2

    doctor, _ = await logged_in(ingest.url, *SPECIALIST)
    async with doctor:
        async with doctor.get(ingest.url + f"api/consults/{consult}") as res:
            record = await res.json()
        async with doctor.get(ingest.url + f"api/consults/{consult}/fhir") as res:
            bundle = await res.json()
        async with doctor.get(ingest.url + f"api/consults/{consult}/summary") as res:
            page = await res.text()
    assert [r["key"] for r in record["readings"]] == [key(i) for i in items[:10]] + [key(extra)]
    assert [(c["from"], c["text"]) for c in record["chat"]] == [("doctor", "Any chest pain?"), ("clinic-1", "No.")]
    assert [(n["from"], n["text"]) for n in record["notes"]] == [("clinic-1", "Nurse: patient anxious")]
    assert len(bundle["entry"]) == 11
    assert {e["resource"]["valueQuantity"]["value"] for e in bundle["entry"]} == {97.0, 98.0}
    assert "11 readings" in page and "Nurse: patient anxious" in page and "Any chest pain?" in page


async def test_bad_items_are_refused_with_codes_and_good_ones_kept(ingest: Ingest) -> None:
    consult = ingest.consults["clinic-1"]
    now = time.time()
    good = item("reading", reading(now), consult)
    bad = {
        "implausible": item("reading", reading(now, 250.0), consult),
        "nan": item("reading", reading(now, float("nan")), consult),
        "string value": item("reading", {**reading(now), "value": "97"}, consult),
        "unknown kind": item("reading", reading(now, kind="mood"), consult),
        "no unit": item("reading", {k: v for k, v in reading(now).items() if k != "unit"}, consult),
        "value and absent": item("reading", {**reading(now), "absent": "nan"}, consult),
        "bool time": item("reading", {**reading(now), "time": True}, consult),
        "long text": item("note", {"text": "x" * 2001, "time": now}, consult),
        "empty chat": item("chat", {"from": "doctor", "text": "", "time": now}, consult),
        "anonymous chat": item("chat", {"text": "hi", "time": now}, consult),
        "bad key": {**item("note", {"text": "hi", "time": now}, consult), "key": "../../etc"},
        "no key": {k: v for k, v in item("chat", {"from": "doctor", "text": "hi", "time": now}, consult).items()
                   if k != "key"},
        "wrong reading key": {**item("reading", reading(now, 96.0), consult), "key": uuid.uuid4().hex},
        "bad kind": item("video", {"text": "hi", "time": now}, consult),
        "body not object": {**item("note", {}, consult), "body": [1, 2]},
        "unknown consult": item("note", {"text": "hi", "time": now}, str(uuid.uuid4())),
        "another station's consult": item("note", {"text": "hi", "time": now}, ingest.consults["clinic-2"]),
    }
    status, answer = await ingest.post("clinic-1", {"items": [good, *bad.values(), "not an item"]})
    assert status == 200 and answer["held"] == [0]
    codes = {r["index"]: r["code"] for r in answer["refused"]}
    expected = {name: "bad_field" for name in bad} | {
        "implausible": "implausible", "another station's consult": "not_member", "unknown consult": "not_member"}
    assert codes == {i: expected[name] for i, name in enumerate(bad, start=1)} | {len(bad) + 1: "bad_field"}
    assert all(r["message"] for r in answer["refused"])
    assert await ingest.rows() == 1

    assert await ingest.post("clinic-1", b"{not json") == (400, {"error": {
        "code": "bad_json", "message": "send JSON (gzip allowed)"}})
    assert (await ingest.post("clinic-1", b"\x1f\x8b garbage", gzipped=False))[0] == 400
    status, answer = await ingest.post("clinic-1", {"things": []})
    assert (status, answer["error"]["code"]) == (400, "bad_field")
    status, answer = await ingest.post("clinic-1", {"items": [good] * (MAX_ITEMS + 1)})
    assert (status, answer["error"]["code"]) == (413, "too_large")
    assert await ingest.rows() == 1
    # Still serving after all that.
    assert (await ingest.post("clinic-1", {"items": [good]}))[1] == {"held": [0], "refused": []}


async def test_a_corrupt_gzip_body_is_refused(ingest: Ingest) -> None:
    headers = {"Authorization": f"Bearer {ingest.tokens['clinic-1']}", "Content-Type": "application/json",
               "Content-Encoding": "gzip"}
    async with aiohttp.ClientSession() as session:
        async with session.post(ingest.url + URL, data=b"\x1f\x8b\x08\x00 definitely not deflate",
                                headers=headers) as res:
            assert res.status == 400
            assert (await res.json())["error"]["code"] == "bad_json"
        async with session.post(ingest.url + URL, data=gzip.compress(b"\0" * (64 * 1024 * 1024), 9),
                                headers=headers) as res:  # a 64 MiB bomb in a 64 KiB body
            assert res.status == 413
            assert (await res.json())["error"]["code"] == "too_large"
