"""A per-peer video track that shapes a shared capture source to the current rung.

The camera (or test pattern) runs at its own size and frame rate and is shared by every peer
through aiortc's ``MediaRelay``; each peer's link has its own rung. So resolution and frame rate
are cut per peer here, after the relay: frames are dropped to the rung's frame rate (a still every
``1/fps`` seconds on the stills rung) and scaled down to fit the rung's size, keeping the aspect
ratio and never scaling up. The encoder sees the new size and reopens once (a resolution change
needs a keyframe anyway); frame-rate changes reach it only through the frame timestamps.

Frames are always pulled from the source, also on rungs without video, so that the relay's
queue never fills up with frames nobody reads.
"""

from __future__ import annotations

import time

import av
from aiortc.mediastreams import MediaStreamTrack

from media.ladder import Rung


class RungTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, source: MediaStreamTrack, rung: Rung | None = None) -> None:
        super().__init__()
        self.source = source
        self.rung = rung
        self._due: float | None = None

    def follow(self, rung: Rung) -> None:
        """Adaptive-controller observer: use ``rung`` from the next frame on."""
        if rung != self.rung:
            self._due = None  # the first frame after a change goes out at once
        self.rung = rung

    async def recv(self) -> av.VideoFrame:
        while True:
            frame = await self.source.recv()
            assert isinstance(frame, av.VideoFrame)
            rung = self.rung
            if rung is None:
                return frame
            if rung.has_video and self._keep(_seconds(frame), rung.fps):
                return self._scaled(frame, rung)

    def stop(self) -> None:
        super().stop()
        self.source.stop()

    def _keep(self, t: float, fps: float) -> bool:
        interval = 1.0 / fps
        if self._due is not None and t < self._due:
            return False
        # On time: keep the cadence. Late (a pause, a slow source): restart it from this frame.
        on_time = self._due is not None and t - self._due < interval
        self._due = (self._due if on_time and self._due is not None else t) + interval
        return True

    @staticmethod
    def _scaled(frame: av.VideoFrame, rung: Rung) -> av.VideoFrame:
        scale = min(rung.width / frame.width, rung.height / frame.height)
        if scale >= 1.0:
            return frame
        width = max(2, int(frame.width * scale) // 2 * 2)
        height = max(2, int(frame.height * scale) // 2 * 2)
        scaled = frame.reformat(width=width, height=height, format="yuv420p")
        scaled.pts = frame.pts
        scaled.time_base = frame.time_base
        return scaled


def _seconds(frame: av.VideoFrame) -> float:
    if frame.pts is None or frame.time_base is None:
        return time.monotonic()
    return float(frame.pts * frame.time_base)
