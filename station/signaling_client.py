"""The station's WebSocket to the signaling server: authenticate, reconnect with backoff and jitter."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
#: a TCP handshake takes one round trip (1.5 s on BGAN) plus SYN retransmissions on loss
CONNECT_TIMEOUT_S = 5.0


class SignalingClient:
    """Keeps one authenticated WebSocket open; calls ``handler`` for every message received."""

    def __init__(self, server: str, token: str, handler: Handler, *, max_backoff_s: float = 2.0) -> None:
        self.url = server.rstrip("/") + "/ws"
        self._token = token
        self._handler = handler
        self._max_backoff = max_backoff_s
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.connected = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> bool:
        """Send if connected; False when the link is down (callers decide whether to retry)."""
        ws = self._ws
        if ws is None or ws.closed:
            return False
        try:
            await ws.send_str(json.dumps(message))
        except (ConnectionError, aiohttp.ClientError):
            return False
        return True

    async def run(self) -> None:
        """Connect, serve, reconnect; runs until cancelled.

        Retries are capped at a few seconds and each attempt gives up after ``CONNECT_TIMEOUT_S``:
        after an outage the consult (and its media recovery, which needs signaling) should resume
        within seconds of the link, not at the end of a long backoff or of TCP's SYN retries.
        """
        backoff = 0.5
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    async with session.ws_connect(
                        self.url, headers={"Authorization": f"Bearer {self._token}"}, heartbeat=15.0,
                        timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                    ) as ws:
                        self._ws = ws
                        self.connected.set()
                        backoff = 0.5
                        async for msg in ws:
                            if msg.type is aiohttp.WSMsgType.TEXT:
                                await self._handler(json.loads(msg.data))
                        if ws.close_code == 4401:
                            log.error("the server refused the station token")
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                    log.warning("signaling unreachable (%s); retrying in %.1f s", exc, backoff)
                finally:
                    self._ws = None
                    self.connected.clear()
                await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
                backoff = min(self._max_backoff, backoff * 2)
