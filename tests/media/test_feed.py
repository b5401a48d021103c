"""media.feed.Feed: one track in front of sources that come and go (the relay's upstream)."""

from __future__ import annotations

import asyncio

import pytest
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack

from media.feed import VIDEO_CLOCK, Feed
from tests.media.peers import MovingTrack


async def test_a_new_source_continues_the_timeline() -> None:
    feed = Feed("video")
    first, second = MovingTrack(fps=30), MovingTrack(fps=30)
    feed.attach(first)
    a = await feed.recv()
    b = await feed.recv()
    feed.attach(second)  # the station reconnected: its new track starts its clock again
    c = await feed.recv()
    assert c.time_base == b.time_base == a.time_base and a.time_base.denominator == VIDEO_CLOCK
    assert a.pts <= b.pts <= c.pts
    assert feed.source is second


async def test_an_ended_source_waits_for_the_next() -> None:
    feed = Feed("video")
    first = VideoStreamTrack()  # raises MediaStreamError once stopped, as a remote track does
    feed.attach(first)
    await feed.recv()
    first.stop()
    pending = asyncio.ensure_future(feed.recv())
    await asyncio.sleep(0.05)
    assert not pending.done() and feed.source is None
    feed.attach(MovingTrack(fps=30))
    frame = await asyncio.wait_for(pending, 10)
    assert frame.width == 320


async def test_audio_is_restamped_by_samples_and_stop_ends_a_waiting_recv() -> None:
    feed = Feed("audio")
    feed.attach(AudioStreamTrack())
    a = await feed.recv()
    b = await feed.recv()
    assert (a.pts, b.pts) == (0, a.samples)
    feed.attach(None)
    pending = asyncio.ensure_future(feed.recv())
    await asyncio.sleep(0.05)
    feed.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(pending, 5)
