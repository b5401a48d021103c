"""The stills a consult's relay holds: received whole from the station, put into the consult
record, then served to every viewer on their ``files`` channel (a ``station.filechannel.StillSource``).

The relay is the receiver the station's ``files`` channel talks to once a consult has more than one
viewer; it keeps each verified still in memory for the consult's length so that a viewer who joins
later is offered every still taken so far, and it hands each one to the server's still record
(``StillArchive``; ``signaling.app`` passes ``signaling.stills.StillRecord``), which this package
does not import.
"""

from __future__ import annotations

from typing import Any, Protocol

from station.stills import Still


class StillArchive(Protocol):
    async def put(self, consult_id: str, meta: dict[str, Any], data: bytes) -> bool:
        """Record a verified still for consult ``consult_id``; True once the record holds it."""


class HeldStills:
    """Stills of one consult, in the order they arrived; every viewer's channel offers them all."""

    def __init__(self) -> None:
        self._stills: dict[str, tuple[Still, bytes]] = {}

    def add(self, offer: dict[str, Any], data: bytes) -> Still:
        fields = {name: offer[name] for name in ("id", "consult", "by", "taken", "size", "sha256", "width", "height")}
        still = Still(**fields)
        self._stills.setdefault(still.id, (still, data))
        return self._stills[still.id][0]

    def unshown(self) -> list[Still]:
        return [still for still, _ in self._stills.values()]

    def get(self, still_id: str) -> Still | None:
        held = self._stills.get(still_id)
        return held[0] if held is not None else None

    def data(self, still: Still) -> bytes:
        return self._stills[still.id][1]

    def delivered(self, still: Still, recorded: bool) -> None:
        """Nothing to keep: the record already holds the still, and a viewer's ``done`` only
        stops that viewer's transfer."""
