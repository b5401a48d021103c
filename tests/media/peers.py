"""Two real aiortc peers on this host, and small live sources for them (test helpers)."""

from __future__ import annotations

import asyncio
import fractions
import re
import time

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, MediaStreamTrack

from media.tuning import PLAYOUT_DELAY_URI

VIDEO_CLOCK = 90_000


class MovingTrack(MediaStreamTrack):
    """A moving gradient at a settable size and frame rate."""

    kind = "video"

    def __init__(self, size: tuple[int, int] = (320, 240), fps: float = 15.0) -> None:
        super().__init__()
        self.size = size
        self.fps = fps
        self._count = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        self._count += 1
        wait = self._start + self._count / self.fps - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = av.VideoFrame.from_ndarray(self.draw(), format="bgr24")
        frame.pts = int((time.monotonic() - self._start) * VIDEO_CLOCK)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame


    def draw(self) -> np.ndarray:
        width, height = self.size
        x = np.arange(width, dtype=np.uint16)[None, :] + self._count * 4
        y = np.arange(height, dtype=np.uint16)[:, None]
        planes = [(x + y) % 256, (x * 2 + 0 * y) % 256, (y * 3 + 0 * x + self._count) % 256]
        return np.stack(planes, axis=-1).astype(np.uint8)


def offline_peer() -> RTCPeerConnection:
    """A peer connection with no STUN server (offline like a clinic)."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def connected_pair(
    *tracks: MediaStreamTrack, sender: RTCPeerConnection | None = None
) -> tuple[RTCPeerConnection, RTCPeerConnection]:
    """``sender`` (an ``offline_peer()`` unless given, e.g. with data channels already made)
    offers ``tracks``; ``receiver`` answers."""
    sender = sender or offline_peer()
    receiver = offline_peer()
    for track in tracks:
        sender.addTrack(track)
    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    return sender, receiver


def playout_delay_ids(sdp: str) -> dict[str, int]:
    """The id of the playout-delay header extension per media kind ("audio", "video") in ``sdp``."""
    ids: dict[str, int] = {}
    for section in sdp.split("m=")[1:]:
        found = re.search(r"a=extmap:(\d+) " + re.escape(PLAYOUT_DELAY_URI), section)
        if found:
            ids[section.split(" ", 1)[0]] = int(found.group(1))
    return ids


__all__ = ["AudioStreamTrack", "MovingTrack", "connected_pair", "offline_peer", "playout_delay_ids"]
