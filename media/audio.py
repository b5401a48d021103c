"""Opus settings for a rung and the loss the link shows.

Opus's in-band FEC re-encodes each frame at low rate inside the next packet; the encoder spends
bits on it in proportion to the loss it is told to expect, so we tell it what the estimator
measures, in a few steps (a new figure reopens the encoder, so it must not follow every report),
at least 2 % and at most 20 % (beyond that FEC cannot keep up and costs speech quality).
DTX stays off: a silent clinic room would otherwise send nothing for seconds, which on our links
is indistinguishable from an outage for the receiver's statistics.
"""

from __future__ import annotations

from media.encoders import AudioSettings
from media.ladder import Rung

LOSS_STEPS = (0.02, 0.05, 0.10, 0.20)


def opus_settings(rung: Rung, loss: float) -> AudioSettings | None:
    """The Opus settings for ``rung``, None when the rung carries no audio."""
    if not rung.has_audio:
        return None
    expected = max([step for step in LOSS_STEPS if step <= loss], default=LOSS_STEPS[0])
    return AudioSettings(rung.audio_bps, rung.ptime_ms, expected)
