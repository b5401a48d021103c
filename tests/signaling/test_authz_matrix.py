"""The authorisation matrix: every HTTP route and every WebSocket message type against every role.

The tables below are the design, written out; the test checks them against a running server and
fails when a route or message type exists that the tables do not cover.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from signaling.accounts import Role
from signaling.app import accounts_key
from signaling.messages import SCHEMA
from tests.conftest import Server
from tests.signaling.helpers import logged_in, next_of

ROLES = ("admin", "specialist", "observer", "station", "none")
USERS = {"admin": ("root", "admin password"), "observer": ("student", "observer password")}
OK = "allowed"  # reaches the handler: any answer but 401/403
ALL = {role: 200 for role in ROLES}
SIGNED_IN = {"admin": OK, "specialist": OK, "observer": OK, "station": OK, "none": 401}
STAFF = {"admin": 200, "specialist": 200, "observer": 200, "station": 403, "none": 401}
STAFF_ANY = {"admin": OK, "specialist": OK, "observer": OK, "station": 403, "none": 401}
STATION_ONLY = {"admin": 403, "specialist": 403, "observer": 403, "station": OK, "none": 401}

# (method, route as registered, URL to call, body) -> expected status per role
HTTP: dict[tuple[str, str], tuple[str, Any, dict[str, Any]]] = {
    ("GET", "/"): ("/", None, ALL),
    ("GET", "/static"): ("/static/app.js", None, ALL),
    ("GET", "/healthz"): ("/healthz", None, ALL),
    ("GET", "/metrics"): ("/metrics", None, ALL),
    ("GET", "/api/openapi.json"): ("/api/openapi.json", None, ALL),
    ("POST", "/api/login"): ("/api/login", {}, {role: 400 for role in ROLES}),
    ("POST", "/api/logout"): ("/api/logout", {}, ALL),
    ("GET", "/api/me"): ("/api/me", None, {**STAFF, "station": 401}),
    ("GET", "/api/consults"): ("/api/consults", None, STAFF),
    ("GET", "/api/consults/{consult}"): ("/api/consults/{consult}", None, STAFF),
    ("GET", "/api/consults/{consult}/fhir"): ("/api/consults/{consult}/fhir", None, STAFF),
    ("GET", "/api/consults/{consult}/summary"): ("/api/consults/{consult}/summary", None, STAFF),
    ("GET", "/api/consults/{consult}/stills"): ("/api/consults/{consult}/stills", None, STAFF_ANY),
    ("GET", "/api/audit"): ("/api/audit", None, {**{r: 403 for r in ROLES}, "admin": 200, "none": 401}),
    ("GET", "/api/linkcheck/ping"): ("/api/linkcheck/ping", None, SIGNED_IN),
    ("POST", "/api/linkcheck/upload"): ("/api/linkcheck/upload", {}, SIGNED_IN),
    ("GET", "/api/linkcheck/download"): ("/api/linkcheck/download?bytes=16", None, SIGNED_IN),
    ("POST", "/api/stills"): ("/api/stills", {}, STATION_ONLY),
    ("PATCH", "/api/stills/{id}"): ("/api/stills/" + "0" * 32, {}, STATION_ONLY),
    ("POST", "/api/station/records"): ("/api/station/records", {}, STATION_ONLY),
    ("GET", "/api/stills/{id}"): ("/api/stills/" + "0" * 32, None, {**STAFF_ANY, "station": OK}),
    ("GET", "/ws"): ("/ws", None, {}),  # the handshake is checked below, per message type
}

SPECIALISTS = {"specialist", "admin"}
EVERYONE = {"admin", "specialist", "observer", "station"}
# message type -> the roles that may send it
MESSAGES: dict[str, set[str]] = {
    "ping": EVERYONE, "signal": EVERYONE, "leave": EVERYONE,
    "request_consult": {"station"}, "cancel_consult": {"station"},
    "join": SPECIALISTS, "claim": SPECIALISTS, "claim_next": SPECIALISTS, "decline": SPECIALISTS,
    "transfer": SPECIALISTS, "invite": SPECIALISTS, "end": SPECIALISTS,
    "observe": SPECIALISTS | {"observer"},
    "note": SPECIALISTS | {"station"},
}


@pytest.fixture
async def clients(server: Server) -> AsyncIterator[dict[str, tuple[aiohttp.ClientSession, dict[str, str]]]]:
    accounts = server.app[accounts_key]  # type: ignore[index]
    await accounts.create_user(*USERS["admin"], Role.ADMIN)
    await accounts.create_user(*USERS["observer"], Role.OBSERVER)
    out: dict[str, tuple[aiohttp.ClientSession, dict[str, str]]] = {}
    for role, (name, password) in {**USERS, "specialist": server.specialist}.items():
        session, csrf = await logged_in(server.url, name, password)
        out[role] = (session, {"X-CSRF-Token": csrf})
    out["station"] = (aiohttp.ClientSession(), {"Authorization": f"Bearer {server.station_token}"})
    out["none"] = (aiohttp.ClientSession(), {})
    try:
        yield out
    finally:
        for session, _ in out.values():
            await session.close()


async def open_consult(server: Server, station: aiohttp.ClientSession, headers: dict[str, str]) -> str:
    ws = await station.ws_connect(server.url + "ws", headers=headers)
    await next_of(ws, "welcome")
    await ws.send_json({"type": "request_consult", "priority": "routine", "reason": "matrix"})
    consult = (await next_of(ws, "consult_requested"))["consult"]["id"]
    await ws.close()  # the request is abandoned, and stays in the record
    return consult


def registered_routes(server: Server) -> set[tuple[str, str]]:
    return {(route.method, route.resource.canonical) for route in server.app.router.routes()  # type: ignore[attr-defined]
            if route.method != "HEAD"}


async def test_every_http_route_against_every_role(server: Server, clients) -> None:
    assert registered_routes(server) == set(HTTP), "a route is missing from (or gone from) the matrix"
    consult = await open_consult(server, *clients["station"])
    failures = []
    for (method, _), (path, body, expected) in sorted(HTTP.items()):
        if path == "/ws":
            continue
        for role in ROLES:
            session, headers = clients[role]
            if path == "/api/logout" and role in ("admin", "specialist", "observer"):
                continue  # logging out would end the session the other rows use; tested last
            url = server.url + path.lstrip("/").format(consult=consult)
            async with session.request(method, url, json=body, headers=headers) as res:
                status = res.status
                if status in (401, 403):
                    assert (await res.json())["error"]["code"] in ("unauthorized", "forbidden")
            want = expected[role]
            if (want == OK and status in (401, 403)) or (want != OK and status != want):
                failures.append(f"{method} {path} as {role}: {status}, designed {want}")
    for role in ("admin", "specialist", "observer"):
        session, headers = clients[role]
        async with session.post(server.url + "api/logout", json={}, headers=headers) as res:
            if res.status != 200:
                failures.append(f"POST /api/logout as {role}: {res.status}")
    assert not failures, "\n".join(failures)


async def reply_to(ws: aiohttp.ClientWebSocketResponse, kind: str) -> list[dict[str, Any]]:
    """Send ``{"type": kind}`` (no fields) and a ping; return the errors that came before the pong."""
    await ws.send_json({"type": kind})
    await ws.send_json({"type": "ping"})
    errors, pongs = [], 2 if kind == "ping" else 1
    while pongs:
        msg = await ws.receive_json(timeout=20)
        if msg["type"] == "pong":
            pongs -= 1
        elif msg["type"] == "error":
            errors.append(msg)
    return errors


async def test_every_message_type_against_every_role(server: Server, clients) -> None:
    assert set(MESSAGES) == set(SCHEMA), "a message type is missing from (or gone from) the matrix"
    failures = []
    for role in ROLES:
        session, headers = clients[role]
        async with session.ws_connect(server.url + "ws", headers=headers) as ws:
            first = await ws.receive_json(timeout=20)
            if role == "none":
                assert first["code"] == "unauthorized"
                await ws.receive(timeout=20)
                assert ws.close_code == 4401
                continue
            assert first["type"] == "welcome" and first["role"] == role
            for kind, allowed in sorted(MESSAGES.items()):
                forbidden = any(e["code"] == "forbidden" for e in await reply_to(ws, kind))
                if forbidden == (role in allowed):
                    failures.append(f"{kind} as {role}: {'refused' if forbidden else 'accepted'}, "
                                    f"designed {'allowed' if role in allowed else 'refused'}")
    assert not failures, "\n".join(failures)
