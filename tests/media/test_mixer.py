"""media.mixer.AudioMixer: two voices in one track, a silent input never stalls the mix."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.mixer import RATE, AudioMixer
from media.pattern import ToneTrack


class Silent(MediaStreamTrack):
    """A voice that never speaks (a stalled network), honouring stop()."""

    kind = "audio"

    async def recv(self):  # type: ignore[no-untyped-def]
        while self.readyState == "live":
            await asyncio.sleep(0.05)
        raise MediaStreamError


def strength(pcm: np.ndarray, hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    freqs = np.fft.rfftfreq(len(pcm), 1 / RATE)
    return float(spectrum[np.abs(freqs - hz) < 5].max())


async def test_two_voices_are_both_heard_and_a_silent_one_does_not_stall() -> None:
    mixer = AudioMixer()
    low, high, silent = ToneTrack(frequency=440), ToneTrack(frequency=1_000), Silent()
    for track in (low, high, silent):
        mixer.add(track)
    frames = [await mixer.recv() for _ in range(50)]  # one second: each tone beeps 150 ms
    pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    assert [f.pts for f in frames[:3]] == [0, mixer.samples, 2 * mixer.samples]
    elsewhere = strength(pcm, 700)
    assert strength(pcm, 440) > 10 * elsewhere and strength(pcm, 1_000) > 10 * elsewhere
    silent.stop()
    mixer.remove(low)
    mixer.stop()
    assert mixer.inputs == []
    with pytest.raises(MediaStreamError):
        await mixer.recv()
