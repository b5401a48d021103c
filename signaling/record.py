"""The consult record as the hospital keeps it: members and times, timeline, chat, notes, readings, stills.

Built from the store: the consults row, its events (state changes, joins and leaves, chat and
notes, the vitals a request carried) and the stills table. Readings are returned as the
``Reading`` JSON model, so the FHIR export and the summary chart share one source.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from devices.errors import LocalError
from devices.reading import Reading, plausible
from signaling.stills import stills
from signaling.store import Store, consult_events, consults

TEXT_KINDS = {"chat": "chat", "note": "notes"}


async def consult_list(store: Store, state: str | None, limit: int) -> list[dict[str, Any]]:
    query = select(consults).order_by(consults.c.created.desc()).limit(limit)
    if state is not None:
        query = query.where(consults.c.state == state)
    async with store.engine.connect() as conn:
        return [_consult(dict(r)) for r in (await conn.execute(query)).mappings()]


async def consult_record(store: Store, consult_id: str) -> dict[str, Any]:
    """The whole record; LocalError ``no_consult`` when there is no such consult."""
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(consults).where(consults.c.id == consult_id))).mappings().first()
        if row is None:
            raise LocalError(f"no consult {consult_id}", code="no_consult")
        events = [dict(r) for r in (await conn.execute(
            select(consult_events).where(consult_events.c.consult_id == consult_id).order_by(consult_events.c.seq)
        )).mappings()]
        still_rows = [dict(r) for r in (await conn.execute(
            select(stills).where(stills.c.consult_id == consult_id, stills.c.complete.is_(True)).order_by(stills.c.taken)
        )).mappings()]
    record: dict[str, Any] = {
        "consult": _consult(dict(row)), "members": _members(events), "chat": [], "notes": [],
        "readings": _readings(events),
        "timeline": [{"time": e["time"], "actor": e["actor"], "kind": e["kind"], "body": e["body"]} for e in events],
        "stills": [{k: s[k] for k in ("id", "name", "mime", "size", "sha256", "width", "height", "taken", "by")}
                   for s in still_rows],
    }
    for event in events:
        if event["kind"] in TEXT_KINDS and isinstance(event["body"].get("text"), str):
            record[TEXT_KINDS[event["kind"]]].append(
                {"time": event["time"], "from": event["actor"], "text": event["body"]["text"]})
    return record


def readings_of(record: dict[str, Any]) -> list[Reading]:
    return [Reading.from_json(r) for r in record["readings"]]


def _consult(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "station": row["station_id"], "priority": row["priority"], "reason": row["reason"],
            "state": row["state"], "lead": row["lead"], "transfer_to": row["transfer_to"],
            "created": row["created"], "updated": row["updated"]}


def _members(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Who was in the consult, from when to when (a member who rejoined appears once per stay)."""
    stays: list[dict[str, Any]] = []
    open_stays: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["kind"] == "join":
            stay = {"name": event["actor"], "role": event["body"].get("role"), "joined": event["time"], "left": None}
            stays.append(stay)
            open_stays[event["actor"]] = stay
        elif event["kind"] == "leave" and event["actor"] in open_stays:
            open_stays.pop(event["actor"])["left"] = event["time"]
        elif event["kind"] == "state" and event["body"].get("state") in ("ended", "abandoned"):
            for stay in open_stays.values():
                stay["left"] = event["time"]
            open_stays.clear()
    return stays


def _readings(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Readings recorded with the consult: well-formed and physically possible (others are skipped)."""
    out: list[dict[str, Any]] = []
    for event in events:
        if event["kind"] != "vitals":
            continue
        for raw in event["body"].get("readings", []):
            try:
                reading = Reading.from_json(raw)
            except (LocalError, KeyError, TypeError, ValueError, AttributeError):
                continue
            if reading.value is None or plausible(reading.kind, reading.value, reading.unit):
                out.append(reading.to_json())
    return sorted(out, key=lambda r: r["time"])
