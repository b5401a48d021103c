"""Which kind of WebRTC traffic an IP packet carries, read from headers that stay in the clear.

Used by the link emulator to count what a link carried and dropped per class. UDP payloads are
demultiplexed by their first byte (RFC 7983): 0-3 STUN, 20-63 DTLS (the data channels ride SCTP
over DTLS), 128-191 RTP or RTCP. RTCP is told from RTP by its packet type 192-223 (RFC 5761);
SRTP leaves the RTP header readable, so the payload type says audio, video or retransmission,
using aiortc's payload type numbers (the station offers, so both ends use them); a packet on the
retransmission stream with the padding bit set is a bandwidth probe's padding, not a repair.
Video inside RED counts as video, its parity packets (``media.fec``) with it: only the RED
block header, which is encrypted, tells them apart.
"""

from __future__ import annotations

import enum

from aiortc.codecs import CODECS, is_rtx

from media import fec


class TrafficClass(enum.StrEnum):
    VIDEO = "video"
    RTX = "rtx"
    PADDING = "padding"
    AUDIO = "audio"
    DATA = "data"
    RTCP = "rtcp"
    STUN = "stun"
    OTHER = "other"  # TCP (signaling, HTTP), ICMP, anything not WebRTC media


def _payload_types() -> dict[int, TrafficClass]:
    table = {c.payloadType: TrafficClass.AUDIO for c in CODECS["audio"]}
    table.update({c.payloadType: TrafficClass.RTX if is_rtx(c) else TrafficClass.VIDEO for c in CODECS["video"]})
    table[fec.RED.payloadType] = TrafficClass.VIDEO  # media and parity alike (the RED header is encrypted)
    return table


PAYLOAD_TYPES = _payload_types()
UDP = 17


def classify(packet: bytes) -> TrafficClass:
    """Class of one IPv4 packet; anything short, non-IPv4 or unknown is ``OTHER``."""
    if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != UDP:
        return TrafficClass.OTHER
    start = (packet[0] & 0x0F) * 4 + 8  # IP header, then the 8-byte UDP header
    if len(packet) < start + 2:
        return TrafficClass.OTHER
    first, second = packet[start], packet[start + 1]
    if first <= 3:
        return TrafficClass.STUN
    if 20 <= first <= 63:
        return TrafficClass.DATA
    if 128 <= first <= 191:
        if 192 <= second <= 223:
            return TrafficClass.RTCP
        kind = PAYLOAD_TYPES.get(second & 0x7F, TrafficClass.OTHER)
        return TrafficClass.PADDING if kind is TrafficClass.RTX and first & 0x20 else kind
    return TrafficClass.OTHER
