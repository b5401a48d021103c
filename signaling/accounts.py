"""Who may connect: users by password (browser sessions), stations by revocable API token."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from devices.errors import LocalError
from signaling.passwords import hash_password, hash_token, new_token, verify_password
from signaling.ratelimit import LoginThrottle
from signaling.store import Store


class Role(StrEnum):
    ADMIN = "admin"
    SPECIALIST = "specialist"
    OBSERVER = "observer"
    STATION = "station"
    #: the server's own media relay (signaling/relay.py); it never logs in from outside
    RELAY = "relay"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated party. ``name`` is the user name or the station id."""

    name: str
    role: Role


class LoginThrottled(LocalError):
    """Too many failed logins for this name or address; ``retry_after`` is in seconds."""

    code = "login_throttled"

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Session:
    """A browser session: ``id`` goes in an HttpOnly cookie, ``csrf`` must echo in a header."""

    id: str
    csrf: str
    principal: Principal

    def csrf_ok(self, header: str | None) -> bool:
        return header is not None and hmac.compare_digest(header.encode(), self.csrf.encode())


# Verifying against this when the user does not exist keeps the answer time the same, so the
# time of a failed login does not tell whether the name exists.
_ABSENT_USER_HASH = hash_password(secrets.token_hex(16))


class Accounts:
    """Users, station tokens, browser sessions and login throttling.

    Sessions live in the store (hashed), so a server restart does not log everybody out and a
    role change or a deleted user takes effect at the next request.
    """

    SESSION_TTL_S = 12 * 3600

    def __init__(self, store: Store, throttle_rate: float = 1 / 60, throttle_burst: int = 5) -> None:
        self._store = store
        self._by_user = LoginThrottle(throttle_rate, throttle_burst)
        self._by_address = LoginThrottle(throttle_rate * 4, throttle_burst * 4)

    async def create_user(self, name: str, password: str, role: Role) -> None:
        if role in (Role.STATION, Role.RELAY):
            raise LocalError(f"a {role} does not log in with a password", code="bad_role")
        if not name or len(name) > 64 or len(password) < 4:
            raise LocalError("user name 1-64 characters and password of at least 4", code="bad_account")
        await self._store.put_user(name, role.value, await asyncio.to_thread(hash_password, password))

    async def create_station_token(self, station_id: str, label: str = "") -> str:
        """Return a new token for ``station_id``; only its hash is stored."""
        if not station_id or len(station_id) > 64:
            raise LocalError("station id of 1-64 characters", code="bad_account")
        token = new_token()
        await self._store.put_station_token(hash_token(token), station_id, label or station_id)
        return token

    async def revoke_station_tokens(self, station_id: str, token: str | None = None) -> int:
        """Revoke all of a station's tokens, or only ``token``; return how many were live."""
        return await self._store.revoke_station_tokens(station_id, hash_token(token) if token else None)

    async def login(self, name: str, password: str, address: str, now: float | None = None) -> Session:
        """Check a password and open a session.

        Raises :class:`LoginThrottled` before looking at the password when this name or address
        failed too often, LocalError ``bad_credentials`` for a wrong name or password.
        """
        now = time.monotonic() if now is None else now
        wait = max(self._by_user.retry_after(name, now), self._by_address.retry_after(address, now))
        if wait > 0:
            raise LoginThrottled(wait)
        user = await self._store.get_user(name)
        stored = user["password_hash"] if user else _ABSENT_USER_HASH
        if not await asyncio.to_thread(verify_password, password, stored) or user is None:
            self._by_user.failed(name, now)
            self._by_address.failed(address, now)
            raise LocalError("wrong user name or password", code="bad_credentials")
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        await self._store.put_session(hash_token(session_id), name, csrf, time.time() + self.SESSION_TTL_S)
        return Session(session_id, csrf, Principal(name, Role(user["role"])))

    async def session(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        row = await self._store.get_session(hash_token(session_id))
        if row is None:
            return None
        return Session(session_id, row["csrf"], Principal(row["user"], Role(row["role"])))

    async def logout(self, session_id: str) -> None:
        await self._store.delete_session(hash_token(session_id))

    async def station(self, token: str | None) -> Principal | None:
        if not token:
            return None
        row = await self._store.station_for_token(hash_token(token))
        return Principal(row["station_id"], Role.STATION) if row else None
