"""The pre-call link check: measure round trip and throughput to the server; where a call starts.

A satellite path needs care. One TCP flow over a GEO round trip is still in slow start after a
transfer that looks long on a LAN, and under the link's random loss it cannot fill the link
anyway (~330 kbit/s at 600 ms and 0.5 % loss): one growing transfer read a tenth of a 1 Mbit/s
VSAT uplink. So each direction runs ``STREAMS`` connections at once, uplink and downlink
together, for a time that grows with the round trip (bounded: transfers stop ``STOP_S`` after
the check began; ~23 s on a 24 kbit/s, 1.5 s link). Every connection sends back-to-back requests, each sized from the rate its last one
showed to last a couple of round trips, starting at a kilobyte, so a thin link is never flooded
by the check. The throughput is the bytes that crossed the link after the first round trips
(handshakes, slow start) over the time some request was crossing it (a request's round trip of
request and answer leaves the link idle, not slow), with IP, TCP and HTTP headers counted as
the link carries them. A thin link may read low (its requests are small); a reading never floods it.

The call starts from the reading: the estimator at ``START_SHARE`` of the uplink, the ladder on
the best rung that fits that (``start_at``; the station also starts calls from a configured
preset's uplink, or from where its last call settled). The profile names are those of ``media/links.toml``: the richest
field preset the measured path carries is reported as the link's kind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from devices.errors import LocalError, TransportError
from media.adaptive import CLIMB_CLOSE
from media.estimator import BandwidthEstimator, EstimatorConfig
from media.ladder import Ladder
from media.links import LinkProfile, load_profiles

AUTO = "auto"  # a station's starting profile when the pre-call check picks it
PINGS = 2  # after the one that opens the connection
STREAMS = 4  # parallel connections per direction
FIRST_TRANSFER = 1024  # four of these fit the drop-tail queue of the thinnest BGAN class
MAX_TRANSFER = 1024 * 1024  # the server allows 4 MB
BUDGET_BYTES = 8 * 1024 * 1024  # per direction: a fast link is known well enough by then
MEASURE_RTTS = 10  # each direction is measured this many round trips...
MEASURE_MIN_S, MEASURE_MAX_S = 2.0, 10.0  # ...within these bounds
WARMUP_RTTS = 4  # handshakes and slow start: what crossed the link before is not counted
REQUEST_RTTS = 2  # a request is sized to cross the link in this many round trips...
REQUEST_MIN_S = 0.25  # ...or this long
STOP_S = 25.0  # transfers still running this long after the check began are dropped, uncounted
TIMEOUT_S = 30.0
#: the link carries IP and TCP headers (20 + 32 with timestamps) on every 1448-byte segment...
WIRE_PER_BYTE = 1500 / 1448
#: ...and HTTP headers on every request (~270 bytes up) or answer (~160 down)
HTTP_HEADER_BYTES = 160
#: the share of the measured uplink a call starts at. All of it: the reading is already below the
#: link on every emulated link measured (0.54-1.0 of the uplink; TCP under loss and long round
#: trips reads low), each rung's requirement keeps a reserve, and the pacer spreads keyframes.
#: At 0.8, bgan-64 (reading 40-55 of 64) started on stills, every time a freeze of 10-30 s.
START_SHARE = 1.0
#: ...and a reading this close to ``stills`` starts there rather than on vitals (see ``start_at``)
START_CLOSE = 0.6


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


def start_bps(up_kbps: float) -> int:
    """Where the estimator of a call starts on an uplink that carries ``up_kbps``."""
    return int(min(EstimatorConfig.max_bps, START_SHARE * up_kbps * 1000))


def start_at(bps: int) -> tuple[Ladder, BandwidthEstimator]:
    """A call's ladder and estimator starting at ``bps``: the ladder on the best rung that fits it
    (no cap: a VSAT call starts at VGA instead of climbing for a minute over 600 ms round trips).
    Where that rung has no motion and ``bps`` is close to the next one up, the call starts on
    that one as the probe would ten seconds on (the estimator at what the probe asks), and a link
    that does not carry it steps down within two round trips. Close: within ``CLIMB_CLOSE`` of
    ``qvga6`` (bgan-64's checks read 38-58 of 64 kbit/s, and one under its 42 began the consult
    with a 10 s freeze on stills; bgan-field's read up to 25.5 of 24, and ``qvga6`` there
    dropped 100 packets in 12 s); ``START_CLOSE`` of ``stills``, whose audio and still every
    10 s cost little to try (bgan-field's checks read from 11, and one at 12.3 started on vitals:
    the first still came 15 s into the consult)."""
    ladder = Ladder()
    fit = ladder.best_fit(bps)
    index = ladder.rungs.index(fit)
    up = ladder.rungs[max(0, index - 1)]
    if not fit.motion and index > 0 and bps >= (START_CLOSE if up.stills else CLIMB_CLOSE) * up.required_bps():
        fit, bps = up, max(bps, int(up.required_bps() * ladder.config.up_headroom))
    return Ladder(start=fit.name), BandwidthEstimator(EstimatorConfig(start_bps=bps, start_measured=True))


@dataclass(frozen=True)
class Transfer:
    """One request: on the link from ``start`` until a round trip before it was answered."""

    start: float
    end: float
    size: int


Request = Callable[[int], Awaitable[None]]


async def _timed(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> float:
    started = time.monotonic()
    async with session.request(method, url, **kwargs) as response:
        if response.status == 401:
            raise LocalError("the server refused the station token", code="unauthorized")
        if response.status != 200:
            raise TransportError(f"link check: {method} {url} answered {response.status}", code="link_check_failed")
        await response.read()
    return time.monotonic() - started


async def _stream(request: Request, deadline: float, stop: float, rtt_s: float, budget: list[int]) -> list[Transfer]:
    """Back-to-back requests on one connection until ``deadline`` or the direction's budget is
    spent; each sized from the rate the one before showed (at most four times larger). One still
    running at ``stop`` is dropped (a thin link's reading comes out low rather than not at all)."""
    transfers: list[Transfer] = []
    size = FIRST_TRANSFER
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= size
        started = time.monotonic()
        try:
            async with asyncio.timeout(stop - started):
                await request(size)
        except TimeoutError:
            break
        ended = time.monotonic()
        transfers.append(Transfer(started, max(ended - rtt_s, (started + ended) / 2), size + HTTP_HEADER_BYTES))
        rate = transfers[-1].size / (transfers[-1].end - started)
        size = int(min(MAX_TRANSFER, 4 * size, max(size, rate * max(REQUEST_RTTS * rtt_s, REQUEST_MIN_S))))
    return transfers


def throughput_kbps(streams: list[list[Transfer]], since: float) -> float:
    """Wire kbit/s over the time some transfer was on the link, from ``since`` until the first
    stream stopped (the last ones alone may not fill the link); each transfer's bytes are spread
    evenly over its time on the link. The whole measurement counts if that window is empty."""
    streams = [transfers for transfers in streams if transfers]
    if not streams:
        raise TransportError("link check: no transfer finished in time", code="link_check_failed")
    until = min(transfers[-1].end for transfers in streams)
    everything = [t for transfers in streams for t in transfers]
    if until <= since:
        since, until = min(t.start for t in everything), max(t.end for t in everything)
    sent = busy = 0.0
    covered = since
    for t in sorted(everything, key=lambda t: t.start):
        start, end = max(t.start, since), min(t.end, until)
        if end <= start:
            continue
        sent += t.size * (end - start) / (t.end - t.start)
        busy += max(0.0, end - max(start, covered))
        covered = max(covered, end)
    return sent * WIRE_PER_BYTE * 8 / 1000 / busy if busy > 0 else 0.0


async def _measure(request: Request, rtt_s: float, stop: float) -> float:
    started = time.monotonic()
    deadline = started + min(MEASURE_MAX_S, max(MEASURE_MIN_S, MEASURE_RTTS * rtt_s))
    budget = [BUDGET_BYTES]
    streams = await asyncio.gather(*(_stream(request, deadline, stop, rtt_s, budget) for _ in range(STREAMS)))
    return throughput_kbps(list(streams), started + WARMUP_RTTS * rtt_s)


async def check_link(server: str, token: str, *, timeout_s: float = TIMEOUT_S) -> LinkCheck:
    """Measure the path to ``server``; raise TransportError if it cannot be measured in time."""
    base = server.rstrip("/") + "/api/linkcheck/"
    stop = time.monotonic() + min(STOP_S, timeout_s)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with asyncio.timeout(timeout_s), aiohttp.ClientSession(headers=headers) as session:

            async def upload(size: int) -> None:
                await _timed(session, "POST", base + "upload", data=bytes(size))

            async def download(size: int) -> None:
                await _timed(session, "GET", base + "download", params={"bytes": str(size)})

            await _timed(session, "GET", base + "ping")  # opens the connection; not counted
            rtt_s = min([await _timed(session, "GET", base + "ping") for _ in range(PINGS)])
            up, down = await asyncio.gather(_measure(upload, rtt_s, stop), _measure(download, rtt_s, stop))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise TransportError(f"link check failed: {exc or 'timed out'}", code="link_check_failed") from exc
    profile = choose_profile(rtt_s * 1000, up, down, field_profiles())
    return LinkCheck(round(rtt_s * 1000, 1), round(up, 1), round(down, 1), profile, time.time())
