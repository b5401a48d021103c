"""RungTrack: a shared source cut to each peer's rung (size, frame rate, stills, no video)."""

from __future__ import annotations

import asyncio
import fractions

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

from media.ladder import Ladder
from media.rungtrack import RungTrack

LADDER = Ladder(top="hd30")


class Camera(MediaStreamTrack):
    """A source at a fixed size and frame rate whose timestamps advance without waiting."""

    kind = "video"

    def __init__(self, size: tuple[int, int] = (640, 480), fps: int = 30) -> None:
        super().__init__()
        self.size, self.fps, self.sent = size, fps, 0

    async def recv(self) -> av.VideoFrame:
        await asyncio.sleep(0)  # a real source suspends; this one only yields
        width, height = self.size
        frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), self.sent % 256, np.uint8), format="bgr24")
        frame.pts = self.sent * 90_000 // self.fps
        frame.time_base = fractions.Fraction(1, 90_000)
        self.sent += 1
        return frame


async def take(track: RungTrack, count: int) -> list[av.VideoFrame]:
    return [await track.recv() for _ in range(count)]


async def test_frames_are_scaled_to_the_rung_and_decimated_to_its_rate() -> None:
    camera = Camera(fps=30)
    track = RungTrack(camera, LADDER.by_name("qvga10"))
    frames = await take(track, 20)
    assert {(f.width, f.height) for f in frames} == {(320, 240)}
    seconds = float((frames[-1].pts - frames[0].pts) * frames[0].time_base)
    assert abs(seconds - 19 / 10) < 0.05  # 10 fps out of 30
    assert camera.sent <= 3 * 20


async def test_a_rung_above_the_source_passes_it_unscaled_and_keeps_the_aspect_ratio() -> None:
    track = RungTrack(Camera(size=(320, 240)), LADDER.by_name("vga30"))
    assert {(f.width, f.height) for f in await take(track, 5)} == {(320, 240)}
    wide = RungTrack(Camera(size=(1280, 720)), LADDER.by_name("vga12"))
    frame = (await take(wide, 1))[0]
    assert (frame.width, frame.height) == (640, 360)


async def test_stills_are_one_frame_every_ten_seconds_and_a_change_applies_at_once() -> None:
    camera = Camera(fps=30)
    track = RungTrack(camera, LADDER.by_name("stills"))
    first, second = await take(track, 2)
    assert float((second.pts - first.pts) * first.time_base) >= 9.9
    track.follow(LADDER.by_name("vga30"))
    sent = camera.sent
    frame = (await take(track, 1))[0]
    assert camera.sent == sent + 1 and (frame.width, frame.height) == (640, 480)


async def test_without_video_the_source_is_still_drained() -> None:
    camera = Camera(fps=30)
    track = RungTrack(camera, LADDER.by_name("vitals"))
    pending = asyncio.ensure_future(track.recv())
    while camera.sent <= 30:
        await asyncio.sleep(0)
    assert not pending.done()  # frames read and dropped, none handed out
    track.follow(LADDER.by_name("qvga6"))
    frame = await asyncio.wait_for(pending, 1)
    assert (frame.width, frame.height) == (320, 240)
