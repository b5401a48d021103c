"""Three-party consult through the real server: the lead invites a colleague and an observer; the
station's uplink goes once, to the server's relay, which serves every viewer."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from devices.catalog import open_source, start_simulator
from media import tuning
from media.jitter import DeadlineJitterBuffer
from media.pattern import TestPatternTrack, ToneTrack
from relay.session import ConsultRelay
from signaling.accounts import Role
from signaling.app import accounts_key, hub_key
from signaling.hub import Hub, Member
from station.runtime import ConsultRequest, Station, StationSetup
from tests.conftest import Server
from tests.signaling.test_websocket import specialist_session
from tests.specialist import SpecialistPeer

COLLEAGUE = ("cardiologist", "second opinion please")
STUDENT = ("student", "watch and learn")


@pytest.fixture(autouse=True)
def untuned_afterwards() -> Iterator[None]:
    """The relay applies media.tuning process-wide (as the server would); other tests expect stock aiortc."""
    was = tuning.applied()
    yield
    if not was:
        tuning.restore()


@pytest.fixture
async def station(server: Server, tmp_path: Path) -> AsyncIterator[Station]:
    accounts = server.app[accounts_key]  # type: ignore[index]
    await accounts.create_user(*COLLEAGUE, Role.SPECIALIST)
    await accounts.create_user(*STUDENT, Role.OBSERVER)
    oximeter = await start_simulator("contec-v7")
    station = Station(StationSetup(
        server=server.url, token=server.station_token,
        video=TestPatternTrack(size=(320, 240), fps=15), audio=ToneTrack(),
        sources=[open_source("contec-v7", oximeter.port)],
        request=ConsultRequest(priority="emergency", reason="crush injury", again_after_s=None),
        data_dir=tmp_path / "station",
    ))
    task = asyncio.create_task(station.run())
    try:
        yield station
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await oximeter.stop()


async def outbound_video_senders(station: Station) -> list[int]:
    """Bytes sent by each of the station's video senders that has sent anything."""
    sent = []
    for peer in station.peers.values():
        for sender in peer.pc.getSenders():
            if sender.kind == "video":
                for stats in (await sender.getStats()).values():
                    if stats.type == "outbound-rtp" and stats.bytesSent:
                        sent.append(stats.bytesSent)
    return sent


def relay_state(relay_member: Member) -> str:
    """What the relay saw, for a failure message."""
    session = relay_member.ws._session
    links = {k: (d.role, d.link.pc.connectionState, d.controller.rung.name) for k, d in session.viewers.items()}
    return f"upstream {session.upstream and session.upstream.connectionState}, viewers {links}"


async def test_three_party_consult_sends_the_uplink_once(server: Server, station: Station) -> None:
    hub = server.app[hub_key]  # type: ignore[index]
    async with SpecialistPeer(server.url, *server.specialist) as lead, \
            SpecialistPeer(server.url, *COLLEAGUE) as colleague, \
            SpecialistPeer(server.url, *STUDENT, speaks=False) as student:
        consult = await lead.join_first_waiting()
        await lead.wait_for(lambda: lead.frames >= 10, timeout=30)
        assert list(station.peers) == [lead.member]  # one viewer: peer to peer, no relay yet
        assert not hub.relays

        # Nobody enters a live consult uninvited.
        await colleague.enter(consult["id"])
        await colleague.wait_for(lambda: colleague.errors)
        assert colleague.errors[-1]["code"] == "not_invited"

        await lead.invite(COLLEAGUE[0], "specialist")
        await lead.invite(STUDENT[0], "observer")
        await colleague.wait_for(lambda: colleague.invitations)
        await student.wait_for(lambda: student.invitations)
        assert colleague.invitations[0]["by"] == server.specialist[0]
        await colleague.enter(consult["id"])
        await student.enter(consult["id"], observe=True)

        # Every viewer decodes the station's video and reads its vitals, through the relay.
        for viewer in (lead, colleague, student):
            start = viewer.frames
            try:
                await viewer.wait_for(lambda v=viewer, s=start: v.frames >= s + 15 and v.frame_times, timeout=60)
            except TimeoutError:
                members = [hub.members[m].describe() for m in hub.membership.get(consult["id"], ()) if m in hub.members]
                pytest.fail(f"{viewer.name}: {viewer.frames - start} new frames, errors {viewer.errors}, offers from "
                            f"{viewer.offers_from}; members {members}; {relay_state(hub.relays[consult['id']])}")
            await viewer.wait_for(lambda v=viewer: any(r["kind"] == "spo2" for r in v.readings), timeout=20)
        relay_member = hub.relays[consult["id"]]
        assert {lead.offers_from[-1], colleague.offers_from[-1], student.offers_from[-1]} == {relay_member.id}

        # The station streams to the relay only: one peer, one video sender that sends.
        assert list(station.peers) == [relay_member.id]
        assert len(await outbound_video_senders(station)) == 1
        session = relay_member.ws._session
        assert isinstance(session, ConsultRelay)
        receivers = [r for r in session.upstream.getReceivers() if r.track.kind == "video"]
        assert isinstance(receivers[0]._RTCRtpReceiver__jitter_buffer, DeadlineJitterBuffer)

        # Chat: a specialist is heard by the station and the other viewers; an observer is read-only.
        await colleague.wait_for(lambda: "control" in colleague.channels
                                 and colleague.channels["control"].readyState == "open")
        await colleague.send_chat("ST elevation in V2-V4")
        await lead.wait_for(lambda: any(m.get("text") == "ST elevation in V2-V4" for m in lead.control))
        await lead.wait_for(lambda: any(m["text"] == "ST elevation in V2-V4" for m in station.chat_log))
        await student.wait_for(lambda: "control" in student.channels
                               and student.channels["control"].readyState == "open")
        await student.send_chat("can I ask something?")
        await station.send_chat("Understood")
        await student.wait_for(lambda: any(m.get("text") == "Understood" for m in student.control))
        assert session.rejected >= 1
        assert not any(m["text"] == "can I ask something?" for m in station.chat_log)
        assert not any(m.get("text") == "can I ask something?" for m in lead.control)

        # The station hears both specialists, mixed by the relay; the observer is not among them.
        await lead.wait_for(lambda: len(session.voice.inputs) == 2)
        await lead.wait_for(lambda: station.peers[relay_member.id].audio_frames_received > 10)


async def relayed(hub: Hub, station: Station, lead: SpecialistPeer, colleague: SpecialistPeer) -> tuple[str, Member]:
    """The lead joins and invites the colleague; (consult id, relay member) once both viewers'
    links from the relay and the station's link to it carry control messages."""
    consult = await lead.join_first_waiting()
    await lead.wait_for(lambda: lead.consult is not None)
    await lead.invite(COLLEAGUE[0], "specialist")
    await colleague.wait_for(lambda: colleague.invitations)
    await colleague.enter(consult["id"])
    await colleague.wait_for(lambda: consult["id"] in hub.relays, timeout=30)
    relay_member = hub.relays[consult["id"]]
    for viewer in (lead, colleague):
        await viewer.wait_for(lambda v=viewer: v.offers_from and v.offers_from[-1] == relay_member.id
                              and "files" in v.channels and v.channels["control"].readyState == "open", timeout=60)
    await colleague.wait_for(lambda: relay_member.id in station.peers
                             and station.peers[relay_member.id].control.readyState == "open", timeout=60)
    return consult["id"], relay_member


async def test_a_still_reaches_every_viewer_through_the_relay_and_the_record_at_once(
        server: Server, station: Station) -> None:
    hub = server.app[hub_key]  # type: ignore[index]
    async with SpecialistPeer(server.url, *server.specialist) as lead, \
            SpecialistPeer(server.url, *COLLEAGUE) as colleague, \
            SpecialistPeer(server.url, *STUDENT, speaks=False) as student:
        consult_id, relay_member = await relayed(hub, station, lead, colleague)

        # The second specialist asks; the station takes the still and streams it once, to the relay.
        await colleague.send_control({"type": "still_request"})
        for viewer in (lead, colleague):
            await viewer.wait_for(lambda v=viewer: len(v.stills.files) == 1, timeout=60)
        assert station.stills is not None
        [still_id] = colleague.stills.files
        still = station.stills.get(still_id)
        assert still is not None and still.consult == consult_id and still.by == "specialist"
        original = station.stills.data(still)
        for viewer in (lead, colleague):
            assert viewer.stills.files == {still_id: original}
            assert hashlib.sha256(viewer.stills.files[still_id]).hexdigest() == still.sha256
        # The relay put it into the record and said so: the station has nothing left to upload.
        await lead.wait_for(lambda: still.recorded, timeout=30)
        assert still.shown and station.stills.pending() == []

        # A viewer who enters later is offered the consult's stills on its own files channel.
        await lead.invite(STUDENT[0], "observer")
        await student.wait_for(lambda: student.invitations)
        await student.enter(consult_id, observe=True)
        await student.wait_for(lambda: still_id in student.stills.files, timeout=60)
        assert student.stills.files[still_id] == original

    async with await specialist_session(server) as session:
        async with session.get(f"{server.url}api/consults/{consult_id}") as res:
            record = await res.json()
        async with session.get(f"{server.url}api/stills/{still_id}") as res:
            assert res.status == 200
            assert await res.read() == original
    assert [s["id"] for s in record["stills"]] == [still_id]
    assert [e["body"]["still"] for e in record["timeline"] if e["kind"] == "still"] == [still_id]


def station_states(viewer: SpecialistPeer) -> list[str]:
    """What the relay said about the station's side, in order."""
    return [m["state"] for m in viewer.control if m.get("type") == "station"]


async def test_viewers_see_reconnecting_while_the_station_is_off_signaling_and_media_resumes_through_the_relay(
        server: Server, station: Station) -> None:
    hub = server.app[hub_key]  # type: ignore[index]
    async with SpecialistPeer(server.url, *server.specialist) as lead, \
            SpecialistPeer(server.url, *COLLEAGUE) as colleague:
        consult_id, relay_member = await relayed(hub, station, lead, colleague)
        viewers = (lead, colleague)
        for viewer in viewers:
            await viewer.wait_for(lambda v=viewer: v.frames >= 10 and station_states(v)[-1:] == ["live"], timeout=60)
        [gone] = [m for m in hub.members.values() if m.principal.role is Role.STATION]
        offers = [len(v.offers_from) for v in viewers]
        said = [len(station_states(v)) for v in viewers]

        await gone.ws.close()  # the station's signaling drops; it reconnects by itself

        for viewer, before in zip(viewers, said):
            await viewer.wait_for(lambda v=viewer: any(m["type"] == "peer_left" and m["peer"] == gone.id
                                                      for m in v.presence), timeout=30)
            await viewer.wait_for(lambda v=viewer, b=before: "reconnecting" in station_states(v)[b:], timeout=30)
        for viewer, before in zip(viewers, said):
            await viewer.wait_for(lambda v=viewer: any(m["type"] == "peer_joined" and m["peer"]["role"] == "station"
                                                      and m["peer"]["id"] != gone.id for m in v.presence), timeout=30)
            await viewer.wait_for(lambda v=viewer, b=before: station_states(v)[b:][-1:] == ["live"]
                                  and "reconnecting" in station_states(v)[b:], timeout=60)
            start = viewer.frames
            await viewer.wait_for(lambda v=viewer, s=start: v.frames >= s + 15, timeout=60)  # media resumed
        assert [len(v.offers_from) for v in viewers] == offers  # viewers kept their links to the relay
        assert not any(m["type"] == "consult_ended" for v in viewers for m in v.presence)
        assert hub.consults[consult_id].state.value == "live" and hub.relays[consult_id] is relay_member
        assert list(station.peers) == [relay_member.id]
