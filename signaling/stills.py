"""Stills in the consult record: a resumable upload endpoint, the table, and downloads.

Upload protocol (offset semantics in the manner of tus):

* ``POST /api/stills`` with the still's metadata (id, size, sha256, ...) opens or finds the
  upload and answers ``{"offset", "complete"}``; the same id with other content is ``conflict``;
* ``PATCH /api/stills/{id}`` with ``Upload-Offset: N`` appends the body at N; a wrong N is
  ``offset_mismatch`` (409, carrying the server's offset); bytes beyond the declared size are
  ``too_large`` (413); the last byte triggers the SHA-256 check: a mismatch discards the bytes
  (``checksum_mismatch``, 422, offset 0) so a corrupted still never enters the record;
* ``GET /api/stills/{id}`` downloads a complete still; ``GET /api/consults/{id}/stills`` lists.

During a consult with several viewers the station's stills arrive whole on the server's media
relay instead (``relay.session``), which hands them to ``StillRecord.put``: same checks, same
table, same ``still`` event, at once rather than after the consult.

The offset is the size of the partial file on disk, so bytes that arrived before a connection
dropped count, and nothing needs writing to the database per chunk.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import Boolean, Column, Float, Integer, String, Table, insert, select, update

from signaling.accounts import Principal, Role
from signaling.store import Store, consults, metadata

MAX_STILL_BYTES = 20 * 1024 * 1024
MIMES = frozenset({"image/jpeg", "image/png"})
STAFF = frozenset({Role.SPECIALIST, Role.ADMIN, Role.OBSERVER})
log = logging.getLogger(__name__)

HEX32 = re.compile(r"[0-9a-f]{32}")
HEX64 = re.compile(r"[0-9a-f]{64}")

stills = Table(
    "stills", metadata,
    Column("id", String(32), primary_key=True),
    Column("consult_id", String(36), nullable=True, index=True),
    Column("station_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("mime", String(32), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("taken", Float, nullable=False),
    Column("by", String(16), nullable=False),
    Column("complete", Boolean, nullable=False, default=False),
    Column("created", Float, nullable=False),
)

Who = Callable[[web.Request], Principal | None]


class StillError(Exception):
    """An upload request we refuse; becomes an HTTP error with a code."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.extra = status, code, extra

    def response(self) -> web.Response:
        return web.json_response({"error": {"code": self.code, "message": self.args[0], **self.extra}},
                                 status=self.status)


def _meta(body: Any) -> dict[str, Any]:
    """Validate the metadata a station sends; StillError(400 bad_field / 413 too_large) if wrong."""
    if not isinstance(body, dict):
        raise StillError(400, "bad_field", "send the still's metadata as a JSON object")
    checks = {
        "id": lambda v: isinstance(v, str) and HEX32.fullmatch(v),
        "sha256": lambda v: isinstance(v, str) and HEX64.fullmatch(v),
        "size": lambda v: isinstance(v, int) and v > 0,
        "name": lambda v: isinstance(v, str) and 0 < len(v) <= 200,
        "mime": lambda v: v in MIMES,
        "width": lambda v: isinstance(v, int) and v > 0,
        "height": lambda v: isinstance(v, int) and v > 0,
        "taken": lambda v: isinstance(v, int | float),
        "by": lambda v: v in ("staff", "specialist"),
        "consult": lambda v: v is None or (isinstance(v, str) and len(v) <= 36),
    }
    for name, ok in checks.items():
        if not ok(body.get(name)):
            raise StillError(400, "bad_field", f"field {name!r} is missing or wrong")
    if body["size"] > MAX_STILL_BYTES:
        raise StillError(413, "too_large", f"a still may have at most {MAX_STILL_BYTES} bytes")
    return body


class StillRecord:
    """The stills table and the files under ``directory``."""

    def __init__(self, store: Store, directory: Path) -> None:
        self._store = store
        self._dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, asyncio.Lock] = {}

    def part(self, still_id: str) -> Path:
        return self._dir / f"{still_id}.part"

    def path(self, still_id: str) -> Path:
        return self._dir / f"{still_id}.img"

    async def get(self, still_id: str) -> dict[str, Any] | None:
        async with self._store.engine.connect() as conn:
            row = (await conn.execute(select(stills).where(stills.c.id == still_id))).mappings().first()
            return dict(row) if row else None

    def progress(self, row: dict[str, Any]) -> dict[str, Any]:
        part = self.part(row["id"])
        offset = row["size"] if row["complete"] else (part.stat().st_size if part.exists() else 0)
        return {"id": row["id"], "offset": offset, "size": row["size"], "complete": row["complete"]}

    async def open(self, station: str, meta: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Create the upload or find it again; (HTTP status, progress)."""
        row = await self.get(meta["id"])
        if row is not None:
            if row["station_id"] != station or row["sha256"] != meta["sha256"] or row["size"] != meta["size"]:
                raise StillError(409, "conflict", "another still has this id")
            return 200, self.progress(row)
        if meta["consult"] is not None:
            async with self._store.engine.connect() as conn:
                owner = (await conn.execute(
                    select(consults.c.station_id).where(consults.c.id == meta["consult"]))).scalar()
            if owner != station:
                raise StillError(403, "not_member", "that consult is not this station's")
        async with self._store.engine.begin() as conn:
            await conn.execute(insert(stills).values(
                id=meta["id"], consult_id=meta["consult"], station_id=station, name=meta["name"],
                mime=meta["mime"], size=meta["size"], sha256=meta["sha256"], width=meta["width"],
                height=meta["height"], taken=meta["taken"], by=meta["by"], complete=False, created=time.time()))
        self.part(meta["id"]).touch()
        row = await self.get(meta["id"])
        assert row is not None
        return 201, self.progress(row)

    async def append(self, station: str, still_id: str, offset: int, body: web.StreamReader) -> dict[str, Any]:
        """Write ``body`` at ``offset``; verify and complete the still at its last byte."""
        lock = self._locks.setdefault(still_id, asyncio.Lock())
        async with lock:
            row = await self.get(still_id)
            if row is None or row["station_id"] != station:
                raise StillError(404, "no_still", "no such upload; POST its metadata first")
            current = self.progress(row)
            if row["complete"]:
                return current
            if offset != current["offset"]:
                raise StillError(409, "offset_mismatch", f"the upload is at byte {current['offset']}",
                                 offset=current["offset"])
            room = row["size"] - offset
            with open(self.part(still_id), "ab") as file:
                async for chunk in body.iter_chunked(64 * 1024):
                    if len(chunk) > room:
                        file.truncate(offset)  # refuse the whole request, keep what came before
                        raise StillError(413, "too_large", f"the still has {row['size']} bytes")
                    file.write(chunk)
                    room -= len(chunk)
            if room == 0:
                await self._complete(row)
            return self.progress(await self.get(still_id) or row)

    async def _complete(self, row: dict[str, Any]) -> None:
        part = self.part(row["id"])
        digest = await asyncio.to_thread(lambda: hashlib.sha256(part.read_bytes()).hexdigest())
        if digest != row["sha256"]:
            part.write_bytes(b"")
            raise StillError(422, "checksum_mismatch", "the bytes do not match the SHA-256; send them again",
                             offset=0)
        os.replace(part, self.path(row["id"]))
        async with self._store.engine.begin() as conn:
            await conn.execute(update(stills).where(stills.c.id == row["id"]).values(complete=True))
        if row["consult_id"] is not None:
            await self._store.add_event(row["consult_id"], row["station_id"], "still",
                                        {"still": row["id"], "name": row["name"], "size": row["size"]})

    async def put(self, consult_id: str, meta: dict[str, Any], data: bytes) -> bool:
        """Record a still that arrived whole on consult ``consult_id``'s relay, as the station
        owning that consult; idempotent. False (logged) if refused: the station keeps it pending
        and its HTTP upload gets the refusal with its code."""
        try:
            async with self._store.engine.connect() as conn:
                station = (await conn.execute(
                    select(consults.c.station_id).where(consults.c.id == consult_id))).scalar()
            if station is None:
                raise StillError(404, "no_consult", f"no consult {consult_id}")
            await self.open(station, _meta(meta))
            async with self._locks.setdefault(meta["id"], asyncio.Lock()):
                row = await self.get(meta["id"])
                if row is not None and not row["complete"]:
                    await asyncio.to_thread(self.part(row["id"]).write_bytes, data)
                    await self._complete(row)
        except StillError as exc:
            log.warning("consult %s: still %s refused: %s %s", consult_id, meta.get("id"), exc.code, exc.args[0])
            return False
        return True

    async def of_consult(self, consult_id: str) -> list[dict[str, Any]]:
        async with self._store.engine.connect() as conn:
            rows = await conn.execute(select(stills).where(stills.c.consult_id == consult_id,
                                                           stills.c.complete.is_(True)).order_by(stills.c.taken))
            return [dict(r) for r in rows.mappings()]


#: the app's ``StillRecord`` (the relay factory in ``signaling.app`` hands it to each relay)
record_key = web.AppKey("still_record", StillRecord)


def setup(app: web.Application, who: Who, store: Callable[[], Store], data_dir: Path) -> None:
    """Add the stills routes; the record is built at startup, once the store is open."""

    async def open_record(app: web.Application) -> AsyncIterator[None]:
        app[record_key] = StillRecord(store(), data_dir / "stills")
        yield

    async def principal(request: web.Request, roles: frozenset[Role]) -> Principal:
        asking = who(request)
        if asking is None:
            raise StillError(401, "unauthorized", "a station token or a session is required")
        if asking.role not in roles:
            raise StillError(403, "forbidden", f"a {asking.role} may not do this")
        return asking

    def guarded(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except StillError as exc:
                return exc.response()
        return run

    async def create(request: web.Request) -> web.Response:
        station = await principal(request, frozenset({Role.STATION}))
        try:
            body = await request.json()
        except ValueError:
            raise StillError(400, "bad_json", "send JSON") from None
        status, progress = await app[record_key].open(station.name, _meta(body))
        return web.json_response(progress, status=status)

    async def patch(request: web.Request) -> web.Response:
        station = await principal(request, frozenset({Role.STATION}))
        try:
            offset = int(request.headers["Upload-Offset"])
        except (KeyError, ValueError):
            raise StillError(400, "bad_field", "Upload-Offset must be the byte offset") from None
        progress = await app[record_key].append(station.name, request.match_info["id"], offset, request.content)
        return web.json_response(progress)

    async def download(request: web.Request) -> web.StreamResponse:
        asking = await principal(request, STAFF | {Role.STATION})
        row = await app[record_key].get(request.match_info["id"])
        if row is None or not row["complete"] or (asking.role is Role.STATION and row["station_id"] != asking.name):
            raise StillError(404, "no_still", "no such still")
        return web.FileResponse(app[record_key].path(row["id"]), headers={
            "Content-Type": row["mime"], "Content-Disposition": f'attachment; filename="{row["name"]}"'})

    async def of_consult(request: web.Request) -> web.Response:
        await principal(request, STAFF)
        rows = await app[record_key].of_consult(request.match_info["consult"])
        return web.json_response([{k: v for k, v in r.items() if k != "complete"} for r in rows])

    app.cleanup_ctx.append(open_record)
    app.router.add_post("/api/stills", guarded(create))
    app.router.add_patch("/api/stills/{id}", guarded(patch))
    app.router.add_get("/api/stills/{id}", guarded(download))
    app.router.add_get("/api/consults/{consult}/stills", guarded(of_consult))
