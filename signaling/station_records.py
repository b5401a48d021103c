"""Station records: the readings, chat and notes a station's outbox uploads, each held once.

``POST /api/station/records`` (station token only; JSON, ``Content-Encoding: gzip`` accepted)
with ``{"items": [{"key", "kind", "consult", "body"}, ...]}`` (at most ``MAX_ITEMS``). A
reading's key is ``Reading.content_key()`` of its body: the server derives it, so a station
may leave it out (and one it sends must match). Every item is checked on its own; the answer,
sent only after the commit (gzipped when the client accepts it), is ``{"held": [positions],
"refused": [{"index", "key", "code", "message"}]}``, items named by their position in the
request (a few bytes each, where keys would be ~20 gzipped on a thin downlink): ``held`` are
the items the record now holds (new or already there: a re-sent item is deduplicated by the
unique ``(station_id, key)``), ``refused`` those rejected with a code (``bad_field``,
``implausible``, ``not_member`` when the consult is not this station's, unknown or another's). A request that is not such a list is refused as a whole
(400 ``bad_json`` / ``bad_field``, 413 ``too_large``).

Item bodies (``kind``: body): ``reading``: the ``Reading`` JSON model (finite, physically
possible values only); ``chat``: ``{"from", "text", "time"}``; ``note``: ``{"text", "time"}``.
Readings that are new to a consult are handed to ``on_readings`` after the commit (the hub
pushes them to the consult's viewers, whose charts merge them by time: the backfill).
"""

from __future__ import annotations

import json
import math
import re
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy import JSON, Column, Float, Integer, String, Table, UniqueConstraint, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from devices.reading import Absent, Kind, Reading, plausible
from signaling.accounts import Principal, Role
from signaling.store import Store, consults, metadata

MAX_ITEMS = 500
MAX_BODY = 4 * 1024 * 1024  # bytes of JSON, after gzip
MAX_TEXT = 2000
KINDS = ("reading", "chat", "note")
KEY = re.compile(r"[0-9a-f]{32}")

station_records = Table(
    "station_records", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("station_id", String(64), nullable=False),
    Column("key", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("consult_id", String(36), nullable=True, index=True),
    Column("time", Float, nullable=False),
    Column("body", JSON, nullable=False),
    Column("received", Float, nullable=False),
    UniqueConstraint("station_id", "key", name="uq_station_records_station_key"),
)

Who = Callable[[web.Request], Principal | None]
OnReadings = Callable[[str, list[dict[str, Any]]], Awaitable[None]]


class Refused(Exception):
    """One item (or, from ``batch``, the whole request) we do not take; carries a code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: Any, longest: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= longest


def _reading(body: dict[str, Any]) -> dict[str, Any]:
    """The Reading JSON model, checked field by field; returned normalised (unknown fields dropped)."""
    if body.get("kind") not in {k.value for k in Kind}:
        raise Refused("bad_field", "kind is not a known measure")
    if not _text(body.get("unit"), 16) or not _text(body.get("source"), 200):
        raise Refused("bad_field", "unit (16 characters at most) and source (200) are required")
    if not _number(body.get("time")) or body["time"] <= 0:
        raise Refused("bad_field", "time is seconds since the epoch")
    status = body.get("status", [])
    if not isinstance(status, list) or len(status) > 16 or not all(_text(s, 32) for s in status):
        raise Refused("bad_field", "status is a list of at most 16 short names")
    value, absent = body.get("value"), body.get("absent")
    out = {"kind": body["kind"], "value": value, "unit": body["unit"], "time": body["time"], "source": body["source"]}
    if value is None:
        if absent not in {a.value for a in Absent}:
            raise Refused("bad_field", "a reading without a value needs an absent reason")
        out["absent"] = absent
    elif not _number(value) or absent is not None:
        raise Refused("bad_field", "value is a finite number (and then there is no absent reason)")
    elif not plausible(Kind(body["kind"]), float(value), body["unit"]):
        raise Refused("implausible", f"{value} {body['unit']} is not a possible {body['kind']}")
    if status:
        out["status"] = sorted(status)
    return out


def _chat_or_note(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    if not _text(body.get("text"), MAX_TEXT) or not _number(body.get("time")) or body["time"] <= 0:
        raise Refused("bad_field", f"a {kind} has text ({MAX_TEXT} characters at most) and a time")
    out = {"text": body["text"], "time": body["time"]}
    if kind == "chat":
        if not _text(body.get("from"), 64):
            raise Refused("bad_field", "a chat message says whom it is from (64 characters at most)")
        out["from"] = body["from"]
    return out


def item(raw: Any) -> dict[str, Any]:
    """One uploaded item, validated and normalised into a row (without station and times)."""
    if not isinstance(raw, dict):
        raise Refused("bad_field", "an item is a JSON object")
    key = raw.get("key")
    if not (key is None and raw.get("kind") == "reading") and not (isinstance(key, str) and KEY.fullmatch(key)):
        raise Refused("bad_field", "key is 32 lowercase hex digits (a reading's may be left out)")
    if raw.get("kind") not in KINDS:
        raise Refused("bad_field", f"kind is one of {', '.join(KINDS)}")
    consult = raw.get("consult")
    if consult is not None and not _text(consult, 36):
        raise Refused("bad_field", "consult is a consult id or null")
    body = raw.get("body")
    if not isinstance(body, dict):
        raise Refused("bad_field", "body is a JSON object")
    if raw["kind"] == "reading":
        body = _reading(body)
        derived = Reading.from_json(body).content_key()
        if key not in (None, derived):
            raise Refused("bad_field", "a reading's key is its content key; this one does not match")
        key = derived
    else:
        body = _chat_or_note(raw["kind"], body)
    return {"key": key, "kind": raw["kind"], "consult_id": consult, "time": float(body["time"]), "body": body}


async def body(request: web.Request) -> bytes:
    """The request's JSON bytes, gunzipped here with a cap (the app leaves bodies compressed, so
    a gzip bomb costs at most ``MAX_BODY`` and a corrupt stream gets an answer, not a reset)."""
    data = await request.read()
    encoding = request.headers.get("Content-Encoding", "identity").lower()
    if encoding == "identity":
        return data
    if encoding != "gzip":
        raise Refused("bad_json", "send JSON, plain or gzip")
    inflate = zlib.decompressobj(wbits=31)
    try:
        data = inflate.decompress(data, MAX_BODY + 1)
    except zlib.error:
        raise Refused("bad_json", "the gzip stream is corrupt") from None
    if len(data) > MAX_BODY:
        raise Refused("too_large", f"at most {MAX_BODY} bytes of JSON a request")
    if not inflate.eof:
        raise Refused("bad_json", "the gzip stream is cut short")
    return data


def batch(payload: Any) -> list[Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise Refused("bad_field", 'send {"items": [...]}')
    if len(payload["items"]) > MAX_ITEMS:
        raise Refused("too_large", f"at most {MAX_ITEMS} items a request")
    return list(payload["items"])


class StationRecords:
    """The ``station_records`` table: ingestion with deduplication, and reads for the record."""

    def __init__(self, store: Store, on_readings: OnReadings | None = None) -> None:
        self._store = store
        self._on_readings = on_readings

    async def ingest(self, station: str, raw_items: list[Any]) -> dict[str, Any]:
        """Validate, attribute and store ``raw_items`` for ``station``; answer held and refused positions."""
        rows: dict[str, dict[str, Any]] = {}
        positions: dict[str, list[int]] = {}  # key -> where it is in the request (a batch may repeat one)
        refused: list[dict[str, Any]] = []
        for index, raw in enumerate(raw_items):
            try:
                row = item(raw)
            except Refused as exc:
                key = raw.get("key") if isinstance(raw, dict) and isinstance(raw.get("key"), str) else None
                refused.append({"index": index, "key": key, "code": exc.code, "message": exc.args[0]})
                continue
            rows.setdefault(row["key"], row)
            positions.setdefault(row["key"], []).append(index)
        owners = await self._owners({r["consult_id"] for r in rows.values() if r["consult_id"] is not None})
        for key, row in list(rows.items()):
            if row["consult_id"] is not None and owners.get(row["consult_id"]) != station:
                # Unknown and foreign consults get one answer: a station learns nothing of others'.
                refused += [{"index": index, "key": key, "code": "not_member",
                             "message": f"this station has no consult {row['consult_id']}"} for index in positions[key]]
                del rows[key]
        new = await self._store.write(lambda conn: self._insert(conn, station, list(rows.values()))) if rows else set()
        if self._on_readings is not None:
            fresh: dict[str, list[dict[str, Any]]] = {}
            for key in new:
                row = rows[key]
                if row["kind"] == "reading" and row["consult_id"] is not None:
                    fresh.setdefault(row["consult_id"], []).append(row["body"] | {"key": key})
            for consult_id, readings in fresh.items():
                await self._on_readings(consult_id, sorted(readings, key=lambda r: r["time"]))
        return {"held": sorted(i for key in rows for i in positions[key]), "refused": refused}

    async def _owners(self, consult_ids: set[str]) -> dict[str, str]:
        if not consult_ids:
            return {}
        async with self._store.engine.connect() as conn:
            result = await conn.execute(select(consults.c.id, consults.c.station_id).where(consults.c.id.in_(consult_ids)))
            return {consult_id: owner for consult_id, owner in result}

    async def _insert(self, conn: AsyncConnection, station: str, rows: list[dict[str, Any]]) -> set[str]:
        """Insert, skipping keys the station already sent; return the keys that were new."""
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        now = time.time()
        statement = (dialect.insert(station_records)
                     .values([{**row, "station_id": station, "received": now} for row in rows])
                     .on_conflict_do_nothing(index_elements=["station_id", "key"])
                     .returning(station_records.c.key))
        return set((await conn.execute(statement)).scalars())


def setup(app: web.Application, who: Who, records: Callable[[], StationRecords]) -> None:
    """Add ``POST /api/station/records``."""

    def error(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": {"code": code, "message": message}}, status=status)

    async def ingest(request: web.Request) -> web.Response:
        asking = who(request)
        if asking is None:
            return error(401, "unauthorized", "a station token is required")
        if asking.role is not Role.STATION:
            return error(403, "forbidden", "only stations upload records")
        try:
            items = batch(json.loads(await body(request)))
        except web.HTTPRequestEntityTooLarge:
            return error(413, "too_large", "the request body is too large")
        except ValueError:
            return error(400, "bad_json", "send JSON (gzip allowed)")
        except Refused as exc:
            return error(413 if exc.code == "too_large" else 400, exc.code, exc.args[0])
        response = web.json_response(await records().ingest(asking.name, items))
        response.enable_compression()  # the keys are most of the answer: hex, they gzip to half
        return response

    app.router.add_post("/api/station/records", ingest)
