"""A video jitter buffer with a time deadline.

aiortc's ``JitterBuffer`` hands out a frame only when the first packet of the *next* frame has
arrived after it, contiguously: one packet that never comes (lost, and its retransmission too)
stalls the video until 512 newer packets push it out, 5-12 s on the links we serve. This buffer
hands out a frame as soon as its packets from the first (VP8 start bit) to the last (RTP marker)
are in, and when the frame at the head stays incomplete past ``deadline_ms`` it skips to the next
frame that can be decoded: frames that reference the lost one are dropped until a keyframe, and
a picture loss indication (PLI) is asked for, again every ``pli_retry_ms`` while waiting.

With temporal layers (``media.encoders``) an incomplete frame need not stall anything: once the
next base-layer frame (TID 0, TL0PICIDX one past the last base frame handed out) is complete,
what is missing before it can only be upper-layer frames, which nothing references; the buffer
moves on to it at once, with no PLI (counted in ``thinned_frames``). A gap in the sequence
numbers before the frame whose picture id follows the last one's held no video (parity packets
of ``media.fec``, which go to ``media.fec.Recovery`` instead): it is passed at once.

``push(packet, now_ms)`` is pure; ``add(packet)`` is the adapter aiortc's ``RTCRtpReceiver``
calls (one frame per call; the others wait in ``ready`` for the receiver hook to drain).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket


class DeadlineJitterBuffer:
    def __init__(
        self,
        deadline_ms: float = 800.0,
        *,
        pli_retry_ms: float = 2_000.0,
        window: int = 2048,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.deadline_ms = deadline_ms
        self.pli_retry_ms = pli_retry_ms
        self.window = window
        self.ready: list[JitterFrame] = []
        self.skipped_frames = 0
        self.thinned_frames = 0
        self._clock = clock
        self._packets: dict[int, tuple[RtpPacket, float]] = {}  # extended seq -> (packet, arrival)
        self._highest: int | None = None
        self._next: int | None = None
        self._need_keyframe = True  # a decoder can start only from a keyframe
        self._pli_at_ms: float | None = None
        self._dropped_waiting = 0
        self._base: int | None = None  # TL0PICIDX of the last base frame handed out
        self._picture: int | None = None  # picture id of the last frame taken

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        """aiortc's ``JitterBuffer.add`` contract, on the wall clock."""
        pli, frames = self.push(packet, self._clock() * 1000)
        self.ready.extend(frames)
        return pli, self.ready.pop(0) if self.ready else None

    def push(self, packet: RtpPacket, now_ms: float) -> tuple[bool, list[JitterFrame]]:
        """Add one packet (``_data`` depayloaded, ``payload`` raw); return (send PLI, frames)."""
        ext = self._extend(packet.sequence_number)
        if self._next is not None and ext < self._next:
            return False, []  # too late: we moved past it
        self._packets[ext] = (packet, now_ms)
        if len(self._packets) > self.window:
            for old in sorted(self._packets)[: len(self._packets) - self.window]:
                del self._packets[old]
        frames: list[JitterFrame] = []
        pli = False
        while True:
            if self._next is None:
                self._next = self._next_start(after=None)
                if self._next is None:
                    break
            frame_end = self._complete_from(self._next)
            if frame_end is not None:
                frame = self._take(self._next, frame_end)
                self._next = frame_end + 1
                if frame is not None:
                    frames.append(frame)
                continue
            start = self._following()
            if start is not None:
                self._skip_to(start, keyframe_needed=False)
                self._next = start
                continue
            base = self._next_base()
            if base is not None:
                self.thinned_frames += 1
                self._skip_to(base, keyframe_needed=False)
                self._next = base
                continue
            if not self._expired(now_ms):
                break
            start = self._next_start(after=self._next)
            if start is None:
                break
            pli |= self._skip_to(start)
            self._next = start
        # Still waiting for a keyframe and dropping frames: ask (again, if the last ask is old).
        if self._need_keyframe and self._dropped_waiting and (
            self._pli_at_ms is None or now_ms - self._pli_at_ms >= self.pli_retry_ms
        ):
            pli = True
        if pli:
            self._pli_at_ms = now_ms
            self._dropped_waiting = 0
        return pli, frames

    def _extend(self, seq: int) -> int:
        if self._highest is None:
            self._highest = seq
            return seq
        delta = (seq - self._highest) & 0xFFFF
        ext = self._highest + delta if delta < 0x8000 else self._highest + delta - 0x10000
        self._highest = max(self._highest, ext)
        return ext

    def _expired(self, now_ms: float) -> bool:
        """The oldest packet waiting behind the head has waited past the deadline."""
        waiting = [arrival for seq, (_, arrival) in self._packets.items() if self._next is None or seq >= self._next]
        return bool(waiting) and now_ms - min(waiting) > self.deadline_ms

    def _next_start(self, after: int | None) -> int | None:
        starts = [seq for seq, (p, _) in self._packets.items() if (after is None or seq > after) and _is_start(p)]
        return min(starts, default=None)

    def _complete_from(self, start: int) -> int | None:
        first = self._packets.get(start)
        if first is None or not _is_start(first[0]):
            return None
        seq = start
        while (entry := self._packets.get(seq)) is not None:
            if entry[0].timestamp != first[0].timestamp:
                return None  # the marker went missing: not a frame we can trust
            if entry[0].marker:
                return seq
            seq += 1
        return None

    def _take(self, start: int, end: int) -> JitterFrame | None:
        packets = [self._packets.pop(seq)[0] for seq in range(start, end + 1)]
        keyframe = bool(packets[0]._data) and not packets[0]._data[0] & 0x01  # type: ignore[attr-defined]
        descriptor = _descriptor(packets[0])
        self._picture = None if descriptor is None else descriptor.picture_id
        if self._need_keyframe and not keyframe:
            self.skipped_frames += 1
            self._dropped_waiting += 1
            return None
        self._need_keyframe = False
        if descriptor is None or descriptor.tid is None or descriptor.tl0picidx is None:
            self._base = None  # not layered: every frame may be a reference
        elif keyframe or descriptor.tid[0] == 0:
            self._base = descriptor.tl0picidx
        return JitterFrame(data=b"".join(p._data for p in packets), timestamp=packets[0].timestamp)  # type: ignore[attr-defined]

    def _following(self) -> int | None:
        """The start of the frame right after the last one taken (its picture id the next) when
        the head is a gap before it: what the gap held was no part of a frame (parity packets,
        ``media.fec``). None otherwise."""
        if self._picture is None or self._next is None or self._next in self._packets:
            return None
        start = self._next_start(after=self._next)
        descriptor = None if start is None else _descriptor(self._packets[start][0])
        if descriptor is None or descriptor.picture_id is None:
            return None
        return start if (descriptor.picture_id - self._picture) % 0x8000 == 1 else None

    def _next_base(self) -> int | None:
        """The start of the next base frame when it is complete and follows the last base frame
        handed out (so only upper-layer frames are missing before it); else None."""
        if self._base is None or self._need_keyframe or self._next is None:
            return None
        start: int | None = self._next
        while (start := self._next_start(after=start)) is not None:
            descriptor = _descriptor(self._packets[start][0])
            if descriptor is None or descriptor.tid is None:
                return None
            if descriptor.tid[0] == 0:
                follows = descriptor.tl0picidx == (self._base + 1) % 256
                return start if follows and self._complete_from(start) is not None else None
        return None

    def _skip_to(self, start: int, *, keyframe_needed: bool = True) -> bool:
        """Drop everything before ``start``; returns True (a PLI is due) when frames were lost."""
        for seq in [s for s in self._packets if s < start]:
            del self._packets[seq]
        if not keyframe_needed:
            return False
        self.skipped_frames += 1
        self._need_keyframe = True
        return True


def _descriptor(packet: RtpPacket) -> VpxPayloadDescriptor | None:
    try:
        return VpxPayloadDescriptor.parse(packet.payload)[0]
    except ValueError:
        return None


def _is_start(packet: RtpPacket) -> bool:
    """The first packet of a VP8 frame: start bit set in partition 0."""
    descriptor = _descriptor(packet)
    return descriptor is not None and bool(descriptor.partition_start) and descriptor.partition_id == 0
