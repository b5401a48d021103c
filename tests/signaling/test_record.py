"""The consult record through the REST API of a real server: record, FHIR Bundle, summary, audit."""

from __future__ import annotations

import time

import aiohttp

from signaling.accounts import Role
from signaling.app import accounts_key
from tests.conftest import Server
from tests.signaling.helpers import logged_in, next_of

ADMIN = ("root", "admin password")


def vitals(at: float) -> list[dict]:
    return [
        {"kind": "spo2", "value": 91.0, "unit": "%", "time": at - 20, "source": "contec-v7:sim"},
        {"kind": "spo2", "value": 94.0, "unit": "%", "time": at - 10, "source": "contec-v7:sim"},
        {"kind": "pulse_rate", "value": 112.0, "unit": "/min", "time": at - 10, "source": "contec-v7:sim"},
        {"kind": "systolic", "value": 142.0, "unit": "mmHg", "time": at - 5, "source": "visomat-bp:sim"},
        {"kind": "diastolic", "value": 91.0, "unit": "mmHg", "time": at - 5, "source": "visomat-bp:sim"},
        {"kind": "spo2", "value": 250.0, "unit": "%", "time": at, "source": "garbage"},  # impossible: not recorded
    ]


async def run_consult(server: Server) -> str:
    """Station asks with vitals, the specialist joins, both leave notes, the specialist ends it."""
    doctor, _ = await logged_in(server.url, *server.specialist)
    async with doctor, aiohttp.ClientSession() as http, \
            http.ws_connect(server.url + "ws", headers={"Authorization": f"Bearer {server.station_token}"}) as station, \
            doctor.ws_connect(server.url + "ws") as ws:
        await next_of(station, "welcome")
        await station.send_json({"type": "request_consult", "priority": "urgent", "reason": "breathless",
                                 "vitals": vitals(time.time())})
        consult = (await next_of(station, "consult_requested"))["consult"]["id"]
        await ws.send_json({"type": "join", "consult": consult})
        await next_of(ws, "joined")
        await ws.send_json({"type": "note", "consult": consult, "text": "Wheeze both sides; salbutamol given."})
        await next_of(ws, "noted")
        await station.send_json({"type": "note", "consult": consult, "text": "Nurse: patient calmer"})
        await next_of(station, "noted")
        await ws.send_json({"type": "note", "consult": consult, "text": "   "})
        assert (await next_of(ws, "error"))["code"] == "bad_field"
        await ws.send_json({"type": "end", "consult": consult})
        await next_of(station, "consult_ended")
    return consult


async def test_record_fhir_summary_and_audit(server: Server) -> None:
    consult = await run_consult(server)
    await server.app[accounts_key].create_user(*ADMIN, Role.ADMIN)  # type: ignore[index]
    doctor, _ = await logged_in(server.url, *server.specialist)
    async with doctor:
        async with doctor.get(server.url + f"api/consults/{consult}") as res:
            assert res.status == 200
            record = await res.json()
        assert record["consult"]["state"] == "ended" and record["consult"]["lead"] == "doctor"
        [stay] = [m for m in record["members"] if m["name"] == "doctor"]
        assert stay["role"] == "specialist" and stay["left"] >= stay["joined"]
        assert [n["text"] for n in record["notes"]] == ["Wheeze both sides; salbutamol given.", "Nurse: patient calmer"]
        assert [n["from"] for n in record["notes"]] == ["doctor", "clinic-1"]
        assert [r["kind"] for r in record["readings"]] == ["spo2", "spo2", "pulse_rate", "systolic", "diastolic"]
        states = [e["body"]["state"] for e in record["timeline"] if e["kind"] == "state"]
        assert states == ["requested", "waiting", "claimed", "live", "ended"]

        async with doctor.get(server.url + f"api/consults/{consult}/fhir") as res:
            assert res.status == 200 and res.content_type == "application/fhir+json"
            bundle = await res.json(content_type=None)
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
        codes = sorted(e["resource"]["code"]["coding"][0]["code"] for e in bundle["entry"])
        assert codes == sorted(["59408-5", "59408-5", "8867-4", "85354-9"])  # SpO2 x2, pulse, BP panel

        async with doctor.get(server.url + f"api/consults/{consult}/summary") as res:
            assert res.status == 200 and res.content_type == "text/html"
            page = await res.text()
        assert "breathless" in page and 'data-kind="spo2"' in page and 'data-kind="systolic"' in page
        assert "salbutamol" in page

        async with doctor.get(server.url + "api/consults?state=ended&limit=5") as res:
            assert [c["id"] for c in (await res.json())["consults"]] == [consult]
        for query, code in (("?state=bogus", "bad_field"), ("?limit=0", "bad_field"), ("?limit=x", "bad_field")):
            async with doctor.get(server.url + "api/consults" + query) as res:
                assert res.status == 400 and (await res.json())["error"]["code"] == code
        async with doctor.get(server.url + "api/consults/no-such-consult") as res:
            assert res.status == 404 and (await res.json())["error"]["code"] == "no_consult"

    admin, _ = await logged_in(server.url, *ADMIN)
    async with admin, admin.get(server.url + f"api/audit?consult={consult}") as res:
        entries = (await res.json())["entries"]
    assert [(e["actor"], e["action"]) for e in entries] == [
        ("doctor", "join"), ("doctor", "view"), ("doctor", "export"), ("doctor", "view")]
    assert [e["detail"] for e in entries[1:]] == ['{"what":"record"}', '{"entries":4,"what":"fhir"}',
                                                  '{"what":"summary"}']
