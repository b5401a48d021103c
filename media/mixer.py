"""Several voices in one audio track: what a relay sends up to the station in a consult with
two specialists (aiortc sends one track per transceiver and mixes nothing).

Each input is read on its own task into a short buffer (48 kHz mono, s16, through PyAV's
resampler); ``recv`` is paced by the mixer's own clock and sums what every input has for the next
packet, padding an input that is late with silence, so one stalled voice never stalls the others.
A buffer keeps at most ``MAX_BUFFER_MS``: a voice that falls behind loses its oldest audio
instead of adding delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, AudioResampler

RATE = 48_000
MAX_BUFFER_MS = 200


class AudioMixer(MediaStreamTrack):
    kind = "audio"

    def __init__(self, ptime_ms: int = 20) -> None:
        super().__init__()
        self.samples = RATE * ptime_ms // 1000
        self._inputs: dict[MediaStreamTrack, tuple[asyncio.Task[None], list[np.ndarray]]] = {}
        self._start: float | None = None
        self._sent = 0

    @property
    def inputs(self) -> list[MediaStreamTrack]:
        return list(self._inputs)

    def add(self, track: MediaStreamTrack) -> None:
        if track not in self._inputs:
            buffer: list[np.ndarray] = []
            self._inputs[track] = (asyncio.ensure_future(self._read(track, buffer)), buffer)

    def remove(self, track: MediaStreamTrack) -> None:
        entry = self._inputs.pop(track, None)
        if entry is not None:
            entry[0].cancel()

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._sent / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        mixed = np.zeros(self.samples, dtype=np.int32)
        for _, buffer in self._inputs.values():
            chunk = _take(buffer, self.samples)
            mixed[: len(chunk)] += chunk
        frame = AudioFrame.from_ndarray(np.clip(mixed, -32768, 32767).astype(np.int16).reshape(1, -1),
                                        format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, RATE)
        self._sent += self.samples
        return frame

    def stop(self) -> None:
        super().stop()
        for track in list(self._inputs):
            self.remove(track)

    async def _read(self, track: MediaStreamTrack, buffer: list[np.ndarray]) -> None:
        resampler = AudioResampler(format="s16", layout="mono", rate=RATE)
        limit = RATE * MAX_BUFFER_MS // 1000
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, AudioFrame):
                    raise TypeError("the mixer takes decoded audio frames, not packets")
                for out in resampler.resample(frame):
                    buffer.append(out.to_ndarray().reshape(-1))
                while sum(len(b) for b in buffer) > limit:
                    buffer.pop(0)
        self._inputs.pop(track, None)


def _take(buffer: list[np.ndarray], count: int) -> np.ndarray:
    """Up to ``count`` samples from the front of ``buffer``."""
    taken: list[np.ndarray] = []
    need = count
    while buffer and need > 0:
        head = buffer[0]
        taken.append(head[:need])
        if len(head) <= need:
            buffer.pop(0)
        else:
            buffer[0] = head[need:]
        need -= len(taken[-1])
    return np.concatenate(taken) if taken else np.zeros(0, dtype=np.int16)
