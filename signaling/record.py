"""The consult record as the hospital keeps it: members and times, timeline, chat, notes, readings, stills.

Built from the store: the consults row, its events (state changes, joins and leaves, notes sent
over signaling, the vitals a request carried), the station's uploaded records (readings, chat
and notes from its outbox, see ``signaling/station_records.py``) and the stills table. Readings
are returned as the ``Reading`` JSON model (with the outbox ``key`` when they came from the
outbox; a request's vitals that the outbox also sent appear once), so the FHIR export and the
summary chart share one source.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from devices.errors import LocalError
from devices.reading import Reading, plausible
from signaling.station_records import station_records
from signaling.stills import stills
from signaling.store import Store, consult_events, consults


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
        uploaded = [dict(r) for r in (await conn.execute(
            select(station_records).where(station_records.c.consult_id == consult_id)
            .order_by(station_records.c.time, station_records.c.seq)
        )).mappings()]
    station = row["station_id"]
    texts = [{"time": e["time"], "from": e["actor"], "text": e["body"]["text"], "kind": e["kind"]}
             for e in events if e["kind"] == "note" and isinstance(e["body"].get("text"), str)]
    texts += [{"time": u["time"], "from": u["body"].get("from", station), "text": u["body"]["text"],
               "kind": u["kind"], "key": u["key"]} for u in uploaded if u["kind"] in ("chat", "note")]
    texts.sort(key=lambda t: t["time"])
    record: dict[str, Any] = {
        "consult": _consult(dict(row)), "members": _members(events),
        "chat": [_text(t) for t in texts if t["kind"] == "chat"],
        "notes": [_text(t) for t in texts if t["kind"] == "note"],
        "readings": _readings(events, [u for u in uploaded if u["kind"] == "reading"]),
        "timeline": [{"time": e["time"], "actor": e["actor"], "kind": e["kind"], "body": e["body"]} for e in events],
        "stills": [{k: s[k] for k in ("id", "name", "mime", "size", "sha256", "width", "height", "taken", "by")}
                   for s in still_rows],
    }
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


def _text(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in ("time", "from", "text", "key") if k in entry}


def _readings(events: list[dict[str, Any]], uploaded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Readings recorded with the consult, each once: the station's uploads (validated when they
    arrived), then a request's vitals that are well-formed, physically possible and not uploaded."""
    out = [u["body"] | {"key": u["key"]} for u in uploaded]
    seen = {_content(r) for r in out}
    for event in events:
        if event["kind"] != "vitals":
            continue
        for raw in event["body"].get("readings", []):
            try:
                reading = Reading.from_json(raw)
            except (LocalError, KeyError, TypeError, ValueError, AttributeError):
                continue
            if reading.value is not None and not plausible(reading.kind, reading.value, reading.unit):
                continue
            as_json = reading.to_json()
            if _content(as_json) not in seen:
                seen.add(_content(as_json))
                out.append(as_json)
    return sorted(out, key=lambda r: r["time"])


def _content(reading: dict[str, Any]) -> tuple[Any, ...]:
    return (reading["source"], reading["kind"], reading["time"], reading["value"], reading["unit"],
            reading.get("absent"))
