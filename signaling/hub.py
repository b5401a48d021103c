"""Live connections, consult membership and the relay between members of one consult."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from devices.errors import LocalError
from signaling.accounts import Principal, Role
from signaling.audit import AuditLog
from signaling.metrics import Metrics
from signaling.config import ServerConfig
from signaling.consults import OPEN_STATES, Consult, ConsultState, Priority
from signaling.messages import parse
from signaling.ratelimit import TokenBucket
from signaling.relay import VIEWER_ROLES, LocalSocket, RelayFactory, needs_relay
from signaling.store import Store
from signaling.waitingroom import WaitEstimator, ordered, queue

log = logging.getLogger(__name__)

ROOM_WATCHERS = frozenset({Role.SPECIALIST, Role.OBSERVER, Role.ADMIN})
#: an invitation "as" -> the roles it may go to (observers watch read-only; see relay.session)
INVITABLE = {"specialist": frozenset({Role.SPECIALIST}), "observer": frozenset({Role.OBSERVER})}
CLINICIANS = frozenset({Role.SPECIALIST, Role.ADMIN})


@dataclass(eq=False)
class Member:
    """One authenticated WebSocket connection."""

    principal: Principal
    ws: web.WebSocketResponse | LocalSocket
    bucket: TokenBucket
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    consults: set[str] = field(default_factory=set)
    last_position: tuple[int, float | None] | None = None
    token_hash: str | None = None  # a station's credential, re-checked so that revocation cuts it off

    def describe(self) -> dict[str, str]:
        return {"id": self.id, "name": self.principal.name, "role": self.principal.role.value}


class Hub:
    """Owns the in-memory state of one signaling node."""

    def __init__(self, store: Store, config: ServerConfig, relay: RelayFactory | None = None) -> None:
        """``relay`` makes a consult's media relay; without one every viewer gets the station's
        media peer to peer."""
        self._store = store
        self._config = config
        self._relay_factory = relay
        self.members: dict[str, Member] = {}
        self.consults: dict[str, Consult] = {}
        self.membership: dict[str, set[str]] = {}
        self.relays: dict[str, Member] = {}  # consult id -> its relay member
        self.estimator = WaitEstimator(config.consult_length_s)
        self.audit = AuditLog(store)
        self.metrics = Metrics()
        self.metrics.watch(lambda: self)
        self._publish: asyncio.Task[None] | None = None
        self._absent: asyncio.Task[None] | None = None
        self._closed = False

    async def restore(self) -> None:
        """Take back the open consults from the store when the server starts, after a crash too:
        a live consult stays live for its members to rejoin (the station and the lead need no
        invitation), a waiting one keeps its place in the queue until ``station_return_s`` passes
        without its station. Invitations were only in memory: the lead invites again. One caught
        between request and queue goes into the queue."""
        for row in await self._store.consults_in([state.value for state in OPEN_STATES]):
            events = await self._store.events(row["id"])
            consult = Consult(
                station_id=row["station_id"], priority=Priority(row["priority"]), reason=row["reason"],
                vitals=next((e["body"]["readings"] for e in events if e["kind"] == "vitals"), []),
                id=row["id"], state=ConsultState(row["state"]), requested_at=row["created"],
                lead=row["lead"], transfer_to=row["transfer_to"],
                live_since=max((e["time"] for e in events if e["kind"] == "state" and e["body"]["state"] == "live"),
                               default=None),
            )
            if consult.state is ConsultState.REQUESTED:
                if await self._store.move_consult(consult.id, consult.state.value, ConsultState.WAITING.value, "server"):
                    consult.state = ConsultState.WAITING
            self.consults[consult.id] = consult
        if self.consults:
            log.info("restored %d open consults from the store", len(self.consults))
            self._absent = asyncio.create_task(self._abandon_absent(set(self.consults)))

    async def _abandon_absent(self, restored: set[str]) -> None:
        await asyncio.sleep(self._config.station_return_s)
        for consult in [self.consults[c] for c in restored if c in self.consults]:
            if consult.state in (ConsultState.WAITING, ConsultState.TRANSFERRED) and not self._online(consult.station_id):
                await self._transition(consult, ConsultState.ABANDONED, "server")
                await self._close(consult, "the station did not come back after a server restart")

    async def close(self) -> None:
        """Stop publishing the waiting room (the app is shutting down)."""
        self._closed = True
        for task in (self._publish, self._absent):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    # -- connection lifecycle -------------------------------------------------------------

    def new_member(self, principal: Principal, ws: web.WebSocketResponse | LocalSocket) -> Member:
        c = self._config
        return Member(principal, ws, TokenBucket(c.messages_per_second, c.message_burst, time.monotonic()))

    async def connect(self, member: Member) -> None:
        self.members[member.id] = member
        welcome: dict[str, Any] = {
            "type": "welcome",
            "member": member.id,
            "name": member.principal.name,
            "role": member.principal.role.value,
            "ice_servers": [s.to_json() for s in self._config.ice_servers_for(member.principal.name, time.time())],
        }
        if member.principal.role is Role.STATION:
            open_consults = self._open_for_station(member.principal.name)
            welcome["consult"] = open_consults[0].summary() if open_consults else None
        await self._send(member, welcome)
        if member.principal.role is Role.STATION:
            await self._resume_station(member)
        else:
            await self._send(member, self._room_message())
            self._room_changed()  # one more specialist online changes the stations' estimates

    async def disconnect(self, member: Member) -> None:
        self.members.pop(member.id, None)
        if self._closed:  # the server stopping is not the member leaving: its consults stay as stored
            return
        for consult_id in list(member.consults):
            consult = self.consults.get(consult_id)
            if consult is None:
                continue
            self._remove(member, consult)
            if member.principal.role is Role.STATION and consult.state in (ConsultState.WAITING, ConsultState.TRANSFERRED):
                await self._transition(consult, ConsultState.ABANDONED, member)
                await self._close(consult, "the station left")
            else:
                await self._broadcast(consult, {"type": "peer_left", "consult": consult.id, "peer": member.id}, skip=member)
                await self._route(consult)
        for consult in list(self.consults.values()):
            # A claim whose specialist went away goes back to the queue, keeping its place.
            if consult.state is ConsultState.CLAIMED and consult.lead == member.principal.name \
                    and not self._online(member.principal.name):
                await self._transition(consult, ConsultState.WAITING, member, lead=None)
        self._room_changed()

    async def drop_revoked(self) -> None:
        """Close (4401) every station connection whose token has been revoked since it connected."""
        for member in list(self.members.values()):
            if member.token_hash is not None and await self._store.station_for_token(member.token_hash) is None:
                log.info("station %s: token revoked, disconnecting", member.principal.name)
                await member.ws.close(code=4401, message=b"token revoked")

    async def handle(self, member: Member, raw: str) -> None:
        """Process one text frame; errors become an error reply, never an exception."""
        try:
            if not member.bucket.take(time.monotonic()):
                raise LocalError("too many messages", code="rate_limited")
            message = parse(raw, member.principal.role, self._config.max_message_bytes)
            self.metrics.messages.labels(message["type"]).inc()
            await getattr(self, "_on_" + message["type"])(member, message)
        except LocalError as exc:
            await self.refuse(member, exc.code, exc.args[0])

    async def push_readings(self, consult_id: str, readings: list[dict[str, Any]]) -> None:
        """Readings a station uploaded for an open consult (typically taken while its link was
        down) go to the consult's viewers as ``readings {consult, readings}``: their charts
        merge them by time."""
        consult = self.consults.get(consult_id)
        if consult is None:
            return
        message = {"type": "readings", "consult": consult_id, "readings": readings}
        for member_id in list(self.membership.get(consult_id, ())):
            member = self.members.get(member_id)
            if member is not None and member.principal.role in VIEWER_ROLES:
                await self._send(member, message)

    async def refuse(self, member: Member, code: str, message: str) -> None:
        self.metrics.refused.labels(code).inc()
        await self._send(member, {"type": "error", "code": code, "message": message})

    # -- message handlers -----------------------------------------------------------------

    async def _on_ping(self, member: Member, message: dict[str, Any]) -> None:
        await self._send(member, {"type": "pong", "time": time.time()})

    async def _on_request_consult(self, member: Member, message: dict[str, Any]) -> None:
        try:
            priority = Priority(message["priority"])
        except ValueError:
            raise LocalError("priority is emergency, urgent or routine", code="bad_field") from None
        if self._open_for_station(member.principal.name):
            raise LocalError("this station already has an open consult", code="bad_transition")
        vitals = message.get("vitals", [])
        consult = Consult(
            station_id=member.principal.name,
            priority=priority,
            reason=message["reason"][:500],
            vitals=vitals if isinstance(vitals, list) else [],
        )
        await self._store.insert_consult({
            "id": consult.id, "station_id": consult.station_id, "priority": priority.value,
            "reason": consult.reason, "state": consult.state.value,
        }, member.principal.name)
        self.consults[consult.id] = consult
        self._add(member, consult)
        if consult.vitals:
            await self._store.add_event(consult.id, member.principal.name, "vitals", {"readings": consult.vitals})
        await self._transition(consult, ConsultState.WAITING, member)
        await self._send(member, {"type": "consult_requested", "consult": consult.summary()})
        self.metrics.requests.labels(priority.value).inc()
        # The newcomer learns its place at once; everyone else's moves go out with the next room.
        waiting = queue(self.consults.values())
        await self._send_position(member, consult, waiting.index(consult) + 1, len(waiting), self._staff())

    async def _on_cancel_consult(self, member: Member, message: dict[str, Any]) -> None:
        consult = self._member_consult(member, message["consult"])
        await self._transition(consult, ConsultState.ABANDONED, member)
        await self._close(consult, "cancelled")

    async def _on_join(self, member: Member, message: dict[str, Any]) -> None:
        """Join a consult's call: claiming it first if it is waiting, going live if it is claimed."""
        consult = self._open_consult(message["consult"])
        if consult.state is not ConsultState.LIVE:
            if consult.state is not ConsultState.CLAIMED:
                await self._claim(member, consult)
            elif consult.lead != member.principal.name:
                raise LocalError(f"consult is claimed by {consult.lead}", code="bad_transition")
            await self._transition(consult, ConsultState.LIVE, member)
        else:
            self._check_invited(member, consult, "specialist")
        await self._enter(member, consult)

    async def _on_claim(self, member: Member, message: dict[str, Any]) -> None:
        consult = self._open_consult(message["consult"])
        await self._claim(member, consult)
        await self._send(member, {"type": "claimed", "consult": consult.summary()})

    async def _on_claim_next(self, member: Member, message: dict[str, Any]) -> None:
        """Claim the first consult in the queue that this specialist may take."""
        for consult in queue(self.consults.values()):
            if not consult.claimable_by(member.principal.name):
                continue
            try:
                await self._claim(member, consult)
            except LocalError:
                continue  # somebody claimed it between our look and our write: take the next
            await self._send(member, {"type": "claimed", "consult": consult.summary()})
            return
        raise LocalError("nobody is waiting", code="no_consult")

    async def _on_decline(self, member: Member, message: dict[str, Any]) -> None:
        """Hand back a claim (or a transfer addressed to us); the consult keeps its queue place."""
        consult = self._open_consult(message["consult"])
        name = member.principal.name
        if consult.state is ConsultState.CLAIMED and consult.lead == name:
            await self._transition(consult, ConsultState.WAITING, member, lead=None)
        elif consult.state is ConsultState.TRANSFERRED and consult.transfer_to == name:
            await self._transition(consult, ConsultState.WAITING, member, transfer_to=None)
        else:
            raise LocalError("only your own claim or a transfer to you can be declined", code="bad_transition")
        await self._send(member, {"type": "declined", "consult": consult.id})

    async def _on_transfer(self, member: Member, message: dict[str, Any]) -> None:
        """The lead hands the consult to a named colleague (or back to everyone) and leaves it."""
        consult = self._open_consult(message["consult"])
        if consult.lead != member.principal.name:
            raise LocalError("only the lead specialist can transfer a consult", code="bad_transition")
        to = message.get("to")
        if to is not None:
            user = await self._store.get_user(to) if isinstance(to, str) else None
            if user is None or Role(user["role"]) not in CLINICIANS or to == member.principal.name:
                raise LocalError("transfer to another specialist's user name", code="bad_field")
        await self._transition(consult, ConsultState.TRANSFERRED, member, lead=None, transfer_to=to)
        for clinician in [self.members[m] for m in self.membership.get(consult.id, ()) if m in self.members]:
            if clinician.principal.role in CLINICIANS:
                self._remove(clinician, consult)
                await self._broadcast(consult, {"type": "peer_left", "consult": consult.id, "peer": clinician.id})
                await self._send(clinician, {"type": "transferred", "consult": consult.summary()})
        for colleague in self.members.values():
            if to is not None and colleague.principal.name == to:
                await self._send(colleague, {"type": "transfer_offered", "consult": consult.summary(),
                                             "from": member.principal.name})

    async def _on_observe(self, member: Member, message: dict[str, Any]) -> None:
        consult = self._open_consult(message["consult"])
        if consult.state is not ConsultState.LIVE:
            raise LocalError("only a live consult can be observed", code="bad_transition")
        self._check_invited(member, consult, "observer")
        await self._enter(member, consult)

    async def _on_invite(self, member: Member, message: dict[str, Any]) -> None:
        """The lead brings a colleague (``as`` specialist) or an observer into a live consult."""
        consult = self._member_consult(member, message["consult"])
        if consult.state is not ConsultState.LIVE:
            raise LocalError("only a live consult takes invitations", code="bad_transition")
        if member.principal.role is not Role.ADMIN and consult.lead != member.principal.name:
            raise LocalError("only the consult's lead specialist invites", code="forbidden")
        roles = INVITABLE.get(message["as"])
        if roles is None:
            raise LocalError("'as' is specialist or observer", code="bad_field")
        user = message["user"]
        invitees = [m for m in self.members.values() if m.principal.name == user and m.principal.role in roles]
        if not invitees:
            raise LocalError(f"{user!r} is not connected as {'/'.join(sorted(roles))}", code="not_online")
        consult.invited[user] = message["as"]
        await self._store.add_event(consult.id, member.principal.name, "invite", {"user": user, "as": message["as"]})
        for invitee in invitees:
            await self._send(invitee, {"type": "invited", "consult": consult.summary(), "by": member.principal.name,
                                       "as": message["as"]})
        await self._send(member, {"type": "invite_sent", "consult": consult.id, "user": user, "as": message["as"]})

    async def _on_signal(self, member: Member, message: dict[str, Any]) -> None:
        consult = self._member_consult(member, message["consult"])
        target = self.members.get(message["to"])
        if target is None or target.id not in self.membership.get(consult.id, set()):
            raise LocalError("the addressee is not a member of this consult", code="not_member")
        await self._send(target, {
            "type": "signal", "consult": consult.id, "from": member.id,
            "from_role": member.principal.role.value, "data": message["data"],
        })

    async def _on_leave(self, member: Member, message: dict[str, Any]) -> None:
        consult = self._member_consult(member, message["consult"])
        self._remove(member, consult)
        await self._store.add_event(consult.id, member.principal.name, "leave", {})
        await self._broadcast(consult, {"type": "peer_left", "consult": consult.id, "peer": member.id})
        if not any(self.members[m].principal.role is Role.SPECIALIST for m in self.membership.get(consult.id, ())):
            await self._transition(consult, ConsultState.ENDED, member)
            await self._close(consult, "no specialist left")
        else:
            await self._route(consult)

    async def _on_note(self, member: Member, message: dict[str, Any]) -> None:
        """A note for the consult record from one of its members (the chat itself is peer-to-peer)."""
        consult = self._member_consult(member, message["consult"])
        text = message["text"].strip()[:4000]
        if not text:
            raise LocalError("a note needs text", code="bad_field")
        await self._store.add_event(consult.id, member.principal.name, "note", {"text": text})
        await self._send(member, {"type": "noted", "consult": consult.id})

    async def _on_end(self, member: Member, message: dict[str, Any]) -> None:
        consult = self._member_consult(member, message["consult"])
        await self._transition(consult, ConsultState.ENDED, member)
        await self._close(consult, f"ended by {member.principal.name}")

    # -- helpers --------------------------------------------------------------------------

    async def _enter(self, member: Member, consult: Consult) -> None:
        others = [self.members[m].describe() for m in self.membership.get(consult.id, ()) if m in self.members]
        # "joined" goes out before the member is visible to anyone: an offer from a member who
        # sees it (the relay offers to every member it finds) must never arrive before it.
        await self._send(member, {"type": "joined", "consult": consult.summary(), "peers": others})
        self._add(member, consult)
        await self._store.add_event(consult.id, member.principal.name, "join", {"role": member.principal.role.value})
        await self.audit.append(member.principal.name, "join", consult.id, role=member.principal.role.value)
        await self._broadcast(consult, {"type": "peer_joined", "consult": consult.id, "peer": member.describe()}, skip=member)
        if member.principal.role is not Role.RELAY:
            await self._route(consult)

    async def _resume_station(self, member: Member) -> None:
        """A station that reconnects goes straight back into its open consult."""
        for consult in self._open_for_station(member.principal.name):
            others = [self.members[m].describe() for m in self.membership.get(consult.id, ()) if m in self.members]
            self._add(member, consult)
            await self._send(member, {"type": "joined", "consult": consult.summary(), "peers": others})
            await self._broadcast(consult, {"type": "peer_joined", "consult": consult.id, "peer": member.describe()}, skip=member)
            await self._route(consult)

    async def _route(self, consult: Consult) -> None:
        """Tell the station whom to stream to: its one viewer, or the relay once there are more."""
        present = [self.members[m] for m in self.membership.get(consult.id, ()) if m in self.members]
        viewers = [m for m in present if m.principal.role in VIEWER_ROLES]
        relay = self.relays.get(consult.id)
        if relay is None and needs_relay(len(viewers)) and self._relay_factory is not None:
            relay = await self._start_relay(consult)
        targets = [relay] if relay is not None else viewers
        for station in (m for m in present if m.principal.role is Role.STATION):
            await self._send(station, {"type": "uplink", "consult": consult.id, "peers": [t.describe() for t in targets]})

    async def _start_relay(self, consult: Consult) -> Member:
        assert self._relay_factory is not None
        socket = LocalSocket()
        relay = self.new_member(Principal("relay", Role.RELAY), socket)
        ice = [s.to_json() for s in self._config.ice_servers_for("relay", time.time())]

        async def send(message: dict[str, Any]) -> None:
            await self.handle(relay, json.dumps(message))

        socket.bind(self._relay_factory(consult.id, send, ice))
        self.members[relay.id] = relay
        self.relays[consult.id] = relay
        await self._enter(relay, consult)
        log.info("consult %s: relay %s started", consult.id, relay.id)
        return relay

    async def _close(self, consult: Consult, reason: str) -> None:
        await self._broadcast(consult, {"type": "consult_ended", "consult": consult.id, "reason": reason})
        for member_id in self.membership.pop(consult.id, set()):
            if member_id in self.members:
                self.members[member_id].consults.discard(consult.id)
        self.consults.pop(consult.id, None)
        relay = self.relays.pop(consult.id, None)
        if relay is not None:
            self.members.pop(relay.id, None)
            await relay.ws.close()
        self._room_changed()

    async def _claim(self, member: Member, consult: Consult) -> None:
        if not consult.claimable_by(member.principal.name):
            raise LocalError(f"consult is {consult.state} and not yours to claim", code="bad_transition")
        await self._transition(consult, ConsultState.CLAIMED, member, lead=member.principal.name, transfer_to=None)

    async def _transition(self, consult: Consult, target: ConsultState, actor: Member | str,
                          **fields: str | None) -> None:
        """Move ``consult`` (and set ``fields``: lead, transfer_to) in the store first, then here.

        The store's compare-and-set decides races: if another coroutine or node moved the consult
        since we looked, nothing changes and the caller gets ``bad_transition``.
        """
        source = consult.state
        consult.check(target)
        name = actor if isinstance(actor, str) else actor.principal.name
        if not await self._store.move_consult(consult.id, source.value, target.value, name, **fields):
            raise LocalError(f"consult {consult.id} was changed by someone else", code="bad_transition")
        consult.state = target
        for name, value in fields.items():
            setattr(consult, name, value)
        now = time.time()
        if target is ConsultState.LIVE:
            consult.live_since = now
        elif target is ConsultState.ENDED and consult.live_since is not None:
            self.estimator.observe(now - consult.live_since)
        if target not in OPEN_STATES:
            self.consults.pop(consult.id, None)
        self._room_changed()

    def _online(self, name: str) -> bool:
        return any(m.principal.name == name for m in self.members.values())

    def _add(self, member: Member, consult: Consult) -> None:
        self.membership.setdefault(consult.id, set()).add(member.id)
        member.consults.add(consult.id)

    def _remove(self, member: Member, consult: Consult) -> None:
        self.membership.get(consult.id, set()).discard(member.id)
        member.consults.discard(consult.id)

    @staticmethod
    def _check_invited(member: Member, consult: Consult, as_: str) -> None:
        name = member.principal.name
        if member.principal.role is Role.ADMIN or name == consult.lead or consult.invited.get(name) == as_:
            return
        raise LocalError(f"{name} is not invited into consult {consult.id}", code="not_invited")

    def _open_consult(self, consult_id: str) -> Consult:
        consult = self.consults.get(consult_id)
        if consult is None:
            raise LocalError(f"no open consult {consult_id}", code="no_consult")
        return consult

    def _member_consult(self, member: Member, consult_id: str) -> Consult:
        consult = self._open_consult(consult_id)
        if consult_id not in member.consults:
            raise LocalError("you are not a member of this consult", code="not_member")
        return consult

    def _open_for_station(self, station_id: str) -> list[Consult]:
        return [c for c in self.consults.values() if c.station_id == station_id and c.state in OPEN_STATES]

    def _staff_names(self) -> list[str]:
        return sorted({m.principal.name for m in self.members.values() if m.principal.role in CLINICIANS})

    def _staff(self) -> int:
        return len(self._staff_names())

    def _room_message(self) -> dict[str, Any]:
        return {"type": "waiting_room", "consults": [c.summary() for c in ordered(self.consults.values())],
                "staff": self._staff_names()}

    def _room_changed(self) -> None:
        """Schedule one publication of the room: a burst of changes becomes one message per watcher."""
        if not self._closed and (self._publish is None or self._publish.done()):
            self._publish = asyncio.create_task(self._publish_room())

    async def _publish_room(self) -> None:
        await asyncio.sleep(self._config.room_publish_s)
        room = self._room_message()
        staff = len(room["staff"])
        for member in list(self.members.values()):
            if member.principal.role in ROOM_WATCHERS:
                await self._send(member, room)
        waiting = queue(self.consults.values())
        for position, consult in enumerate(waiting, start=1):
            for member_id in list(self.membership.get(consult.id, ())):
                member = self.members.get(member_id)
                if member is not None:
                    await self._send_position(member, consult, position, len(waiting), staff)

    async def _send_position(self, member: Member, consult: Consult, position: int, of: int, staff: int) -> None:
        """Tell a waiting station its place and expected wait, when either changed."""
        estimate = self.estimator.estimate_s(position, staff)
        if member.last_position == (position, estimate):
            return
        member.last_position = (position, estimate)
        await self._send(member, {
            "type": "queue_position", "consult": consult.id, "position": position, "of": of, "estimate_s": estimate,
        })

    async def _broadcast(self, consult: Consult, message: dict[str, Any], skip: Member | None = None) -> None:
        for member_id in list(self.membership.get(consult.id, ())):
            member = self.members.get(member_id)
            if member is not None and member is not skip:
                await self._send(member, message)

    async def _send(self, member: Member, message: dict[str, Any]) -> None:
        if member.ws.closed:
            return
        try:
            await member.ws.send_str(json.dumps(message))
        except ConnectionError:
            log.debug("send to %s failed: connection gone", member.id)
