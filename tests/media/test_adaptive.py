"""The adaptive controller on a real aiortc peer pair (tuning applied)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpPacket,
    is_rtcp,
    pack_remb_fci,
)

from devices.errors import LocalError
from media import adaptive, fec, tuning
from media.adaptive import (
    PACE_FACTOR, PACER_WAIT_MS, PROTECT_KNOWN, THIN_REPORT_S, AdaptiveController, pacing_bps, protect_base,
    remb_bound,
)
from media.encoders import BASE_SHARE, TunedVp8Encoder
from media.estimator import BandwidthEstimator, EstimatorConfig
from media.ladder import RUNGS, Ladder, Rung
from media.rungtrack import RungTrack
from tests.media.peers import AudioStreamTrack, MovingTrack, connected_pair


@pytest.fixture
async def pair(tuned: None) -> AsyncIterator[tuple[RTCPeerConnection, RTCPeerConnection, RungTrack]]:
    track = RungTrack(MovingTrack((640, 480), 15))
    sender_pc, receiver_pc = await connected_pair(track, AudioStreamTrack())
    try:
        yield sender_pc, receiver_pc, track
    finally:
        await sender_pc.close()
        await receiver_pc.close()


@pytest.fixture
def peers(pair: tuple[RTCPeerConnection, RTCPeerConnection, RungTrack]) -> tuple[RTCPeerConnection, RungTrack]:
    return pair[0], pair[2]


async def silence_receiver_reports(pc: RTCPeerConnection) -> None:
    """Stop ``pc``'s own receiver reports once they have started (when its transport connects),
    so that a test's synthetic series is all the sender hears (a real one in between, counting
    from aiortc's random first sequence number, reads as a new stream and restarts the count)."""
    for _ in range(100):
        tasks = [receiver._RTCRtpReceiver__rtcp_task for receiver in pc.getReceivers()]  # type: ignore[attr-defined]
        if tasks and all(task is not None for task in tasks):
            for task in tasks:
                task.cancel()
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the receiver's reports never started")


RUNGS_BY_NAME = {r.name: r for r in RUNGS}


def held(rung: Rung) -> Ladder:
    """A ladder of ``rung`` alone: the controller stays there whatever the rates."""
    return Ladder((rung,), top=rung.name, start=rung.name)


def by_kind(pc: RTCPeerConnection, kind: str) -> RTCRtpSender:
    return next(s for s in pc.getSenders() if s.kind == kind)


def lossy_report(sender: RTCRtpSender, fraction: float, index: int) -> RtcpRrPacket:
    """The ``index``-th of a series of reports 40 packets apart, ``fraction`` of them lost."""
    block = RtcpReceiverInfo(
        ssrc=sender._ssrc, fraction_lost=int(fraction * 256), packets_lost=int(index * 40 * fraction),
        highest_sequence=index * 40, jitter=0, lsr=0, dlsr=0,
    )
    return RtcpRrPacket(ssrc=1234, reports=[block])


async def satellite_report(video: RTCRtpSender, index: int, lost: int) -> None:
    """The ``index``-th receiver report of a series 100 packets apart, ``lost`` lost in all,
    answering a sender report of ours that left 800 ms before (a satellite round trip)."""
    info = RtcpSenderInfo(ntp_timestamp=index << 32, rtp_timestamp=0, packet_count=0, octet_count=0)
    tuning.state(video).note_sender_report(RtcpSrPacket(ssrc=video._ssrc, sender_info=info), time.monotonic() - 0.8)
    block = RtcpReceiverInfo(ssrc=video._ssrc, fraction_lost=0, packets_lost=lost, highest_sequence=index * 100,
                             jitter=0, lsr=index << 16, dlsr=0)
    await video._handle_rtcp_packet(RtcpRrPacket(ssrc=1234, reports=[block]))


async def lossy_reports(controller: AdaptiveController, sender: RTCRtpSender, reports: int, lost_each: int) -> None:
    """``reports`` of ``satellite_report``'s series, ``lost_each`` packets in 100 lost in each, each
    followed by a control step."""
    for index in range(1, reports + 1):
        await satellite_report(sender, index, lost=lost_each * index)
        await controller.poll()


def test_the_controller_needs_tuning_first() -> None:
    with pytest.raises(LocalError) as info:
        AdaptiveController(RTCPeerConnection())
    assert info.value.code == "not_tuned"


async def test_the_rung_drives_encoders_track_and_status(peers: tuple[RTCPeerConnection, RungTrack]) -> None:
    pc, track = peers
    controller = AdaptiveController(pc, Ladder(start="qvga6"), interval_s=0.2)
    seen: list[Rung] = []
    controller.add_observer(track.follow)
    controller.add_observer(seen.append)
    assert track.rung is not None and track.rung.name == "qvga6"  # told at once
    video = by_kind(pc, "video")
    for _ in range(40):
        await controller.poll()
        await asyncio.sleep(0.1)
        if controller.status()["rtt_ms"] is not None and tuning.encoder_of(video) is not None:
            break
    encoder = tuning.encoder_of(video)
    assert isinstance(encoder, TunedVp8Encoder)
    assert tuning.state(video).video.bitrate_bps == controller.rung.video_bps
    assert tuning.state(by_kind(pc, "audio")).audio.bitrate_bps == controller.rung.audio_bps
    status = controller.status()
    assert status["rung"] == controller.rung.name and status["rtt_ms"] is not None
    assert set(status) >= {"target_kbps", "pace_kbps", "rung", "rtt_ms", "loss"}
    assert seen[0].name == "qvga6"
    assert tuning.state(video).report_every_s == 0.0  # motion: sender reports as aiortc sends them
    pacer = tuning.state(video).pacer  # the video leaves at the rate the controller sets
    assert pacer is not None and pacer.rate_bps == pacing_bps(controller.rung, controller.estimator.target_bps)
    assert pacer.limit_ms == 1000 / controller.rung.fps + PACER_WAIT_MS
    assert tuning.state(by_kind(pc, "audio")).pacer is None  # audio is never held back


def test_video_is_paced_to_what_the_target_leaves_it_within_the_rungs_bounds() -> None:
    qvga6, stills, vga30 = RUNGS_BY_NAME["qvga6"], RUNGS_BY_NAME["stills"], RUNGS_BY_NAME["vga30"]
    beside = qvga6.wire_bps() - qvga6.video_wire_bps()  # audio, vitals, RTCP
    # bgan-64 on qvga6: video gets what the target leaves, so that the sum stays under it
    assert pacing_bps(qvga6, 57_000) == pytest.approx(57_000 - beside)
    # a target that fell below the rung (before the ladder steps down): the encoder's rate,
    # else frames would queue without bound
    assert pacing_bps(qvga6, 20_000) == qvga6.video_wire_bps()
    # a target far above the rung says nothing about the link (stills on a thin link, a LAN):
    # at most PACE_FACTOR times the rung's video, enough for a keyframe within a few frames
    assert pacing_bps(stills, 42_000) == pytest.approx(PACE_FACTOR * stills.video_wire_bps())
    assert pacing_bps(vga30, 3_000_000) == pytest.approx(PACE_FACTOR * vga30.video_wire_bps())
    assert pacing_bps(RUNGS_BY_NAME["vitals"], 20_000) > 0


async def test_persistent_loss_steps_the_rung_down(pair: tuple[RTCPeerConnection, RTCPeerConnection, RungTrack]) -> None:
    pc, receiver_pc, _ = pair
    await silence_receiver_reports(receiver_pc)
    controller = AdaptiveController(pc, Ladder(start="vga12"))
    seen: list[Rung] = []
    controller.add_observer(seen.append)
    video = by_kind(pc, "video")
    await controller.poll()
    await asyncio.sleep(0.5)
    for index in range(5):  # for over a second (a shorter burst is a handover, not congestion)
        await video._handle_rtcp_packet(lossy_report(video, 0.5, index))  # a receiver seeing half lost
        await controller.poll()
        await asyncio.sleep(0.4)
    names = [r.name for r in controller.ladder.rungs]
    assert names.index(controller.rung.name) > names.index("vga12")
    assert seen[-1] == controller.rung
    assert controller.status()["trend"] in ("decrease", "hold")


def test_a_remb_bounds_the_video_only_below_what_is_sent() -> None:
    rung = RUNGS_BY_NAME["vga12"]
    sent = 100_000.0  # the encoder sends less than the rung's rate on a simple picture
    # A receiver's estimate at or a little above the video sent (it follows an app-limited stream
    # up): no bound, else the ladder could never climb to a rung that needs twice the video.
    assert remb_bound(int(1.2 * sent), rung, sent, 3_000_000) == 3_000_000
    assert remb_bound(int(0.95 * sent), rung, sent, 3_000_000) == 3_000_000
    # Clearly below it: the receiver sees it queue up. The bound is the video's: audio, vitals
    # and RTCP come on top.
    low = int(0.85 * sent)
    assert remb_bound(low, rung, sent, 3_000_000) == int(low + rung.wire_bps() - rung.video_wire_bps())


async def test_a_low_remb_reaches_the_estimator_as_a_bound(peers: tuple[RTCPeerConnection, RungTrack]) -> None:
    pc, _ = peers
    video = by_kind(pc, "video")
    controller = AdaptiveController(pc, Ladder(start="vga12"))
    fci = pack_remb_fci(5_000, [video._ssrc])  # far below anything the video sends
    await video._handle_rtcp_packet(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1234, media_ssrc=0, fci=fci))
    await controller.poll()
    rung = controller.rung
    assert [bps for _, bps in controller.estimator._rembs] == [int(5_000 + rung.wire_bps() - rung.video_wire_bps())]


async def test_forced_rungs_switch_senders(peers: tuple[RTCPeerConnection, RungTrack]) -> None:
    pc, _ = peers
    controller = AdaptiveController(pc)
    video, audio = by_kind(pc, "video"), by_kind(pc, "audio")
    controller.force("stills")
    assert tuning.state(video).video.stills and video._enabled
    assert tuning.state(audio).audio.ptime_ms == 120 and audio._enabled
    controller.force("vitals")
    assert not video._enabled and not audio._enabled
    controller.force("vga27")
    assert video._enabled and tuning.state(video).video.bitrate_bps == 600_000


@pytest.mark.parametrize(("rung", "up", "target", "first"), [
    ("vitals", "stills", 10_000, 10.0),
    ("stills", "qvga6", 20_000, 60.0),
    ("stills", "qvga6", 40_300, 10.0),  # a link check that read short of qvga6
])
async def test_a_rung_without_motion_probes_the_next_one_up_with_backoff(
        peers: tuple[RTCPeerConnection, RungTrack], rung: str, up: str, target: int, first: float) -> None:
    """On `vitals` nothing is sent that a receiver could report on, and from `stills` padding
    would queue seconds: the controller tries the next rung up after a wait (10 s from vitals,
    60 s from stills unless the target is close to the next rung), and after twice that when the
    try fell back at once; no padding meanwhile."""
    pc, _ = peers
    now = [1000.0]
    estimator = BandwidthEstimator(EstimatorConfig(start_bps=target, start_measured=True))
    controller = AdaptiveController(pc, Ladder(start="stills"), estimator, clock=lambda: now[0])
    controller.force(rung)

    async def seconds_until_probe() -> float:
        start = now[0]
        while controller.rung.name == rung:
            now[0] += 0.5
            await controller.poll()
            assert tuning.state(by_kind(pc, "video")).padding_bps == 0
            assert now[0] - start < 1000, "never probed"
        return now[0] - start

    assert first - 0.5 <= await seconds_until_probe() <= first + 0.5
    assert controller.rung.name == up
    assert controller.estimator.target_bps >= RUNGS_BY_NAME[up].required_bps()
    controller.estimator = BandwidthEstimator(EstimatorConfig(start_bps=target, start_measured=True))
    controller.force(rung)  # the probe's reports showed congestion
    assert 2 * first - 0.5 <= await seconds_until_probe() <= 2 * first + 0.5
    now[0] += 60  # a probe that held for a minute: the next wait is the first again
    controller.estimator = BandwidthEstimator(EstimatorConfig(start_bps=target, start_measured=True))
    controller.force(rung)
    assert first - 0.5 <= await seconds_until_probe() <= first + 0.5


def test_the_base_layer_is_protected_on_long_lossy_round_trips_only() -> None:
    vga12, stills = RUNGS_BY_NAME["vga12"], RUNGS_BY_NAME["stills"]
    assert protect_base(vga12, 800, 0.01, protecting=False)
    assert not protect_base(vga12, 100, 0.05, protecting=False)  # a NACK repairs it in time
    assert not protect_base(vga12, 800, 0.0, protecting=False)
    assert not protect_base(vga12, None, 0.01, protecting=False)
    assert protect_base(stills, 1500, 0.02, protecting=False)  # a still with a lost packet comes a round trip late
    assert not protect_base(stills, 100, 0.02, protecting=False)
    assert not protect_base(RUNGS_BY_NAME["vitals"], 1500, 0.02, protecting=False)  # nothing to protect
    assert protect_base(RUNGS_BY_NAME["qvga10"], 800, 0.01, protecting=False)
    assert protect_base(RUNGS_BY_NAME["qvga6"], 900, 0.01, protecting=False)  # bgan-64: paid out of the rung
    # hysteresis: the smoothed loss swings between reports
    assert not protect_base(vga12, 800, 0.003, protecting=False)
    assert protect_base(vga12, 800, 0.003, protecting=True)
    assert not protect_base(vga12, 800, 0.0005, protecting=True)


async def negotiated(pair: tuple[RTCPeerConnection, RTCPeerConnection, RungTrack]) -> tuning.SenderState:
    """The video sender's state once it started (aiortc calls ``send()`` when the transport
    connects: RED and ULPFEC are known then), the receiver's own reports silenced."""
    await silence_receiver_reports(pair[1])
    state = tuning.state(by_kind(pair[0], "video"))
    for _ in range(100):
        if state.fec_types is not None:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError("two tuned aiortc peers did not negotiate RED and ULPFEC")


async def test_a_long_lossy_round_trip_pays_for_the_parity_out_of_the_rung(
    pair: tuple[RTCPeerConnection, RTCPeerConnection, RungTrack],
) -> None:
    """...and keeps sending it through a run of clean reports (the loss of the last
    ``PROTECT_WINDOW_S`` counts: a few clean reports at 0.5 % loss had turned it off for
    seconds). Synthetic time, a second a report; the ladder holds vga12 alone (the rates this
    measures over synthetic seconds mean nothing)."""
    pc = pair[0]
    state = await negotiated(pair)
    now = [1000.0]
    vga12 = RUNGS_BY_NAME["vga12"]
    controller = AdaptiveController(pc, held(vga12), clock=lambda: now[0])
    video = by_kind(pc, "video")
    await controller.poll()
    assert not state.protect_base and state.video.bitrate_bps == vga12.video_bps

    async def report(index: int, lost: int) -> None:
        await satellite_report(video, index, lost)
        now[0] += 1.0
        await controller.poll()

    for index in range(1, 8):  # 1 packet in 100 lost
        await report(index, lost=index)
    assert controller.status()["rtt_ms"] >= 700
    assert state.protect_base
    group = state.parity_group.group
    assert fec.group_for(0.011) <= group <= fec.group_for(0.0075)  # at ~1 % loss (as smoothed)
    assert state.video.bitrate_bps == round(vga12.video_bps / (1 + BASE_SHARE * fec.budget_share(group)))
    for index in range(8, 8 + int(adaptive.PROTECT_WINDOW_S) - 5):  # clean: the smoothed loss is ~0, parity stays
        await report(index, lost=7)
    assert controller.estimator.loss < 0.001 and state.protect_base
    for index in range(100, 115):  # the loss of the whole window is ~0 too: no more parity
        await report(index, lost=7)
    assert not state.protect_base


def test_parity_for_base_frames_too_far_apart_to_share_it_is_a_copy() -> None:
    """A base frame of ``qvga6`` is one packet every 333 ms, longer than a packet waits for
    others (``fec.HOLD_MS``): its parity protects it alone and is as long. ``vga12``'s base frames
    come every 167 ms and share their parity in groups sized by the loss."""
    qvga6, vga12 = RUNGS_BY_NAME["qvga6"], RUNGS_BY_NAME["vga12"]
    assert 2000 / qvga6.fps > fec.HOLD_MS > 2000 / vga12.fps
    assert adaptive.parity_share(qvga6, 0.01) == BASE_SHARE  # a copy of the base layer
    assert adaptive.parity_share(vga12, 0.01) == BASE_SHARE * fec.budget_share(fec.group_for(0.01)) < BASE_SHARE / 2


async def test_a_thin_rung_on_a_long_lossy_round_trip_gets_copies_of_its_base_frames_on_top(
    pair: tuple[RTCPeerConnection, RTCPeerConnection, RungTrack],
) -> None:
    """Paid out of ``qvga6``, the encoder would make 12.5 of 20 kbit/s (libvpx dropped a frame in
    three): it keeps the rung's rate, and the pacer lets the copies through beside it."""
    pc = pair[0]
    state = await negotiated(pair)
    qvga6 = RUNGS_BY_NAME["qvga6"]
    controller = AdaptiveController(pc, held(qvga6))
    controller.estimator = BandwidthEstimator(EstimatorConfig(start_bps=30_000, start_measured=True))
    await lossy_reports(controller, by_kind(pc, "video"), 7, lost_each=1)  # 1 % lost, 800 ms round trips
    assert state.protect_base
    assert state.video.bitrate_bps == qvga6.video_bps
    # the target leaves the video less than its rate: the floor is the video and its copies
    assert controller.estimator.target_bps - (qvga6.wire_bps() - qvga6.video_wire_bps()) < qvga6.video_wire_bps()
    assert state.pacer is not None
    assert state.pacer.rate_bps >= qvga6.video_wire_bps() + BASE_SHARE * qvga6.video_bps


async def test_a_long_round_trip_sends_parity_until_the_loss_is_known_where_negotiated(
    pair: tuple[RTCPeerConnection, RTCPeerConnection, RungTrack],
) -> None:
    pc = pair[0]
    state = await negotiated(pair)
    vga12 = RUNGS_BY_NAME["vga12"]
    controller = AdaptiveController(pc, held(vga12))
    video = by_kind(pc, "video")
    protected = []
    for index in range(1, PROTECT_KNOWN + 4):  # clean reports
        await satellite_report(video, index, lost=0)
        await controller.poll()
        protected.append(state.protect_base)
    # the first report only sets the count's base; then PROTECT_KNOWN clean ones make the loss known
    assert protected == [True] * PROTECT_KNOWN + [False] * 3, protected
    state.fec_types = None  # a far end without RED and ULPFEC: nothing to protect with
    for index in range(PROTECT_KNOWN + 4, PROTECT_KNOWN + 7):
        await satellite_report(video, index, lost=index)  # 1 % lost
        await controller.poll()
    assert controller.estimator.loss > 0.005 and not state.protect_base


async def test_the_still_that_comes_with_the_rung_change_is_encoded_for_the_new_rung(tuned: None) -> None:
    """On ``vitals`` the sender waits for a frame that does not come; the frame the change to
    ``stills`` lets through goes in the stills' small packets (it went in aiortc's 1190-byte
    ones, each 400 ms of a 24 kbit/s uplink in front of the vitals)."""
    track = RungTrack(MovingTrack((320, 240), 15))
    sender_pc, receiver_pc = await connected_pair(track, AudioStreamTrack())
    try:
        controller = AdaptiveController(sender_pc, Ladder(start="vitals"))
        controller.add_observer(track.follow)
        video = by_kind(sender_pc, "video")
        payloads: list[int] = []
        transport = video.transport
        send = transport._send_rtp

        async def recording(data: bytes, *args: object, **kwargs: object) -> None:
            if not is_rtcp(data) and (packet := RtpPacket.parse(data)).ssrc == video._ssrc:
                payloads.append(len(packet.payload))
            await send(data, *args, **kwargs)

        transport._send_rtp = recording
        controller.start()
        await asyncio.sleep(1.0)  # connected, on vitals: no video
        assert payloads == []
        controller.force("stills")
        for _ in range(100):
            await asyncio.sleep(0.05)
            if payloads:
                break
        assert payloads and max(payloads) <= RUNGS_BY_NAME["stills"].packet_bytes, payloads
        assert tuning.state(video).report_every_s == THIN_REPORT_S
    finally:
        await controller.stop()
        await sender_pc.close()
        await receiver_pc.close()


async def test_the_quiet_of_the_vitals_rung_is_no_outage_on_the_stills_it_probes(tuned: None) -> None:
    """On ``vitals`` nothing is sent that a report could cover; the probe of ``stills`` ten seconds
    on counts silence from its own start, so its first report brings no keyframe (a second one,
    on a 24 kbit/s uplink, held the vitals behind it for a second)."""
    sender_pc, receiver_pc = await connected_pair(RungTrack(MovingTrack((320, 240), 5)), AudioStreamTrack())
    try:
        now = [0.0]
        controller = AdaptiveController(sender_pc, Ladder(start="vitals"), clock=lambda: now[0])
        video = by_kind(sender_pc, "video")
        await receiver_pc.close()
        tuning.state(video).take_feedback()
        controller.start()
        while controller.rung.name == "vitals":
            now[0] += 0.5
            await controller.poll()
            assert now[0] < 30, "never probed stills"
        assert controller.rung.name == "stills" and controller.silent_s() > 10
        for _ in range(4):  # two seconds on stills before its first report comes back
            now[0] += 0.5
            await controller.poll()
        setattr(video, "_RTCRtpSender__force_keyframe", False)
        block = RtcpReceiverInfo(ssrc=video._ssrc, fraction_lost=0, packets_lost=0, highest_sequence=20,
                                 jitter=0, lsr=0, dlsr=0)
        await video._handle_rtcp_packet(RtcpRrPacket(ssrc=1234, reports=[block]))
        await controller.poll()
        assert controller.silent_s() == 0.0
        assert not getattr(video, "_RTCRtpSender__force_keyframe")
    finally:
        await controller.stop()
        await sender_pc.close()


async def test_stills_on_a_long_lossy_round_trip_get_parity_on_top_of_their_rate(
    pair: tuple[RTCPeerConnection, RTCPeerConnection, RungTrack],
) -> None:
    pc = pair[0]
    state = await negotiated(pair)
    stills = RUNGS_BY_NAME["stills"]
    controller = AdaptiveController(pc, held(stills))
    # 2 % lost, 800 ms round trips; on stills the audio's reports carry the most packets
    await lossy_reports(controller, by_kind(pc, "audio"), 8, lost_each=2)
    assert state.protect_base
    assert state.video.bitrate_bps == stills.video_bps and state.video.stills  # the encoder's floor


async def test_an_outage_holds_the_rung_and_the_link_comes_back_where_it_was(tuned: None) -> None:
    """The far end goes quiet for 60 s (synthetic time); the rung and target hold, ``silent_s``
    counts the outage, the first report after it brings a keyframe, and the reports after it
    (the first counts everything sent into the outage as lost) step nothing down."""
    sender_pc, receiver_pc = await connected_pair(RungTrack(MovingTrack((640, 480), 15)), AudioStreamTrack())
    try:
        now = [0.0]
        controller = AdaptiveController(sender_pc, Ladder(start="vga12"), clock=lambda: now[0])
        video = by_kind(sender_pc, "video")
        await receiver_pc.close()  # from here on, only the reports below reach the controller
        tuning.state(video).take_feedback()

        async def report(highest: int, lost: int) -> None:
            block = RtcpReceiverInfo(ssrc=video._ssrc, fraction_lost=0, packets_lost=lost, highest_sequence=highest,
                                     jitter=0, lsr=0, dlsr=0)
            await video._handle_rtcp_packet(RtcpRrPacket(ssrc=1234, reports=[block]))

        for index in range(6):  # the link as it was: a clean report every second
            now[0] += 1.0
            await report(index * 40, 0)
            await controller.poll()
        rung, target = controller.rung, controller.estimator.target_bps
        for _ in range(120):  # 60 s without any feedback
            now[0] += 0.5
            await controller.poll()
        assert controller.silent_s() == pytest.approx(60.0)
        assert controller.rung == rung and controller.estimator.target_bps == target
        now[0] += 0.5
        setattr(video, "_RTCRtpSender__force_keyframe", False)
        await report(200 + 1500, 1470)  # the link is back: 98 % of what went out since is lost
        await controller.poll()
        assert getattr(video, "_RTCRtpSender__force_keyframe")  # the far end cannot decode without one
        now[0] += 1.0
        await report(200 + 1540, 1476)  # then one packet in seven, as a thin link sees it
        await controller.poll()
        assert controller.silent_s() == 0.0
        assert controller.rung == rung and controller.estimator.target_bps == target
    finally:
        await sender_pc.close()
