"""Rate limiting for high-rate streams (BerryMed at 100 Hz, Contec at 60 Hz, Nonin DF2 at 3 Hz).

Publishing every packet would flood the reading bus, the data channel and the outbox with
identical values; a change must still go out at once.
"""

from __future__ import annotations

from devices.reading import Kind, Reading


class Throttle:
    """Passes a reading when its value or status changed, or ``every_s`` after the last one passed."""

    def __init__(self, every_s: float = 1.0) -> None:
        self.every_s = every_s
        self._last: dict[Kind, tuple[Reading, float]] = {}

    def __call__(self, reading: Reading) -> bool:
        previous = self._last.get(reading.kind)
        if previous is not None:
            old, passed_at = previous
            same = (old.value, old.absent, old.status) == (reading.value, reading.absent, reading.status)
            if same and reading.time - passed_at < self.every_s:
                return False
        self._last[reading.kind] = (reading, reading.time)
        return True
