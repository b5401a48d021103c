"""The station's own page for clinic staff, served on localhost.

It shows what the station is doing without anyone reading logs (online or not, link quality,
each device's state and last reading, the consult, what still waits to be sent: stills, and
the outbox's backlog of readings, chat and notes) and gives the
staff the actions they need: call a specialist, check the link before calling, take a photo,
write a note for the record.

The page answers only requests addressed to a loopback host name and only JSON POSTs: a web
page the staff happen to open elsewhere cannot call a specialist through it (a cross-origin
JSON POST needs a CORS preflight this server never grants; a foreign Host header means DNS
rebinding).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from devices.errors import FarlinkError
from media.stills import encode_jpeg
from station.linkcheck import check_link
from station.runtime import ConsultPhase, Station

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
PRIORITIES = ("emergency", "urgent", "routine")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
SELF_VIEW_WIDTH = 640
MAX_NOTE = 2000

station_key = web.AppKey("station", Station)
check_lock_key = web.AppKey("check_lock", asyncio.Lock)


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def local_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    if host not in LOOPBACK_HOSTS:
        return error(403, "forbidden", "the station page answers on localhost only")
    if request.method == "POST" and request.content_type != "application/json":
        return error(415, "bad_content_type", "send JSON")
    return await handler(request)


def status(station: Station) -> dict[str, Any]:
    """Everything the page shows, in one poll."""
    bus = station.bus
    names = [source.name for source in station.setup.sources]
    names += [name for name in bus.device_state if name not in names]
    devices = []
    for name in names:
        change = bus.device_state.get(name)
        devices.append({
            "source": name,
            "state": change.state.value if change else "connecting",
            "since": change.time if change else None,
            "reason": change.reason if change else "",
            "readings": sorted((r.to_json() for (source, _), r in bus.latest.items() if source == name),
                               key=lambda r: r["kind"]),
        })
    link = station.link_check
    return {
        "station": station.name,
        "online": station.client.connected.is_set(),
        "consult": {"state": station.consult_state.value, "id": station.consult_id,
                    "position": list(station.queue_position) if station.queue_position else None},
        "link": link.to_json() if link else None,
        "devices": devices,
        "outbox": [transfer.to_json() for transfer in station.stills.pending()] if station.stills else [],
        "records": station.outbox.backlog.to_json(time.time()) if station.outbox else None,
    }


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "index.html")


async def get_status(request: web.Request) -> web.Response:
    return web.json_response(status(request.app[station_key]))


async def call(request: web.Request) -> web.Response:
    """Ask for a specialist with the staff's priority and reason."""
    station = request.app[station_key]
    try:
        body = await request.json()
        priority, reason = body["priority"], str(body.get("reason") or "").strip()
    except (ValueError, KeyError, TypeError):
        return error(400, "bad_field", "send JSON with priority and reason")
    if priority not in PRIORITIES:
        return error(400, "bad_field", "priority is emergency, urgent or routine")
    if station.consult_state is not ConsultPhase.NONE:
        return error(409, "consult_open", "a call is already open")
    if not await station.request_consult(priority, reason[:500] or "Consult requested"):
        return error(503, "offline", "the server cannot be reached; try again when the station is online")
    return web.json_response({"ok": True})


async def note(request: web.Request) -> web.Response:
    """A note for the record (the open consult's, or the station's): stored, then uploaded."""
    station = request.app[station_key]
    try:
        text = str((await request.json())["text"]).strip()
    except (ValueError, KeyError, TypeError):
        return error(400, "bad_field", "send JSON with text")
    if not 0 < len(text) <= MAX_NOTE:
        return error(400, "bad_field", f"a note has 1 to {MAX_NOTE} characters")
    if station.outbox is None:
        return error(409, "no_store", "this station has no data directory for notes")
    await station.add_note(text)
    return web.json_response({"ok": True})


async def link_check(request: web.Request) -> web.Response:
    """Measure the path to the server now; one check at a time."""
    station = request.app[station_key]
    async with request.app[check_lock_key]:
        try:
            station.link_check = await check_link(station.setup.server, station.setup.token)
        except FarlinkError as exc:
            return error(502, exc.code, str(exc.args[0]))
    return web.json_response(station.link_check.to_json())


async def self_view(request: web.Request) -> web.Response:
    frame = await request.app[station_key].snapshot()
    if frame is None:
        return error(404, "no_camera", "this station has no camera")
    body = await asyncio.to_thread(encode_jpeg, frame, SELF_VIEW_WIDTH, 70)
    return web.Response(body=body, content_type="image/jpeg", headers={"Cache-Control": "no-store"})


async def take_still(request: web.Request) -> web.Response:
    """The staff's photo button: a full-resolution still, stored first, then sent."""
    try:
        still = await request.app[station_key].take_still("staff")
    except FarlinkError as exc:
        return error(409, exc.code, str(exc.args[0]))
    return web.json_response(still.to_json())


def create_local_app(station: Station) -> web.Application:
    app = web.Application(middlewares=[local_only])
    app[station_key] = station
    app[check_lock_key] = asyncio.Lock()
    app.router.add_get("/", index)
    app.router.add_get("/api/status", get_status)
    app.router.add_post("/api/call", call)
    app.router.add_post("/api/note", note)
    app.router.add_post("/api/linkcheck", link_check)
    app.router.add_get("/api/selfview.jpg", self_view)
    app.router.add_post("/api/still", take_still)
    app.router.add_static("/static/", WEB_DIR)
    return app


async def start_local_page(station: Station, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Serve the page; return the runner (to clean up) and the URL to print."""
    runner = web.AppRunner(create_local_app(station))
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if port == 0 else port
    return runner, f"http://{'localhost' if host in ('127.0.0.1', '::1', 'localhost') else host}:{bound}/"
