"""Chromium accepts the playout-delay header extension our video offers (``media.tuning``)."""

from __future__ import annotations

from tests.media.peers import MovingTrack, offline_peer, playout_delay_ids

ANSWER = """async (offer) => {
    const pc = new RTCPeerConnection();
    await pc.setRemoteDescription({type: "offer", sdp: offer});
    const answer = await pc.createAnswer();
    pc.close();
    return answer.sdp;
}"""


async def test_chromium_answers_our_video_offer_with_the_playout_delay(browser: object, tuned: None) -> None:
    pc = offline_peer()
    pc.addTrack(MovingTrack())
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    await pc.close()
    page = await browser.new_page()  # type: ignore[attr-defined]
    answer = await page.evaluate(ANSWER, offer)
    offered = playout_delay_ids(offer)
    assert list(offered) == ["video"]
    assert playout_delay_ids(answer) == offered  # accepted, under our id
