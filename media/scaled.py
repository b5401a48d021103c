"""A video track scaled and thinned to one viewer's rung of the ladder.

aiortc has no simulcast, so a relay cannot pick one of several encodings the station sent; it
decodes the station's video once and encodes it again for each viewer. This track sits between
the shared decoded frames and one viewer's encoder: it drops frames above the rung's frame rate
and scales the rest to the rung's size, so each encoder spends that viewer's budget only (the
same ``size`` / ``fps`` attributes ``media.adaptive.follow`` sets on a capture track).
"""

from __future__ import annotations

from aiortc.mediastreams import MediaStreamTrack
from av import VideoFrame


class ScaledTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, source: MediaStreamTrack, size: tuple[int, int] | None = None, fps: float | None = None) -> None:
        super().__init__()
        self.source = source
        #: output size; None keeps the source's
        self.size = size
        #: at most this many frames per second; None keeps every frame
        self.fps = fps
        self.dropped = 0
        self._last_s: float | None = None

    async def recv(self) -> VideoFrame:
        while True:
            frame = await self.source.recv()
            if frame.pts is None or frame.time_base is None:
                break
            at_s = float(frame.pts * frame.time_base)
            # A little slack (10 %) so that a source at exactly the rung's rate is not halved by jitter.
            if self.fps is None or self._last_s is None or at_s - self._last_s >= 0.9 / self.fps:
                self._last_s = at_s
                break
            self.dropped += 1
        if self.size is None or self.size[0] >= frame.width or self.size[1] >= frame.height:
            return frame  # never scale up: it costs bits and shows nothing new
        scaled = frame.reformat(width=self.size[0], height=self.size[1])
        scaled.pts, scaled.time_base = frame.pts, frame.time_base
        return scaled

    def stop(self) -> None:
        super().stop()
        self.source.stop()
