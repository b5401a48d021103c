"""Accounts against a real server: argon2 hashes, revocable station tokens, cookies, CSRF, throttling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from signaling.accounts import Role
from signaling.app import accounts_key, create_app, store_key
from signaling.config import ServerConfig
from signaling.store import station_tokens, users
from tests.conftest import Server


def jar_session() -> aiohttp.ClientSession:
    # aiohttp refuses cookies from bare IP addresses unless the jar is "unsafe"; browsers accept them.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login(session: aiohttp.ClientSession, url: str, name: str, password: str) -> aiohttp.ClientResponse:
    async with session.post(url + "api/login", json={"name": name, "password": password}) as res:
        await res.read()
        return res


async def test_passwords_are_argon2_and_tokens_are_stored_hashed(server: Server) -> None:
    async with server.app[store_key].engine.connect() as conn:
        password_hash = (await conn.execute(select(users.c.password_hash))).scalar_one()
        token_hashes = (await conn.execute(select(station_tokens.c.token_hash))).scalars().all()
    assert password_hash.startswith("$argon2id$")
    assert server.specialist[1] not in password_hash
    assert token_hashes and server.station_token not in token_hashes


async def test_revoked_station_token_is_refused(server: Server, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {server.station_token}"}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(server.url + "ws", headers=headers) as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "welcome"
        data_dir = tmp_path / "data"  # where the server fixture keeps its SQLite database
        command = [sys.executable, "-m", "station.cli", "admin", "--data-dir", str(data_dir),
                   "revoke-station-token", "clinic-1"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "revoked 1 token" in done.stdout
        again = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert again.returncode == 1  # nothing left to revoke
        async with session.ws_connect(server.url + "ws", headers=headers) as ws:
            assert (await ws.receive_json(timeout=5))["code"] == "unauthorized"
            await ws.receive(timeout=5)
        assert ws.close_code == 4401


async def test_session_cookie_flags_and_csrf_on_logout(server: Server) -> None:
    async with jar_session() as session:
        res = await login(session, server.url, *server.specialist)
        assert res.status == 200
        cookie = res.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
        csrf = (await (await session.get(server.url + "api/me")).json())["csrf"]
        async with session.post(server.url + "api/logout") as res:
            assert res.status == 403
            assert (await res.json())["error"]["code"] == "csrf"
        async with session.post(server.url + "api/logout", headers={"X-CSRF-Token": "forged"}) as res:
            assert res.status == 403
        async with session.get(server.url + "api/me") as res:
            assert res.status == 200  # the refused logouts changed nothing
        async with session.post(server.url + "api/logout", headers={"X-CSRF-Token": csrf}) as res:
            assert res.status == 200
        async with session.get(server.url + "api/me") as res:
            assert res.status == 401


async def test_secure_cookie_when_configured(tmp_path: Path) -> None:
    app = create_app(ServerConfig(data_dir=tmp_path, secure_cookies=True))
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        await app[accounts_key].create_user("nurse", "pass word", Role.OBSERVER)
        async with jar_session() as session:
            res = await login(session, str(test_server.make_url("/")), "nurse", "pass word")
            assert res.status == 200 and "Secure" in res.headers["Set-Cookie"]
    finally:
        await test_server.close()


async def test_websocket_from_a_foreign_origin_is_refused(server: Server) -> None:
    async with jar_session() as session:
        await login(session, server.url, *server.specialist)
        async with session.ws_connect(server.url + "ws", headers={"Origin": "https://evil.example"}) as ws:
            assert (await ws.receive_json(timeout=5))["code"] == "unauthorized"
            await ws.receive(timeout=5)
        assert ws.close_code == 4401
        host = server.url.split("://", 1)[1].rstrip("/")
        async with session.ws_connect(server.url + "ws", headers={"Origin": f"http://{host}"}) as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "welcome"


async def test_login_throttling_per_user_and_per_address(tmp_path: Path) -> None:
    app = create_app(ServerConfig(data_dir=tmp_path, login_failure_burst=2, login_failures_per_s=1 / 600))
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    url = str(test_server.make_url("/"))
    try:
        for name in ("alice", "bob", "carol"):
            await app[accounts_key].create_user(name, "right password", Role.SPECIALIST)
        async with jar_session() as session:
            for _ in range(2):
                assert (await login(session, url, "alice", "wrong")).status == 401
            async with session.post(url + "api/login", json={"name": "alice", "password": "right password"}) as res:
                assert res.status == 429
                assert (await res.json())["error"]["code"] == "login_throttled"
                assert int(res.headers["Retry-After"]) > 0
            # Another user from the same address still gets in...
            assert (await login(session, url, "bob", "right password")).status == 200
            # ...until the address has failed four times the per-user burst.
            for name in ("bob", "bob", "carol", "carol", "nobody", "nobody"):
                assert (await login(session, url, name, "wrong")).status == 401
            assert (await login(session, url, "carol", "right password")).status == 429
    finally:
        await test_server.close()


async def test_revoking_a_token_cuts_the_live_station_off(tmp_path: Path) -> None:
    app = create_app(ServerConfig(data_dir=tmp_path, credential_check_s=0.2))
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        accounts = app[accounts_key]
        revoked, kept = await accounts.create_station_token("north"), await accounts.create_station_token("south")
        async with aiohttp.ClientSession() as session:
            north = await session.ws_connect(test_server.make_url("/ws"), headers={"Authorization": f"Bearer {revoked}"})
            south = await session.ws_connect(test_server.make_url("/ws"), headers={"Authorization": f"Bearer {kept}"})
            for ws in (north, south):
                assert (await ws.receive_json(timeout=5))["type"] == "welcome"
            assert await accounts.revoke_station_tokens("north") == 1
            while (msg := await north.receive(timeout=10)).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                pass
            assert north.close_code == 4401
            await south.send_json({"type": "ping"})
            while (await south.receive_json(timeout=5))["type"] != "pong":
                pass  # the other station's connection is untouched
            await south.close()
    finally:
        await test_server.close()
