"""Persistence through SQLAlchemy 2 (async): SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import (
    JSON, Boolean, Column, Float, ForeignKey, Integer, MetaData, String, Table, Text, delete, event, insert, select, update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from signaling import migrate
from signaling.groupcommit import GroupCommit

T = TypeVar("T")

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("created", Float, nullable=False),
)

station_tokens = Table(
    "station_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("station_id", String(64), nullable=False, index=True),
    Column("label", String(200), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("created", Float, nullable=False),
)

sessions = Table(
    "sessions", metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user", String(64), ForeignKey("users.name", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf", String(64), nullable=False),
    Column("expires", Float, nullable=False),
)

consults = Table(
    "consults", metadata,
    Column("id", String(36), primary_key=True),
    Column("station_id", String(64), nullable=False, index=True),
    Column("priority", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("lead", String(64), nullable=True),
    Column("transfer_to", String(64), nullable=True),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)

consult_events = Table(
    "consult_events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("consult_id", String(36), ForeignKey("consults.id"), nullable=False, index=True),
    Column("time", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("body", JSON, nullable=False),
)


def _sqlite_wal(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


class Store:
    """The server's durable state. One instance per app; safe for concurrent coroutines."""

    def __init__(self, url: str) -> None:
        sqlite = make_url(url).get_backend_name() == "sqlite"
        # SQLite allows one writer at a time: wait for the lock (instead of failing at once) and
        # use the write-ahead log so readers never wait for the writer.
        self.engine: AsyncEngine = create_async_engine(url, connect_args={"timeout": 30} if sqlite else {})
        if sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_wal)
        self._writes = GroupCommit(self.engine)

    async def write(self, op: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``op`` in a (group-committed) write transaction: for tables other modules own."""
        return await self._writes.run(op)

    async def open(self) -> None:
        """Bring the schema up to date (alembic migrations), then open for business."""
        async with self.engine.begin() as conn:
            await conn.run_sync(migrate.upgrade)

    async def close(self) -> None:
        await self.engine.dispose()

    async def put_user(self, name: str, role: str, password_hash: str) -> None:
        async def op(conn: AsyncConnection) -> Any:
            exists = (await conn.execute(select(users.c.name).where(users.c.name == name))).first()
            if exists:
                await conn.execute(
                    update(users).where(users.c.name == name).values(role=role, password_hash=password_hash)
                )
            else:
                await conn.execute(
                    insert(users).values(name=name, role=role, password_hash=password_hash, created=time.time())
                )
        await self._writes.run(op)

    async def get_user(self, name: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.name == name))).mappings().first()
            return dict(row) if row else None

    async def put_station_token(self, token_hash: str, station_id: str, label: str) -> None:
        async def op(conn: AsyncConnection) -> Any:
            await conn.execute(
                insert(station_tokens).values(
                    token_hash=token_hash, station_id=station_id, label=label, revoked=False, created=time.time()
                )
            )
        await self._writes.run(op)

    async def station_for_token(self, token_hash: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(station_tokens).where(
                        station_tokens.c.token_hash == token_hash, station_tokens.c.revoked.is_(False)
                    )
                )
            ).mappings().first()
            return dict(row) if row else None

    async def revoke_station_tokens(self, station_id: str, token_hash: str | None = None) -> int:
        """Revoke every token of ``station_id`` (or just the one with ``token_hash``); return how many."""
        condition = station_tokens.c.station_id == station_id
        if token_hash is not None:
            condition = condition & (station_tokens.c.token_hash == token_hash)
        async def op(conn: AsyncConnection) -> Any:
            result = await conn.execute(
                update(station_tokens).where(condition, station_tokens.c.revoked.is_(False)).values(revoked=True)
            )
            return result.rowcount
        return await self._writes.run(op)

    async def put_session(self, id_hash: str, user: str, csrf: str, expires: float) -> None:
        async def op(conn: AsyncConnection) -> Any:
            await conn.execute(delete(sessions).where(sessions.c.expires < time.time()))
            await conn.execute(insert(sessions).values(id_hash=id_hash, user=user, csrf=csrf, expires=expires))
        await self._writes.run(op)

    async def get_session(self, id_hash: str) -> dict[str, Any] | None:
        """The live session with its user's current role, or None when unknown or expired."""
        query = (
            select(sessions.c.user, sessions.c.csrf, users.c.role)
            .join(users, users.c.name == sessions.c.user)
            .where(sessions.c.id_hash == id_hash, sessions.c.expires >= time.time())
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            return dict(row) if row else None

    async def delete_session(self, id_hash: str) -> None:
        async def op(conn: AsyncConnection) -> Any:
            await conn.execute(delete(sessions).where(sessions.c.id_hash == id_hash))
        await self._writes.run(op)

    async def insert_consult(self, row: dict[str, Any], actor: str) -> None:
        """Record a new consult (``row`` holds the consults columns but times) and its first event."""
        now = time.time()
        async def op(conn: AsyncConnection) -> Any:
            await conn.execute(insert(consults).values(**row, created=now, updated=now))
            await conn.execute(insert(consult_events).values(
                consult_id=row["id"], time=now, actor=actor, kind="state", body={"state": row["state"]},
            ))
        await self._writes.run(op)

    async def move_consult(self, consult_id: str, source: str, target: str, actor: str, **fields: str | None) -> bool:
        """Compare-and-set the state from ``source`` to ``target`` (and ``fields``), with its event.

        Returns False, changing nothing, when the stored state is no longer ``source``: whoever
        moved it first wins. This is what keeps two specialists (or two server nodes) from
        claiming one consult, on SQLite and PostgreSQL alike.
        """
        now = time.time()
        async def op(conn: AsyncConnection) -> Any:
            result = await conn.execute(
                update(consults)
                .where(consults.c.id == consult_id, consults.c.state == source)
                .values(state=target, updated=now, **fields)
            )
            if result.rowcount != 1:
                return False
            await conn.execute(insert(consult_events).values(
                consult_id=consult_id, time=now, actor=actor, kind="state", body={"state": target, **fields},
            ))
            return True
        return await self._writes.run(op)

    async def add_event(self, consult_id: str, actor: str, kind: str, body: dict[str, Any]) -> None:
        async def op(conn: AsyncConnection) -> Any:
            await conn.execute(
                insert(consult_events).values(
                    consult_id=consult_id, time=time.time(), actor=actor, kind=kind, body=json.loads(json.dumps(body))
                )
            )
        await self._writes.run(op)

    async def consults_in(self, states: list[str]) -> list[dict[str, Any]]:
        """The consults rows in ``states``, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(consults).where(consults.c.state.in_(states)).order_by(consults.c.created)
            )
            return [dict(r) for r in rows.mappings()]

    async def events(self, consult_id: str) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(consult_events).where(consult_events.c.consult_id == consult_id).order_by(consult_events.c.seq)
            )
            return [dict(r) for r in rows.mappings()]
