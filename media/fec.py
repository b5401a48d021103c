"""Forward error correction for video: ULPFEC (RFC 5109) inside RED (RFC 2198), as libwebrtc
sends and Chromium decodes it.

On a long round trip a lost base-layer packet freezes the picture until its retransmission
comes, a round trip later. A parity packet sent right behind a frame lets the receiver rebuild
any one lost packet of the ones it protects at once. Both the media packets and the parity
packets travel with the RED payload type in the media stream's sequence space (a receiver
keeps only RED-wrapped media for recovery), each behind a one-byte RED header naming the block's
payload type (VP8 or ULPFEC). The parity covers the packets as they would be without RED.

A parity packet: the ULPFEC header (10 bytes: E and L bits, the XOR of the protected packets'
P/X/CC and M/PT bits, the lowest protected sequence number, the XOR of their timestamps and of
their lengths after the 12-byte fixed header), the level-0 header (protection length, then a
mask of 16 bits, or 48 with the L bit, one per sequence number from the base) and the XOR of
the protected packets after their fixed headers, each padded with zeros to the longest. Header
extensions that change on the way are zeroed first on both sides (``zero_mutable``), as
libwebrtc does.

``protect`` makes the parity packets of a group, ``Grouper`` gathers groups across frames, and ``Recovery`` is the
receiving side (our own receivers: the relay, the tests' specialist). Pure: bytes in, bytes out.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from aiortc.rtcrtpparameters import RTCRtpCodecParameters

#: the payload types our SDP offers for them (free in aiortc's table)
RED = RTCRtpCodecParameters(mimeType="video/red", clockRate=90000, payloadType=123)
ULPFEC = RTCRtpCodecParameters(mimeType="video/ulpfec", clockRate=90000, payloadType=124)
#: one parity packet for at most this many packets (any one of them can be rebuilt); see group_for
GROUP = 4
MAX_GROUP = 8
#: the longest a protected packet waits for others to share a parity packet (``Grouper``)
HOLD_MS = 200.0
#: the largest media payload where parity may be sent: a parity packet carries the RED byte, its
#: 18-byte header and the protected packets' header extensions beside the longest payload, and
#: SRTP (libsrtp through pylibsrtp) takes packets of at most 1356 bytes
MAX_PAYLOAD = 1200
RTP_HEADER = 12
_FEC_HEADER = 10
_MASKS = (16, 48)  # mask bits without and with the L bit
_HISTORY = 256  # media packets a Recovery keeps to rebuild from
_PENDING = 32  # parity packets a Recovery keeps while two or more of theirs are missing


def group_for(loss: float) -> int:
    """Packets per parity packet at ``loss``: a group fails when two of its packets (parity
    included) are lost, about C(n + 1, 2) x loss^2 (0.2 % of groups at 1 % and six), so thinner
    loss affords larger groups: 3 at 2 %, 6 at 1 %, 8 from 0.75 % down (vsat-geo's smoothed loss
    peaks at 1.2 %: 114 kbit/s of parity at four, 145 at three)."""
    return max(2, min(MAX_GROUP, round(0.06 / loss))) if loss > 0 else MAX_GROUP


def budget_share(group: int) -> float:
    """What parity costs beside the base layer it protects, at ``group``: base frames of one to
    three packets round their groups up (0.32-0.39 measured at 4)."""
    return min(1.0, 1.5 / group)


def red(block_type: int, payload: bytes) -> bytes:
    """A RED payload with one block (F bit clear): its payload type, then the block."""
    return bytes([block_type & 0x7F]) + payload


def unred(payload: bytes) -> tuple[int, bytes] | None:
    """(block payload type, block) of a one-block RED payload; None if it has more or none."""
    if not payload or payload[0] & 0x80:
        return None
    return payload[0], payload[1:]


def zero_mutable(packet: bytes, ids: Collection[int]) -> bytes:
    """``packet`` with the header extensions ``ids`` zeroed: what parity covers. Extensions
    that change on the way (abs-send-time, stamped by the pacer as a packet leaves; transmission
    offset, transport-wide sequence number) are zeroed on both sides before the XOR, as libwebrtc
    does (``RtpPacket::ZeroMutableExtensions``). A packet too short for its header is returned as
    it is (the parity then simply does not match it)."""
    if not packet[0] & 0x10 or not ids:
        return packet
    start = RTP_HEADER + 4 * (packet[0] & 0x0F)
    if len(packet) < start + 4:
        return packet
    profile = int.from_bytes(packet[start:start + 2], "big")
    end = min(len(packet), start + 4 + 4 * int.from_bytes(packet[start + 2:start + 4], "big"))
    data = bytearray(packet)
    i = start + 4
    while i < end:
        if profile == 0xBEDE:  # one-byte headers: id and length - 1 in a byte
            if data[i] == 0:
                i += 1
                continue
            ext_id, length, i = data[i] >> 4, (data[i] & 0x0F) + 1, i + 1
            if ext_id == 15:
                break
        elif profile & 0xFFF0 == 0x1000:  # two-byte headers: id, length
            if data[i] == 0:
                i += 1
                continue
            if i + 1 >= end:
                break
            ext_id, length, i = data[i], data[i + 1], i + 2
        else:
            break
        if ext_id in ids:
            data[i:min(i + length, end)] = bytes(min(i + length, end) - i)
        i += length
    return bytes(data)


def _seq(packet: bytes) -> int:
    return int.from_bytes(packet[2:4], "big")


def _xor_into(target: bytearray, packet: bytes, offset: int) -> None:
    """XOR ``packet``'s recovery fields and what follows its fixed header into ``target``, whose
    first 10 bytes are laid out as a ULPFEC header with the length where the base goes."""
    target[0] ^= packet[0]
    target[1] ^= packet[1]
    length = (len(packet) - RTP_HEADER).to_bytes(2, "big")
    target[2] ^= length[0]
    target[3] ^= length[1]
    for i in range(4, 8):
        target[i] ^= packet[i]
    body = packet[RTP_HEADER:]
    if len(target) < offset + len(body):
        target.extend(bytes(offset + len(body) - len(target)))
    for i, byte in enumerate(body):
        target[offset + i] ^= byte


def parity(packets: Sequence[bytes]) -> bytes:
    """The ULPFEC payload (no RED header) protecting ``packets``: plain RTP packets of one
    stream in sequence order, the last within 48 of the first."""
    base = _seq(packets[0])
    offsets = [(_seq(p) - base) & 0xFFFF for p in packets]
    bits = next(b for b in _MASKS if max(offsets) < b)
    header = _FEC_HEADER + 2 + bits // 8
    data = bytearray(header)
    for packet in packets:
        _xor_into(data, packet, header)
    data[0] = data[0] & 0x3F | (0x40 if bits == 48 else 0)  # E clear, L for the long mask
    data[8:10] = data[2:4]  # length recovery, XORed where the base goes
    data[2:4] = base.to_bytes(2, "big")
    data[10:12] = (len(data) - header).to_bytes(2, "big")  # protection length: all of it
    mask = sum(1 << (bits - 1 - offset) for offset in offsets)
    data[12:header] = mask.to_bytes(bits // 8, "big")
    return bytes(data)


def protect(packets: Sequence[bytes], group: int = GROUP) -> list[bytes]:
    """Parity payloads for one frame's plain RTP packets (in sequence order): one per ``group``
    packets, interleaved (parity j of a run covers packets j, j + n, ...: a burst of up to n
    consecutive losses is rebuilt), in runs of at most 48 packets (the long mask's reach)."""
    parities: list[bytes] = []
    for start in range(0, len(packets), 48):
        run = packets[start:start + 48]
        count = math.ceil(len(run) / group)
        parities.extend(parity(run[j::count]) for j in range(count))
    return parities


class Grouper:
    """Gathers the protected packets of successive frames until a parity group is full.

    A parity packet is as long as the longest packet it protects: one per base-layer frame of a
    packet or two (thin rungs) cost as much as a second copy. Packets wait for ``group`` others,
    across frames, but not where the next frame to protect would come after ``hold_ms`` (a lost
    packet is rebuilt when the parity comes: its frame and the ones after it wait; at 6 fps,
    a base frame every 333 ms, waiting for the next took gaps past 500 ms), and never span 48
    sequence numbers (the long mask).
    """

    def __init__(self, group: int = GROUP, hold_ms: float = HOLD_MS) -> None:
        self.group = group
        self.hold_ms = hold_ms
        self._pending: list[bytes] = []
        self._since_ms = 0.0
        self._last_ms: float | None = None  # when the last frame to protect came
        self._interval_ms = float("inf")  # between the last two such frames

    def add(self, packets: Sequence[bytes], now_ms: float) -> list[bytes]:
        """Take one frame's packets to protect (none for a frame that needs no protection);
        return the parity payloads due now, to send behind that frame."""
        due: list[bytes] = []
        if self._pending and packets and (_seq(packets[-1]) - _seq(self._pending[0])) & 0xFFFF >= _MASKS[1]:
            due += self.flush()
        if packets:
            if self._last_ms is not None:
                self._interval_ms = now_ms - self._last_ms
            self._last_ms = now_ms
            if not self._pending:
                self._since_ms = now_ms
        self._pending += packets
        next_ms = (self._last_ms or now_ms) + self._interval_ms  # when the next frame to protect is due
        late = next_ms - self._since_ms > self.hold_ms or now_ms - self._since_ms >= self.hold_ms
        if self._pending and (len(self._pending) >= self.group or late):
            due += self.flush()
        return due

    def drop(self) -> None:
        """Forget what waits (protection went off: it goes unprotected)."""
        self._pending = []

    def flush(self) -> list[bytes]:
        """The parity of what waits (``protect``), at once."""
        pending, self._pending = self._pending, []
        return protect(pending, self.group) if pending else []


@dataclass(frozen=True)
class _Parity:
    ssrc: int
    protected: tuple[int, ...]  # sequence numbers
    data: bytes  # the ULPFEC payload


def _parse(ssrc: int, data: bytes) -> _Parity | None:
    if len(data) < _FEC_HEADER + 4:
        return None
    bits = _MASKS[1] if data[0] & 0x40 else _MASKS[0]
    header = _FEC_HEADER + 2 + bits // 8
    if len(data) < header or int.from_bytes(data[10:12], "big") != len(data) - header:
        return None
    base = int.from_bytes(data[2:4], "big")
    mask = int.from_bytes(data[12:header], "big")
    protected = tuple((base + i) & 0xFFFF for i in range(bits) if mask >> (bits - 1 - i) & 1)
    return _Parity(ssrc, protected, data) if protected else None


class Recovery:
    """Rebuilds lost media packets from parity packets (the receiving side of ``protect``).

    ``media(packet)`` records a plain RTP packet that arrived (RED removed, its payload type
    restored); ``parity(ssrc, payload)`` takes a ULPFEC payload. Each returns the packets it
    rebuilt (plain RTP, in the clear): a parity packet waits for its other packets while two or
    more are missing, and rebuilds the last one once only one is.
    """

    def __init__(self) -> None:
        self._media: OrderedDict[int, bytes] = OrderedDict()
        self._pending: list[_Parity] = []
        self.recovered = 0
        self.malformed = 0

    def media(self, packet: bytes) -> list[bytes]:
        self._remember(packet)
        return self._sweep()

    def parity(self, ssrc: int, payload: bytes) -> list[bytes]:
        parsed = _parse(ssrc, payload)
        if parsed is None:
            self.malformed += 1
            return []
        self._pending = [*self._pending[-(_PENDING - 1):], parsed]
        return self._sweep()

    def _remember(self, packet: bytes) -> None:
        self._media[_seq(packet)] = packet
        self._media.move_to_end(_seq(packet))
        while len(self._media) > _HISTORY:
            self._media.popitem(last=False)

    def _sweep(self) -> list[bytes]:
        rebuilt: list[bytes] = []
        progress = True
        while progress:
            progress = False
            for pending in list(self._pending):
                missing = [s for s in pending.protected if s not in self._media]
                if len(missing) > 1:
                    continue
                self._pending.remove(pending)
                if missing and (packet := self._rebuild(pending, missing[0])) is not None:
                    rebuilt.append(packet)
                    self._remember(packet)
                    progress = True
        self.recovered += len(rebuilt)
        return rebuilt

    def _rebuild(self, parity: _Parity, seq: int) -> bytes | None:
        bits = _MASKS[1] if parity.data[0] & 0x40 else _MASKS[0]
        header = _FEC_HEADER + 2 + bits // 8
        data = bytearray(parity.data[:8]) + bytearray(4) + bytearray(parity.data[header:])
        data[2:4] = parity.data[8:10]  # the length recovery field, where the XOR puts lengths
        for other in parity.protected:
            if other != seq:
                _xor_into(data, self._media[other], RTP_HEADER)
        length = int.from_bytes(data[2:4], "big")
        if len(data) < RTP_HEADER + length:
            self.malformed += 1
            return None
        data[0] = data[0] & 0x3F | 0x80  # RTP version 2
        data[2:4] = seq.to_bytes(2, "big")
        data[8:12] = parity.ssrc.to_bytes(4, "big")
        return bytes(data[:RTP_HEADER + length])
