"""Pacing of one video stream: when each of its packets may leave. Pure: time is an argument.

aiortc hands every packet of a frame to the transport at once. On a thin link a keyframe or a
still of a few KB is seconds of the link, and every vitals message and audio packet that reaches
the bottleneck's drop-tail queue behind it waits that long. Paced, the video leaves no faster
than the rate the adaptive controller leaves it beside audio, vitals and RTCP, so that the
bottleneck queue stays short and what is not paced (audio, RTCP, the data channels) passes it.

The rate is a token bucket that may run into debt: a packet leaves when the bucket is not in
debt, and takes its bits out of it; the bucket refills at the rate, up to ``burst_ms`` of it
(an idle pacer banks no more than that: after a pause, a small frame leaves at once and a big
one is still spread out). Retransmissions leave before new video: the frame they repair is older.

Where a vitals message is expected (``quiet``), no packet leaves just before it: on a 24 kbit/s
uplink a still's packet is 100 ms of the link, and a vitals message behind one came 300 ms over
the one-way delay.

Frames are kept out rather than queued without bound: ``admit`` says whether a new frame should
be encoded at all, from what is queued ahead of it (a frame dropped before the encoder costs the
receiver nothing but a longer frame interval; a packet dropped after it, a broken picture). This
bounds the queue where frames keep their size whatever the interval (stills, each a keyframe);
it does not cut the video's rate (libvpx gives the next frame the bits of the time since the
last one): that is the ladder's job, and the pacer's rate is never below the rung's.
"""

from __future__ import annotations

from collections import deque

from devices.errors import LocalError

#: how much of the rate an idle pacer saves up: a small frame on a fast link leaves at once
BURST_MS = 40.0


class Pacer:
    """The packets of one stream waiting to leave, and when the next one may."""

    def __init__(self, rate_bps: float, *, burst_ms: float = BURST_MS, limit_ms: float = 1_000.0) -> None:
        """``limit_ms``: ``admit`` refuses a new frame while the queue holds more than this."""
        self.burst_ms = burst_ms
        self.limit_ms = limit_ms
        #: frames ``admit`` refused
        self.refused = 0
        self._rate = 0.0
        self.set_rate(rate_bps)
        self._retransmissions: deque[bytes] = deque()
        self._media: deque[bytes] = deque()
        self._queued_bits = 0
        self._credit_bits = 0.0
        self._at_ms: float | None = None
        self._quiet = (0.0, 0.0)  # (from, until) ms: nothing leaves in between

    @property
    def rate_bps(self) -> float:
        return self._rate

    def set_rate(self, rate_bps: float, now_ms: float | None = None) -> None:
        """The rate from ``now_ms`` on: what the bucket gained until then is kept, so the next
        packet's wait is counted at the new rate."""
        if rate_bps <= 0:
            raise LocalError(f"pacing rate {rate_bps} must be positive", code="bad_bitrate")
        if now_ms is not None:
            self._refill(now_ms)
        self._rate = float(rate_bps)

    def __len__(self) -> int:
        return len(self._retransmissions) + len(self._media)

    def push(self, packet: bytes, *, retransmission: bool = False) -> None:
        (self._retransmissions if retransmission else self._media).append(packet)
        self._queued_bits += len(packet) * 8

    def due_ms(self, now_ms: float) -> float | None:
        """When the next packet may leave (``now_ms`` or later); None with nothing queued."""
        if not self:
            return None
        self._refill(now_ms)
        due = now_ms if self._credit_bits >= 0 else now_ms - self._credit_bits / self._rate * 1000
        start, end = self._quiet
        return end if start <= due < end else due

    def quiet(self, from_ms: float, until_ms: float) -> None:
        """Nothing leaves from ``from_ms`` until ``until_ms`` (replaces the last such window)."""
        self._quiet = (from_ms, until_ms)

    def pop(self, now_ms: float) -> bytes:
        """The next packet, leaving now (the caller waited until ``due_ms``)."""
        packet = (self._retransmissions or self._media).popleft()
        self._refill(now_ms)
        bits = len(packet) * 8
        self._credit_bits -= bits
        self._queued_bits -= bits
        return packet

    def backlog_ms(self, now_ms: float) -> float:
        """How long until everything queued has left, at the current rate."""
        self._refill(now_ms)
        return max(0.0, self._queued_bits - self._credit_bits) / self._rate * 1000

    def admit(self, now_ms: float) -> bool:
        """Whether a new frame should be encoded now: what is queued leaves within ``limit_ms``
        (a refusal is counted: the caller drops the frame)."""
        if self.backlog_ms(now_ms) <= self.limit_ms:
            return True
        self.refused += 1
        return False

    def clear(self) -> None:
        self._retransmissions.clear()
        self._media.clear()
        self._queued_bits = 0

    def _refill(self, now_ms: float) -> None:
        if self._at_ms is not None and now_ms > self._at_ms:
            cap = self._rate * self.burst_ms / 1000
            self._credit_bits = min(cap, self._credit_bits + self._rate * (now_ms - self._at_ms) / 1000)
        self._at_ms = now_ms if self._at_ms is None else max(self._at_ms, now_ms)
