"""The waiting room's order, the stations' queue positions and wait estimates.

Pure: consults and numbers in, order and estimates out. The hub decides when to publish.
"""

from __future__ import annotations

from collections.abc import Iterable

from signaling.consults import OPEN_STATES, Consult, ConsultState


def ordered(consults: Iterable[Consult]) -> list[Consult]:
    """Open consults by priority, then by who has waited longest (a declined one keeps its place)."""
    return sorted((c for c in consults if c.state in OPEN_STATES), key=Consult.sort_key)


def queue(consults: Iterable[Consult]) -> list[Consult]:
    """The consults waiting for a specialist, in the order they will be taken."""
    return [c for c in ordered(consults) if c.state in (ConsultState.WAITING, ConsultState.TRANSFERRED)]


class WaitEstimator:
    """Expected wait: consults up to ours, shared among the specialists online, times the mean length.

    Position ``p`` with ``staff`` specialists online waits about ``p / staff`` consult lengths
    (each specialist is assumed busy with one). The mean starts at ``default_s`` and follows finished consults with an
    exponential weight, so an outbreak's short triage calls pull it down within a few consults.
    """

    def __init__(self, default_s: float, weight: float = 0.2) -> None:
        self.mean_s = default_s
        self._weight = weight

    def observe(self, duration_s: float) -> None:
        self.mean_s += self._weight * (max(0.0, duration_s) - self.mean_s)

    def estimate_s(self, position: int, staff: int) -> float | None:
        """Seconds until ``position`` is taken; None while no specialist is online."""
        if staff <= 0:
            return None
        return position / staff * self.mean_s
