"""The consult lifecycle as an explicit state machine, and the waiting room's order."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from devices.errors import LocalError


class ConsultState(StrEnum):
    REQUESTED = "requested"
    WAITING = "waiting"
    CLAIMED = "claimed"
    LIVE = "live"
    ENDED = "ended"
    ABANDONED = "abandoned"
    TRANSFERRED = "transferred"


class Priority(StrEnum):
    EMERGENCY = "emergency"
    URGENT = "urgent"
    ROUTINE = "routine"


PRIORITY_RANK = {Priority.EMERGENCY: 0, Priority.URGENT: 1, Priority.ROUTINE: 2}

# Legal transitions. Anything else is a LocalError with code "bad_transition".
TRANSITIONS: dict[ConsultState, frozenset[ConsultState]] = {
    ConsultState.REQUESTED: frozenset({ConsultState.WAITING, ConsultState.ABANDONED}),
    ConsultState.WAITING: frozenset({ConsultState.CLAIMED, ConsultState.ABANDONED}),
    # Back to WAITING when the claimer declines.
    ConsultState.CLAIMED: frozenset(
        {ConsultState.LIVE, ConsultState.WAITING, ConsultState.TRANSFERRED, ConsultState.ENDED, ConsultState.ABANDONED}
    ),
    ConsultState.LIVE: frozenset({ConsultState.ENDED, ConsultState.TRANSFERRED, ConsultState.ABANDONED}),
    # A transfer is claimed by its addressee (or anyone, when it names nobody), or declined back to WAITING.
    ConsultState.TRANSFERRED: frozenset({ConsultState.CLAIMED, ConsultState.WAITING, ConsultState.ABANDONED}),
    ConsultState.ENDED: frozenset(),
    ConsultState.ABANDONED: frozenset(),
}

OPEN_STATES = frozenset({ConsultState.REQUESTED, ConsultState.WAITING, ConsultState.CLAIMED,
                         ConsultState.LIVE, ConsultState.TRANSFERRED})


@dataclass
class Consult:
    station_id: str
    priority: Priority
    reason: str
    vitals: list[dict[str, Any]] = field(default_factory=list)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    state: ConsultState = ConsultState.REQUESTED
    requested_at: float = field(default_factory=time.time)
    lead: str | None = None
    #: who the lead invited into the live consult: user name -> "specialist" | "observer"
    invited: dict[str, str] = field(default_factory=dict)
    transfer_to: str | None = None
    live_since: float | None = None

    def check(self, target: ConsultState) -> None:
        """Raise ``bad_transition`` unless the table allows going from the present state to ``target``."""
        if target not in TRANSITIONS[self.state]:
            raise LocalError(f"consult {self.id} cannot go from {self.state} to {target}", code="bad_transition")

    def claimable_by(self, name: str) -> bool:
        """Waiting consults are anyone's; a transfer only its addressee's (or anyone's if it names none)."""
        if self.state is ConsultState.WAITING:
            return True
        return self.state is ConsultState.TRANSFERRED and self.transfer_to in (None, name)

    def sort_key(self) -> tuple[int, float]:
        """Waiting-room order: priority first, then who has waited longest."""
        return (PRIORITY_RANK[self.priority], self.requested_at)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "station": self.station_id,
            "priority": self.priority.value,
            "reason": self.reason,
            "state": self.state.value,
            "requested_at": self.requested_at,
            "lead": self.lead,
            "transfer_to": self.transfer_to,
            "vitals": self.vitals,
        }
