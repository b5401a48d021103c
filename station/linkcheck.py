"""The pre-call link check: measure round trip and throughput to the server, pick a profile.

The profile names are those of ``media/links.toml``. The starting profile is the richest field
preset whose rates the measured path carries, so a call starts at a rate the link can hold
instead of starting high and collapsing on a satellite link.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from devices.errors import LocalError, TransportError
from media.ladder import Ladder
from media.links import LinkProfile, get_profile, load_profiles

PINGS = 5
FIRST_TRANSFER = 4 * 1024
MAX_TRANSFER = 2 * 1024 * 1024
LONG_ENOUGH_S = 0.5  # a transfer this long outweighs the round trip in the throughput figure
AUTO = "auto"  # a station's starting profile when the pre-call check picks it


@dataclass(frozen=True)
class LinkCheck:
    rtt_ms: float
    up_kbps: float
    down_kbps: float
    profile: str
    time: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def field_profiles() -> list[LinkProfile]:
    """The presets of media/links.toml that describe a steady link (outage scenarios are for tests)."""
    return [profile for profile in load_profiles().values() if not profile.outages]


def choose_profile(rtt_ms: float, up_kbps: float, down_kbps: float, profiles: list[LinkProfile]) -> str:
    """The richest profile the measured path carries; the thinnest one if it carries none.

    A profile also has to be slow enough: one whose round trip is under half the measured one
    (Starlink's 50 ms on a 600 ms GEO path) would tune timers and buffers for the wrong link.
    """
    ordered = sorted(profiles, key=lambda p: (p.up_kbps, p.down_kbps, -p.rtt_ms))
    fitting = [p for p in ordered
               if p.up_kbps <= up_kbps and p.down_kbps <= down_kbps and p.rtt_ms >= rtt_ms / 2]
    return (fitting[-1] if fitting else ordered[0]).name


def start_rung(profile: str) -> str:
    """The rung a peer link starts on under starting profile ``profile``: the ladder's usual
    start, or lower when the profile's uplink cannot carry that (a call on BGAN starts where it
    can stay instead of collapsing in its first seconds)."""
    ladder = Ladder()
    fit = ladder.rungs.index(ladder.best_fit(get_profile(profile).up_kbps * 1000))
    return ladder.rungs[max(fit, ladder.rungs.index(ladder.rung))].name


async def _timed(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    async with session.request(method, url, **kwargs) as response:
        if response.status == 401:
            raise LocalError("the server refused the station token", code="unauthorized")
        if response.status != 200:
            raise TransportError(f"link check: {method} {url} answered {response.status}", code="link_check_failed")
        body = await response.read()
    return time.perf_counter() - started, body


async def _throughput_kbps(session: aiohttp.ClientSession, base: str, direction: str, rtt_s: float) -> float:
    """Grow the transfer until it takes long enough to measure, or hits the cap."""
    size = FIRST_TRANSFER
    while True:
        if direction == "up":
            elapsed, _ = await _timed(session, "POST", base + "upload", data=bytes(size))
        else:
            elapsed, _ = await _timed(session, "GET", base + "download", params={"bytes": str(size)})
        if elapsed >= LONG_ENOUGH_S or size >= MAX_TRANSFER:
            return size * 8 / 1000 / max(elapsed - rtt_s, elapsed / 2)
        size = min(MAX_TRANSFER, size * 4)


async def check_link(server: str, token: str, *, timeout_s: float = 60.0) -> LinkCheck:
    """Measure the path to ``server``; raise TransportError if it cannot be measured in time."""
    base = server.rstrip("/") + "/api/linkcheck/"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
            await _timed(session, "GET", base + "ping")  # opens the connection; not counted
            rtts = [(await _timed(session, "GET", base + "ping"))[0] for _ in range(PINGS)]
            rtt_s = statistics.median(rtts)
            up = await _throughput_kbps(session, base, "up", rtt_s)
            down = await _throughput_kbps(session, base, "down", rtt_s)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise TransportError(f"link check failed: {exc}", code="link_check_failed") from exc
    profile = choose_profile(rtt_s * 1000, up, down, field_profiles())
    return LinkCheck(round(rtt_s * 1000, 1), round(up, 1), round(down, 1), profile, time.time())
