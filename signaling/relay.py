"""The hub's side of the media relay: when a consult needs one, and the in-process socket a relay
session is a consult member through.

A consult with one viewer is peer to peer (station <-> viewer). From the second viewer on, the
station would send its video once per viewer over a link that barely carries one copy, so the
hub adds a relay member to the consult and tells the station (``uplink``) to stream to the relay
only; the relay offers the media to every viewer. The relay stays until the consult closes, so
a viewer leaving and coming back does not make the station renegotiate twice.

The relay session is a member like a remote client: it receives the messages any member of the
consult receives (``joined``, ``peer_joined``, ``peer_left``, ``signal``, ``consult_ended``) and
sends ``signal`` through ``Hub.handle``, checked like everyone else's. The media side lives in
``relay.session`` (aiortc); this module does not touch media.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from signaling.accounts import Role

log = logging.getLogger(__name__)

#: members who watch the station's media (and so count towards needing a relay)
VIEWER_ROLES = frozenset({Role.SPECIALIST, Role.OBSERVER, Role.ADMIN})


def needs_relay(viewers: int) -> bool:
    """More than one viewer: the station's uplink must be sent once and fanned out server-side."""
    return viewers > 1


class RelaySession(Protocol):
    async def receive(self, message: dict[str, Any]) -> None:
        """One message from the hub, in the order the hub sent them."""

    async def close(self) -> None:
        """Stop relaying and release every peer connection (idempotent)."""


#: ``factory(consult_id, send, ice_servers)``: a consult's session, speaking to the hub through ``send``
RelayFactory = Callable[[str, Callable[[dict[str, Any]], Awaitable[None]], list[dict[str, Any]]], RelaySession]


class LocalSocket:
    """What ``Member.ws`` needs (``closed``, ``send_str``, ``close``), delivering into a relay
    session in order on its own task, so a slow peer-connection setup never blocks the hub."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()  # None: stop
        self._session: RelaySession | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def bind(self, session: RelaySession) -> None:
        self._session = session
        self._task = asyncio.ensure_future(self._deliver(session))

    async def send_str(self, data: str) -> None:
        if not self.closed:
            self._queue.put_nowait(json.loads(data))

    async def close(self, **_: Any) -> bool:
        """Signature of ``WebSocketResponse.close`` (the app's shutdown calls it with a code)."""
        if self.closed:
            return False
        self.closed = True
        # No cancel: aiortc's close paths swallow CancelledError, which would leave the task
        # waiting forever; the message in progress finishes and the sentinel ends the loop.
        self._queue.put_nowait(None)
        if self._task is not None:
            await self._task
        if self._session is not None:
            await self._session.close()
        return True

    async def _deliver(self, session: RelaySession) -> None:
        while (message := await self._queue.get()) is not None:
            try:
                await session.receive(message)
            except Exception:  # one failed step must not stop the consult's relay
                log.exception("relay session failed on %s", message.get("type"))
