"""The aiohttp application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import WSMsgType, web

from signaling.accounts import Accounts, Role
from signaling.config import ServerConfig
from signaling.hub import Hub
from signaling.store import Store

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).parent / "web"
SESSION_COOKIE = "farlink_session"
CLOSE_UNAUTHORIZED = 4401
# The transport-level cap sits well above the schema's cap so that an oversize message still
# reaches the hub and gets an error reply instead of a dropped connection.
TRANSPORT_MAX_BYTES = 4 * 1024 * 1024

config_key = web.AppKey("config", ServerConfig)
store_key = web.AppKey("store", Store)
accounts_key = web.AppKey("accounts", Accounts)
hub_key = web.AppKey("hub", Hub)


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "index.html")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "members": len(request.app[hub_key].members)})


async def login(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        name, password = str(body["name"]), str(body["password"])
    except (ValueError, KeyError, TypeError):
        return error(400, "bad_request", "send JSON with name and password")
    session = await request.app[accounts_key].login(name, password)
    if session is None:
        return error(401, "bad_credentials", "wrong user name or password")
    principal = request.app[accounts_key].session(session)
    assert principal is not None
    response = web.json_response({"name": principal.name, "role": principal.role.value})
    response.set_cookie(
        SESSION_COOKIE, session, httponly=True, samesite="Strict", secure=request.app[config_key].secure_cookies
    )
    return response


async def logout(request: web.Request) -> web.Response:
    request.app[accounts_key].logout(request.cookies.get(SESSION_COOKIE, ""))
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE)
    return response


async def me(request: web.Request) -> web.Response:
    principal = request.app[accounts_key].session(request.cookies.get(SESSION_COOKIE))
    if principal is None:
        return error(401, "unauthorized", "log in first")
    return web.json_response({"name": principal.name, "role": principal.role.value})


async def websocket(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    ws = web.WebSocketResponse(heartbeat=app[config_key].heartbeat_s, max_msg_size=TRANSPORT_MAX_BYTES)
    await ws.prepare(request)
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
    principal = (
        await app[accounts_key].station(token) if token else app[accounts_key].session(request.cookies.get(SESSION_COOKIE))
    )
    if principal is None:
        await ws.send_json({"type": "error", "code": "unauthorized", "message": "valid credentials required"})
        await ws.close(code=CLOSE_UNAUTHORIZED, message=b"unauthorized")
        return ws
    hub = app[hub_key]
    member = hub.new_member(principal, ws)
    await hub.connect(member)
    log.info("%s %s connected as %s", principal.role, principal.name, member.id)
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await hub.handle(member, msg.data)
            elif msg.type is WSMsgType.BINARY:
                await hub.refuse(member, "bad_json", "binary frames are not accepted")
    finally:
        await hub.disconnect(member)
        log.info("%s %s disconnected", principal.role, principal.name)
    return ws


async def _state(app: web.Application) -> AsyncIterator[None]:
    config = app[config_key]
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(config.db_url)
    await store.open()
    app[store_key] = store
    app[accounts_key] = Accounts(store)
    app[hub_key] = Hub(store, config)
    yield
    for member in list(app[hub_key].members.values()):
        await member.ws.close(code=1001, message=b"server shutting down")
    await store.close()


def create_app(config: ServerConfig) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[config_key] = config
    app.cleanup_ctx.append(_state)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/me", me)
    app.router.add_get("/ws", websocket)
    app.router.add_static("/static/", WEB_DIR)
    return app


__all__ = ["create_app", "Role", "accounts_key", "hub_key", "store_key", "config_key"]
