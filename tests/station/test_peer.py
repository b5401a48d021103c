"""A station PeerLink against a real aiortc answerer: the vitals channel's rate follows the rung."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from devices.reading import Kind, Reading
from station.peer import PeerLink


async def nothing(link: PeerLink, message: dict[str, Any]) -> None:
    return None


async def vitals_messages(rung: str, seconds: float) -> int:
    """Vitals messages a member receives while the station ticks at 5 Hz with a new SpO2 each time."""
    link = PeerLink("member", [], None, None, nothing)
    member = RTCPeerConnection()
    received: list[dict[str, Any]] = []
    opened = asyncio.Event()

    @member.on("datachannel")
    def channel(dc: RTCDataChannel) -> None:
        if dc.label == "vitals":
            dc.on("message", lambda raw: received.append(json.loads(raw)))
            opened.set()

    try:
        await member.setRemoteDescription(RTCSessionDescription(**_description(await link.offer())))
        await member.setLocalDescription(await member.createAnswer())
        await link.accept({"kind": "answer", "sdp": member.localDescription.sdp})
        await asyncio.wait_for(opened.wait(), 10)
        while link.vitals.readyState != "open":
            await asyncio.sleep(0.05)
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
