"""Clients of a real server for the signaling tests: logged-in HTTP sessions and WebSockets."""

from __future__ import annotations

from typing import Any

import aiohttp


async def logged_in(url: str, name: str, password: str) -> tuple[aiohttp.ClientSession, str]:
    """A session with the login cookie (the jar accepts cookies from 127.0.0.1) and its CSRF token."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post(url + "api/login", json={"name": name, "password": password}) as res:
        assert res.status == 200, await res.text()
        return session, (await res.json())["csrf"]


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` (others are skipped; a server error is a failure)."""
    while True:
        msg = await ws.receive_json(timeout=20)
        if msg["type"] == kind:
            return msg
        assert msg["type"] != "error" or kind == "error", msg
