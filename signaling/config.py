"""Server configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from signaling import turn


@dataclass(frozen=True)
class IceServer:
    urls: list[str]
    username: str | None = None
    credential: str | None = None

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"urls": self.urls}
        if self.username is not None:
            out["username"] = self.username
            out["credential"] = self.credential
        return out


@dataclass(frozen=True)
class ServerConfig:
    """Everything the app factory needs. ``database_url`` defaults to SQLite under ``data_dir``."""

    data_dir: Path
    database_url: str | None = None
    ice_servers: list[IceServer] = field(default_factory=list)
    # TURN REST API: coturn's static-auth-secret and its turn:/turns: URLs; each peer gets its own
    # credential, valid for turn_ttl_s, with the ICE servers in its welcome message.
    turn_urls: list[str] = field(default_factory=list)
    turn_secret: str | None = None
    turn_ttl_s: int = 24 * 3600
    max_message_bytes: int = 64 * 1024
    messages_per_second: float = 50.0
    message_burst: int = 200
    heartbeat_s: float = 15.0
    secure_cookies: bool = False
    # How often live station connections are checked against revoked tokens.
    credential_check_s: float = 30.0
    # Changes to the waiting room within this window go out as one message per watcher.
    room_publish_s: float = 0.1
    # A waiting consult taken back from the store at start is abandoned if its station has not
    # reconnected within this time (a station that leaves abandons its waiting consult at once).
    station_return_s: float = 120.0
    # Wait estimates start from this consult length until real consults have ended.
    consult_length_s: float = 600.0
    # Failed logins allowed per user name at once, and how fast they come back (per second);
    # an address gets four times as many.
    login_failure_burst: int = 5
    login_failures_per_s: float = 1 / 60

    def ice_servers_for(self, user: str, now: float) -> list[IceServer]:
        """The ICE servers handed to ``user``: the fixed ones, plus TURN with a fresh credential."""
        if not (self.turn_urls and self.turn_secret):
            return list(self.ice_servers)
        username, password = turn.credentials(self.turn_secret, user, now, self.turn_ttl_s)
        return [*self.ice_servers, IceServer(urls=self.turn_urls, username=username, credential=password)]

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'farlink.db'}"
