"""The station's stills: stored on disk first, then delivered, and kept until the server has them.

A still is written (JPEG, then its metadata) before anyone is told about it, so a power cut
or a dropped link loses nothing: after a restart every still the server has not confirmed is
pending again. Delivery state lives in the metadata file: ``sent`` (bytes the current receiver
acknowledged, for progress bars), ``shown`` (a specialist, or the server's relay, received it
intact over the ``files`` channel) and ``recorded`` (the server's consult record holds it,
checksum verified: after the HTTP upload, or at once when the relay received it).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MIME = "image/jpeg"


@dataclass
class Still:
    id: str
    consult: str | None
    by: str  # "staff" or "specialist": who asked for it
    taken: float
    size: int
    sha256: str
    width: int
    height: int
    sent: int = 0
    shown: bool = False
    recorded: bool = False

    @property
    def name(self) -> str:
        return time.strftime("still-%Y%m%d-%H%M%S", time.gmtime(self.taken)) + f"-{self.id[:8]}.jpg"

    def offer(self) -> dict[str, Any]:
        """What a receiver needs to accept, resume and verify the transfer."""
        return {"type": "file", "id": self.id, "name": self.name, "mime": MIME, "size": self.size,
                "sha256": self.sha256, "taken": self.taken, "by": self.by, "consult": self.consult,
                "width": self.width, "height": self.height}

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "name": self.name}


class StillStore:
    """Stills in one directory: ``ID.jpg`` and ``ID.json`` (written atomically, after the image)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.changed = asyncio.Event()
        self._stills: dict[str, Still] = {}
        for meta in sorted(directory.glob("*.json")):
            still = Still(**json.loads(meta.read_text()))
            if (directory / f"{still.id}.jpg").exists():
                self._stills[still.id] = still

    def add(self, data: bytes, *, consult: str | None, by: str, width: int, height: int) -> Still:
        still = Still(id=uuid.uuid4().hex, consult=consult, by=by, taken=time.time(), size=len(data),
                      sha256=hashlib.sha256(data).hexdigest(), width=width, height=height)
        path = self.directory / f"{still.id}.jpg"
        with open(path, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        self._stills[still.id] = still
        self.save(still)
        return still

    def get(self, still_id: str) -> Still | None:
        return self._stills.get(still_id)

    def data(self, still: Still) -> bytes:
        return (self.directory / f"{still.id}.jpg").read_bytes()

    def save(self, still: Still) -> None:
        """Persist the delivery state of ``still`` and wake whoever waits for changes."""
        tmp = self.directory / f"{still.id}.json.tmp"
        tmp.write_text(json.dumps(asdict(still)))
        os.replace(tmp, self.directory / f"{still.id}.json")
        self.changed.set()

    def pending(self) -> list[Still]:
        """Stills the server's record does not hold yet, oldest first."""
        return sorted((s for s in self._stills.values() if not s.recorded), key=lambda s: s.taken)

    def unshown(self) -> list[Still]:
        """Pending stills no receiver has verified yet: a ``files`` channel offers them when it opens."""
        return [s for s in self.pending() if not s.shown]

    def delivered(self, still: Still, recorded: bool) -> None:
        """A receiver on the ``files`` channel verified ``still`` (the relay: and the record holds it)."""
        still.sent, still.shown = still.size, True
        still.recorded = still.recorded or recorded
        self.save(still)
