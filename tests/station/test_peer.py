"""A station PeerLink against a real aiortc answerer: the vitals channel's rate follows the rung."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from av.frame import Frame

from devices.reading import Kind, Reading
from media import tuning
from station.peer import QUIET_AFTER_VITALS_S, QUIET_BEFORE_VITALS_S, PeerLink


async def nothing(link: PeerLink, message: dict[str, Any]) -> None:
    return None


async def connect(link: PeerLink, member: RTCPeerConnection, received: list[dict[str, Any]]) -> None:
    """``member`` answers ``link``'s offer; returns once the vitals channel is open both ways.
    The vitals messages it receives go to ``received``."""
    opened = asyncio.Event()

    @member.on("datachannel")
    def channel(dc: RTCDataChannel) -> None:
        if dc.label == "vitals":
            dc.on("message", lambda raw: received.append(json.loads(raw)))
            opened.set()

    await member.setRemoteDescription(RTCSessionDescription(**_description(await link.offer())))
    await member.setLocalDescription(await member.createAnswer())
    await link.accept({"kind": "answer", "sdp": member.localDescription.sdp})
    await asyncio.wait_for(opened.wait(), 10)
    while link.vitals.readyState != "open":
        await asyncio.sleep(0.05)


async def vitals_messages(rung: str, seconds: float) -> int:
    """Vitals messages a member receives while the station ticks at 5 Hz with a new SpO2 each time."""
    link = PeerLink("member", [], None, None, nothing)
    member = RTCPeerConnection()
    received: list[dict[str, Any]] = []
    try:
        await connect(link, member, received)
        assert link.controller is not None
        link.controller.force(rung)
        for tick in range(int(seconds * 5)):
            link.send_vitals([Reading(Kind.SPO2, 90.0 + tick % 8, "%", time.time(), "sim")])
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
        assert all(m["type"] == "readings" for m in received)
        return len(received)
    finally:
        await link.close()
        await member.close()


def _description(offer: dict[str, str]) -> dict[str, str]:
    return {"sdp": offer["sdp"], "type": offer["kind"]}


@pytest.mark.parametrize(("rung", "low", "high"), [("qvga8", 13, 15), ("qvga6", 5, 7)])
async def test_vitals_go_at_the_rungs_rate(tuned: None, rung: str, low: int, high: int) -> None:
    assert low <= await vitals_messages(rung, 3.0) <= high


class SilentVideo(MediaStreamTrack):
    """A camera that never delivers a frame: the video sender never queues a packet itself."""

    kind = "video"

    async def recv(self) -> Frame:
        await asyncio.Future()
        raise AssertionError("unreachable")


async def test_on_stills_the_video_keeps_clear_of_the_next_vitals_message(tuned: None) -> None:
    """Expected as far after the last message as that one after the one before (0.8 s here): no
    video packet leaves from QUIET_BEFORE_VITALS_S before it until QUIET_AFTER_VITALS_S after."""
    link = PeerLink("member", [], SilentVideo(), None, nothing)
    member = RTCPeerConnection()
    try:
        await connect(link, member, [])
        assert link.controller is not None
        link.controller.force("stills")
        video = next(s for s in link.pc.getSenders() if s.kind == "video")
        pacer = tuning.state(video).pacer
        assert pacer is not None
        link.send_vitals([Reading(Kind.SPO2, 95.0, "%", time.time(), "sim")])
        first = time.monotonic()
        await asyncio.sleep(0.8)
        link.send_vitals([Reading(Kind.SPO2, 96.0, "%", time.time(), "sim")])
        second = time.monotonic()
        expected_ms = (2 * second - first) * 1000
        pacer.push(bytes(100))
        inside = expected_ms - 1000 * QUIET_BEFORE_VITALS_S + 50
        assert pacer.due_ms(inside) == pytest.approx(expected_ms + 1000 * QUIET_AFTER_VITALS_S, abs=30)
        before = expected_ms - 1000 * QUIET_BEFORE_VITALS_S - 50
        assert pacer.due_ms(before) == before
        pacer.clear()
    finally:
        await link.close()
        await member.close()


async def test_a_link_on_a_rung_under_64_kbit_s_is_thin(tuned: None) -> None:
    link = PeerLink("member", [], None, None, nothing)
    try:
        assert link.controller is not None
        thin = {}
        for rung in ("vga12", "qvga8", "qvga6", "stills", "vitals"):
            link.controller.force(rung)
            thin[rung] = link.thin
        assert thin == {"vga12": False, "qvga8": False, "qvga6": True, "stills": True, "vitals": True}
    finally:
        await link.close()
