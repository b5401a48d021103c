"""Link profiles: the satellite and terrestrial links Farlink is benchmarked and tuned against.

The profiles ship as package data (``media/links.toml``, a copy of the design's
``links.toml``) so a clean clone, a wheel and the benchmark all read the same figures.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from devices.errors import LocalError


@dataclass(frozen=True)
class LinkProfile:
    """One link. ``up`` is station -> specialist, ``down`` the reverse; rates in kbit/s.

    ``rtt_ms`` is the base round trip (each direction adds half); ``loss`` is the random loss
    per packet in each direction; ``queue_ms`` sizes the drop-tail queue at the bottleneck in
    milliseconds of the link's rate; ``outages`` are (start_s, length_s) windows with every
    packet lost; every ``handover_every_s`` seconds a ``handover_ms`` burst loses packets with
    probability ``handover_loss``.
    """

    name: str
    up_kbps: float
    down_kbps: float
    rtt_ms: float
    loss: float = 0.0
    queue_ms: float = 100.0
    outages: tuple[tuple[float, float], ...] = ()
    handover_every_s: float | None = None
    handover_ms: float = 0.0
    handover_loss: float = 0.0

    def loss_at(self, t_s: float) -> float:
        """Probability that a packet leaving the bottleneck ``t_s`` seconds after start is lost."""
        if any(start <= t_s < start + length for start, length in self.outages):
            return 1.0
        if self.handover_every_s and t_s >= self.handover_every_s:
            if t_s % self.handover_every_s < self.handover_ms / 1000:
                return max(self.loss, self.handover_loss)
        return self.loss


_KEYS = {"up", "down", "rtt", "loss", "queue_ms", "outages", "handover_every_s", "handover_ms", "handover_loss"}


def parse_profile(name: str, table: dict[str, Any]) -> LinkProfile:
    """Build a profile from one TOML table; ``LocalError(code="bad_profile")`` names what is wrong."""
    unknown = set(table) - _KEYS
    if unknown:
        raise LocalError(f"profile {name!r}: unknown keys {sorted(unknown)}", code="bad_profile")
    try:
        profile = LinkProfile(
            name=name,
            up_kbps=float(table["up"]),
            down_kbps=float(table["down"]),
            rtt_ms=float(table["rtt"]),
            loss=float(table.get("loss", 0.0)),
            queue_ms=float(table.get("queue_ms", 100.0)),
            outages=tuple((float(s), float(n)) for s, n in table.get("outages", [])),
            handover_every_s=float(table["handover_every_s"]) if "handover_every_s" in table else None,
            handover_ms=float(table.get("handover_ms", 0.0)),
            handover_loss=float(table.get("handover_loss", 0.0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LocalError(f"profile {name!r}: missing or malformed {exc}", code="bad_profile") from exc
    if profile.up_kbps <= 0 or profile.down_kbps <= 0 or profile.rtt_ms < 0 or profile.queue_ms <= 0:
        raise LocalError(f"profile {name!r}: rates and queue must be positive, rtt not negative", code="bad_profile")
    if not (0 <= profile.loss <= 1 and 0 <= profile.handover_loss <= 1):
        raise LocalError(f"profile {name!r}: loss must be within 0..1", code="bad_profile")
    return profile


def load_profiles(path: Path | None = None) -> dict[str, LinkProfile]:
    """All profiles, in file order; the packaged ``links.toml`` unless ``path`` is given."""
    text = path.read_text() if path else resources.files("media").joinpath("links.toml").read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LocalError(f"link profiles: {exc}", code="bad_profile") from exc
    return {name: parse_profile(name, table) for name, table in data.items()}


def get_profile(name: str) -> LinkProfile:
    """One packaged profile by name; ``LocalError(code="unknown_profile")`` lists the known ones."""
    profiles = load_profiles()
    if name not in profiles:
        raise LocalError(f"no link profile {name!r}; known: {', '.join(profiles)}", code="unknown_profile")
    return profiles[name]
