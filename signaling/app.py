"""The aiohttp application factory."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import WSMsgType, web

from devices.errors import LocalError
from relay.session import ConsultRelay
from signaling import api, linkcheck, stills, station_records
from signaling.accounts import Accounts, LoginThrottled, Principal, Role, Session
from signaling.config import ServerConfig
from signaling.hub import Hub
from signaling.passwords import hash_token
from signaling.station_records import StationRecords
from signaling.store import Store

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
SESSION_COOKIE = "farlink_session"
CLOSE_UNAUTHORIZED = 4401
# The transport-level cap sits well above the schema's cap so that an oversize message still
# reaches the hub and gets an error reply instead of a dropped connection.
TRANSPORT_MAX_BYTES = 4 * 1024 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRINCIPAL_KEY = web.RequestKey("principal", Principal)
SESSION_KEY = web.RequestKey("session", Session)

config_key = web.AppKey("config", ServerConfig)
store_key = web.AppKey("store", Store)
accounts_key = web.AppKey("accounts", Accounts)
hub_key = web.AppKey("hub", Hub)
records_key = web.AppKey("station_records", StationRecords)


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "index.html")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "members": len(request.app[hub_key].members)})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus scrape target; it carries counts, never names (see docs/operations.md)."""
    return await request.app[hub_key].metrics.handler(request)


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


async def login(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        name, password = str(body["name"]), str(body["password"])
    except (ValueError, KeyError, TypeError):
        return error(400, "bad_request", "send JSON with name and password")
    try:
        session = await request.app[accounts_key].login(name, password, client_address(request))
    except LoginThrottled as exc:
        response = error(429, exc.code, exc.args[0])
        response.headers["Retry-After"] = str(math.ceil(exc.retry_after))
        return response
    except LocalError as exc:
        return error(401, exc.code, exc.args[0])
    principal = session.principal
    response = web.json_response({"name": principal.name, "role": principal.role.value, "csrf": session.csrf})
    response.set_cookie(
        SESSION_COOKIE, session.id, httponly=True, samesite="Strict", path="/",
        secure=request.secure or request.app[config_key].secure_cookies, max_age=Accounts.SESSION_TTL_S,
    )
    return response


async def logout(request: web.Request) -> web.Response:
    session = request.get(SESSION_KEY)
    if session is not None:
        await request.app[accounts_key].logout(session.id)
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    session = request.get(SESSION_KEY)
    if session is None:
        return error(401, "unauthorized", "log in first")
    principal = session.principal
    return web.json_response({"name": principal.name, "role": principal.role.value, "csrf": session.csrf})


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Routes that change state without a session: they need no CSRF token (login makes the session).
CSRF_EXEMPT = frozenset({"/api/login"})


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve who is asking (station Bearer token or session cookie) and enforce CSRF.

    A session cookie rides along with any request the browser makes, even one a hostile page
    triggers; so a state-changing request authenticated by cookie must also carry the session's
    CSRF token in ``X-CSRF-Token``, which only our own page can read (from /api/login or /api/me).
    Bearer-token requests are not sent by browsers on their own and need no CSRF token.
    """
    accounts = request.app[accounts_key]
    auth = request.headers.get("Authorization", "")
    principal: Principal | None = None
    if auth.startswith("Bearer "):
        principal = await accounts.station(auth.removeprefix("Bearer ").strip())
    else:
        session = await accounts.session(request.cookies.get(SESSION_COOKIE))
        if session is not None:
            if (request.method in UNSAFE_METHODS and request.path not in CSRF_EXEMPT
                    and not session.csrf_ok(request.headers.get("X-CSRF-Token"))):
                return error(403, "csrf", "missing or wrong X-CSRF-Token header")
            request[SESSION_KEY] = session
            principal = session.principal
    if principal is not None:
        request[PRINCIPAL_KEY] = principal
    return await handler(request)


def principal_of(request: web.Request) -> Principal | None:
    """Who is asking, as the ``authenticate`` middleware resolved it; None if nobody known."""
    return request.get(PRINCIPAL_KEY)


def same_origin(request: web.Request) -> bool:
    """A browser always sends Origin on a WebSocket handshake; it must be this server's."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return origin.split("://", 1)[-1] == request.host


async def websocket(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    ws = web.WebSocketResponse(heartbeat=app[config_key].heartbeat_s, max_msg_size=TRANSPORT_MAX_BYTES)
    await ws.prepare(request)
    principal = request.get(PRINCIPAL_KEY)
    if principal is not None and principal.role is not Role.STATION and not same_origin(request):
        # Cross-site WebSocket hijacking: another site's page opening /ws with our cookie.
        principal = None
    if principal is None:
        await ws.send_json({"type": "error", "code": "unauthorized", "message": "valid credentials required"})
        await ws.close(code=CLOSE_UNAUTHORIZED, message=b"unauthorized")
        return ws
    hub = app[hub_key]
    member = hub.new_member(principal, ws)
    if principal.role is Role.STATION:
        member.token_hash = hash_token(request.headers["Authorization"].removeprefix("Bearer ").strip())
    await hub.connect(member)
    log.info("%s %s connected as %s", principal.role, principal.name, member.id)
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await hub.handle(member, msg.data)
            elif msg.type is WSMsgType.BINARY:
                await hub.refuse(member, "bad_json", "binary frames are not accepted")
    finally:
        # aiohttp cancels the handler when the peer's socket goes away; the bookkeeping (a claim
        # returned to the queue, an abandoned request) must still finish.
        await asyncio.shield(hub.disconnect(member))
        log.info("%s %s disconnected", principal.role, principal.name)
    return ws


async def _state(app: web.Application) -> AsyncIterator[None]:
    config = app[config_key]
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(config.db_url)
    await store.open()
    app[store_key] = store
    app[accounts_key] = Accounts(store, config.login_failures_per_s, config.login_failure_burst)
    app[hub_key] = Hub(store, config, relay=lambda consult, send, ice: ConsultRelay(
        consult, send, ice, archive=app[stills.record_key]))
    app[records_key] = StationRecords(store, on_readings=app[hub_key].push_readings)
    await app[hub_key].restore()

    async def recheck() -> None:
        while True:
            await asyncio.sleep(config.credential_check_s)
            await app[hub_key].drop_revoked()

    rechecking = asyncio.create_task(recheck())
    yield
    rechecking.cancel()
    await asyncio.gather(rechecking, return_exceptions=True)
    await store.close()


async def _shutdown(app: web.Application) -> None:
    """Before the handlers stop: the hub stops changing consults (a server going down is not
    everyone leaving; the next start takes them back), then every socket is closed."""
    await app[hub_key].close()
    for member in list(app[hub_key].members.values()):
        await member.ws.close(code=1001, message=b"server shutting down")


def create_app(config: ServerConfig) -> web.Application:
    # Request bodies stay as sent: the one route that takes gzip (station records) inflates with a cap.
    app = web.Application(client_max_size=1024 * 1024, middlewares=[authenticate],
                          handler_args={"auto_decompress": False})
    app[config_key] = config
    app.cleanup_ctx.append(_state)
    app.on_shutdown.append(_shutdown)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_get("/ws", websocket)
    app.router.add_static("/static/", WEB_DIR)
    linkcheck.setup(app, principal_of)
    stills.setup(app, principal_of, lambda: app[store_key], config.data_dir)
    station_records.setup(app, principal_of, lambda: app[records_key])
    app.router.add_get("/metrics", metrics)
    api.setup(app, principal_of, lambda: app[store_key], lambda: app[hub_key].audit)
    return app


__all__ = ["create_app", "Role", "accounts_key", "hub_key", "records_key", "store_key", "config_key"]
