"""A track that stays put while its source comes and goes.

A relay forwards a remote track to viewers whose peer connections outlive it: when the station
reconnects, its new peer connection brings new tracks, and renegotiating every viewer for that
would cost each of them a round of signaling on a satellite link. A ``Feed`` is what the viewers'
senders hold; ``attach`` swaps the source underneath. Frames are restamped on the feed's own
timeline (video: a 90 kHz clock from the feed's start; audio: a running sample count), because a
new source starts its timestamps again and an encoder must never see time go backwards.
"""

from __future__ import annotations

import asyncio
import fractions
import time

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

VIDEO_CLOCK = 90_000


class Feed(MediaStreamTrack):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._source: MediaStreamTrack | None = None
        self._attached = asyncio.Event()
        self._start = time.monotonic()
        self._samples = 0

    @property
    def source(self) -> MediaStreamTrack | None:
        return self._source

    def attach(self, source: MediaStreamTrack | None) -> None:
        """Read from ``source`` from now on (None: wait for the next one)."""
        self._source = source
        if source is None:
            self._attached.clear()
        else:
            self._attached.set()

    async def recv(self) -> VideoFrame | AudioFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            source = self._source
            if source is None:
                await self._attached.wait()
                continue
            try:
                frame = await source.recv()
            except MediaStreamError:
                if self._source is source:  # it ended and nobody replaced it yet
                    self.attach(None)
                continue
            if not isinstance(frame, (VideoFrame, AudioFrame)):
                raise TypeError("a Feed forwards decoded frames, not packets")
            return self._restamp(frame)

    def stop(self) -> None:
        super().stop()
        self._attached.set()  # wake a waiting recv() so that it raises

    def _restamp(self, frame: VideoFrame | AudioFrame) -> VideoFrame | AudioFrame:
        if isinstance(frame, AudioFrame):
            frame.pts = self._samples
            frame.time_base = fractions.Fraction(1, frame.sample_rate)
            self._samples += frame.samples
        else:
            frame.pts = int((time.monotonic() - self._start) * VIDEO_CLOCK)
            frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame
