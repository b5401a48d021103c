"""Synthetic sources for stations without a camera or microphone: a moving test pattern that
shows its capture time (human- and machine-readable) and a test tone."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import Callable

import av
import cv2
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

from media import timecode

VIDEO_CLOCK = 90_000
AUDIO_RATE = 48_000


class TestPatternTrack(MediaStreamTrack):
    """Colour bars with a moving bar, the wall-clock capture time and a timecode strip.

    ``size`` and ``fps`` may be changed while running (the adaptive controller does so); each
    frame is drawn at the current size, so the encoder simply sees the new resolution.
    """

    kind = "video"
    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        size: tuple[int, int] = (640, 480),
        fps: float = 30.0,
        label: str = "Farlink test pattern",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.size = size
        self.fps = fps
        self.label = label
        self._clock = clock
        self._start: float | None = None
        self._next_at = 0.0
        self._pts = 0

    async def recv(self) -> av.VideoFrame:
        loop_now = time.monotonic()
        if self._start is None:
            self._start = loop_now
            self._next_at = loop_now
        delay = self._next_at - loop_now
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            self._next_at = time.monotonic()  # running late: don't burst to catch up
        self._next_at += 1.0 / self.fps
        self._pts = int((time.monotonic() - self._start) * VIDEO_CLOCK)
        frame = av.VideoFrame.from_ndarray(self.draw(self._clock()), format="bgr24")
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame

    def draw(self, now: float) -> np.ndarray:
        width, height = self.size
        image = np.zeros((height, width, 3), np.uint8)
        bars = [(192, 192, 192), (0, 192, 192), (192, 192, 0), (0, 192, 0),
                (192, 0, 192), (0, 0, 192), (192, 0, 0)]
        for i, colour in enumerate(bars):
            image[:, i * width // len(bars) : (i + 1) * width // len(bars)] = colour
        x = int((now * width / 4) % width)
        image[:, max(0, x - width // 40) : x + width // 40] = (255, 255, 255)
        scale = height / 480
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
        for text, y in ((self.label, 0.55), (stamp, 0.75)):
            org = (int(width * 0.05), int(height * y))
            cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, 1.2 * scale, (0, 0, 0),
                        max(1, int(6 * scale)), cv2.LINE_AA)
            cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, 1.2 * scale, (255, 255, 255),
                        max(1, int(2 * scale)), cv2.LINE_AA)
        timecode.paint(image, int(now * 1000))
        return image


class ToneTrack(MediaStreamTrack):
    """A quiet 440 Hz tone that beeps once a second, 20 ms mono frames at 48 kHz."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, ptime_ms: int = 20) -> None:
        super().__init__()
        self.frequency = frequency
        self.samples = AUDIO_RATE * ptime_ms // 1000
        self._start: float | None = None
        self._sent = 0

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._sent / AUDIO_RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = (self._sent + np.arange(self.samples)) / AUDIO_RATE
        gate = (t % 1.0) < 0.15
        wave = 0.2 * np.sin(2 * math.pi * self.frequency * t) * gate
        pcm = (wave * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._sent += self.samples
        return frame
