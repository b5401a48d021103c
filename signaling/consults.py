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
    ConsultState.CLAIMED: frozenset(
        {ConsultState.LIVE, ConsultState.WAITING, ConsultState.TRANSFERRED, ConsultState.ENDED, ConsultState.ABANDONED}
    ),
    ConsultState.LIVE: frozenset({ConsultState.ENDED, ConsultState.TRANSFERRED, ConsultState.ABANDONED}),
    ConsultState.TRANSFERRED: frozenset({ConsultState.CLAIMED, ConsultState.ABANDONED}),
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

    def move(self, target: ConsultState) -> None:
        if target not in TRANSITIONS[self.state]:
            raise LocalError(f"consult {self.id} cannot go from {self.state} to {target}", code="bad_transition")
        self.state = target

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
            "vitals": self.vitals,
        }
