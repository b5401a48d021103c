"""Who may connect: specialists and observers by password, stations by API token."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from devices.errors import LocalError
from signaling.passwords import hash_password, hash_token, new_token, verify_password
from signaling.store import Store


class Role(StrEnum):
    ADMIN = "admin"
    SPECIALIST = "specialist"
    OBSERVER = "observer"
    STATION = "station"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated party. ``name`` is the user name or the station id."""

    name: str
    role: Role


class Accounts:
    """Users, station tokens and browser sessions."""

    SESSION_TTL_S = 12 * 3600

    def __init__(self, store: Store) -> None:
        self._store = store
        self._sessions: dict[str, tuple[Principal, float]] = {}

    async def create_user(self, name: str, password: str, role: Role) -> None:
        if role is Role.STATION:
            raise LocalError("stations authenticate with tokens, not passwords", code="bad_role")
        if not name or len(name) > 64 or len(password) < 4:
            raise LocalError("user name 1-64 characters and password of at least 4", code="bad_account")
        await self._store.put_user(name, role.value, hash_password(password))

    async def create_station_token(self, station_id: str, label: str = "") -> str:
        """Return a new token for ``station_id``; only its hash is stored."""
        token = new_token()
        await self._store.put_station_token(hash_token(token), station_id, label or station_id)
        return token

    async def login(self, name: str, password: str) -> str | None:
        """Check a password; return a new session id, or None."""
        user = await self._store.get_user(name)
        if user is None or not verify_password(password, user["password_hash"]):
            return None
        session = secrets.token_urlsafe(32)
        self._sessions[session] = (Principal(name, Role(user["role"])), time.time() + self.SESSION_TTL_S)
        return session

    def session(self, session_id: str | None) -> Principal | None:
        if not session_id:
            return None
        entry = self._sessions.get(session_id)
        if entry is None or entry[1] < time.time():
            self._sessions.pop(session_id, None)
            return None
        return entry[0]

    def logout(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    async def station(self, token: str | None) -> Principal | None:
        if not token:
            return None
        row = await self._store.station_for_token(hash_token(token))
        return Principal(row["station_id"], Role.STATION) if row else None
