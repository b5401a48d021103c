"""The link emulator with real packets between two network namespaces (needs root and TUN).

Probes send UDP datagrams from a socket in side "a" to one in side "b" (both opened in this
process inside the namespaces); each carries its sequence number and send time, so the test
sees what arrived and when, and checks the emulator's counters against it.
"""

from __future__ import annotations

import os
import signal
import statistics
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from media.linkemu import NETNS_DIR, PREFIX, LinkEmulator, unavailable_reason
from media.links import LinkProfile

REASON = unavailable_reason()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(REASON is not None, reason=REASON or "")]

PORT = 5004
RTP_VIDEO = bytes([0x80, 97])  # an RTP header start with VP8's payload type: counted as "video"
REPO = Path(__file__).resolve().parents[2]


def profile(**overrides: object) -> LinkProfile:
    base: dict[str, object] = dict(name="test", up_kbps=10_000, down_kbps=10_000, rtt_ms=20, loss=0.0, queue_ms=200)
    base.update(overrides)
    return LinkProfile(**base)  # type: ignore[arg-type]


@dataclass
class Probe:
    """Paced datagrams a -> b; ``arrivals`` maps sequence number -> (sent_s, received_s)."""

    link: LinkEmulator
    arrivals: dict[int, tuple[float, float]] = field(default_factory=dict)
    sent: list[float] = field(default_factory=list)  # link-clock send time per sequence number

    def run(self, count: int, interval_s: float, size: int = 200, linger_s: float = 1.0) -> None:
        rx = self.link.socket("b")
        rx.bind((self.link.b_addr, PORT))
        rx.settimeout(0.2)
        tx = self.link.socket("a")
        done = threading.Event()

        def receive() -> None:
            while not done.is_set():
                try:
                    data = rx.recv(65536)
                except TimeoutError:
                    continue
                seq, sent = struct.unpack_from("!Id", data, 2)
                self.arrivals[seq] = (sent, time.monotonic())

        reader = threading.Thread(target=receive)
        reader.start()
        try:
            start = time.monotonic()
            for seq in range(count):
                time.sleep(max(0.0, start + seq * interval_s - time.monotonic()))
                self.sent.append(self.link.elapsed())
                tx.sendto(RTP_VIDEO + struct.pack("!Id", seq, time.monotonic()).ljust(size - 2, b"\0"),
                          (self.link.b_addr, PORT))
            time.sleep(linger_s)
        finally:
            done.set()
            reader.join()
            rx.close()
            tx.close()


def test_one_way_delay_is_half_the_round_trip() -> None:
    with LinkEmulator(profile(rtt_ms=300)) as link:
        probe = Probe(link)
        probe.run(count=20, interval_s=0.05)
    delays = [received - sent for sent, received in probe.arrivals.values()]
    assert len(delays) == 20
    assert 0.150 <= statistics.median(delays) < 0.150 + 0.030
    assert min(delays) >= 0.150


def test_rate_is_enforced_by_a_drop_tail_queue_and_counters_add_up() -> None:
    # 1000-byte datagrams at twice the 400 kbit/s rate: half must wait or fall off the queue's tail.
    with LinkEmulator(profile(up_kbps=400, queue_ms=300, rtt_ms=0)) as link:
        probe = Probe(link)
        probe.run(count=200, interval_s=0.01, size=1000)
        up = link.stats()["up"]["video"]
    received = sorted(r for _, r in probe.arrivals.values())
    on_wire = 1000 + 28  # UDP and IPv4 headers count against the rate
    kbps = (len(received) - 1) * on_wire * 8 / 1000 / (received[-1] - received[0])
    assert 400 * 0.9 < kbps < 400 * 1.1
    assert up["dropped"] > 50, "sending at twice the rate must overflow the queue"
    assert up["packets"] == len(probe.arrivals)
    assert up["packets"] + up["dropped"] + up["lost"] == 200
    assert up["bytes"] == on_wire * up["packets"]
    # the queue held at most queue_ms of the rate: the last packets waited about 300 ms, not more
    worst = max(r - s for s, r in probe.arrivals.values())
    assert 0.25 < worst < 0.40


def test_random_loss_is_applied_and_counted() -> None:
    with LinkEmulator(profile(loss=0.2), seed=11) as link:
        probe = Probe(link)
        probe.run(count=600, interval_s=0.002, linger_s=0.5)
        up = link.stats()["up"]["video"]
    assert 0.8 * 0.9 < len(probe.arrivals) / 600 < 0.8 * 1.1
    assert up["lost"] == 600 - len(probe.arrivals)
    assert up["dropped"] == 0


@pytest.mark.parametrize("windows", [
    dict(outages=((1.0, 0.4),)),
    dict(handover_every_s=1.0, handover_ms=400, handover_loss=1.0),  # again at 2.0 s
])
def test_outage_and_handover_windows_drop_everything_inside_them(windows: dict[str, object]) -> None:
    with LinkEmulator(profile(**windows)) as link:
        probe = Probe(link)
        probe.run(count=95, interval_s=0.02, linger_s=0.3)
    inside = {seq for seq, t in enumerate(probe.sent) if 1.02 <= t <= 1.38}
    outside = {seq for seq, t in enumerate(probe.sent) if t < 0.98 or 1.42 < t < 1.95}
    assert inside and outside
    assert not inside & probe.arrivals.keys(), "packets went through the outage"
    assert outside <= probe.arrivals.keys()


def test_traffic_is_counted_per_class_in_both_directions() -> None:
    with LinkEmulator(profile()) as link:
        a, b = link.socket("a"), link.socket("b")
        b.bind((link.b_addr, PORT))
        a.bind((link.a_addr, PORT))
        for header, count in ((bytes([0x80, 98]), 3), (bytes([0x80, 96]), 4), (bytes([0x80, 201]), 2),
                              (bytes([0x00, 0x01]), 5), (bytes([0x17, 0xFE]), 6)):
            for _ in range(count):
                a.sendto(header + bytes(40), (link.b_addr, PORT))
        b.sendto(bytes([0x81, 205]) + bytes(10), (link.a_addr, PORT))
        a.settimeout(2)
        a.recv(100)
        time.sleep(0.2)
        stats = link.stats()
        a.close()
        b.close()
    packets = {kind: c["packets"] for kind, c in stats["up"].items()}
    assert {k: v for k, v in packets.items() if k != "other"} == {"rtx": 3, "audio": 4, "rtcp": 2, "stun": 5, "data": 6}
    assert stats["down"]["rtcp"]["packets"] == 1


def _namespaces(pid: int) -> set[str]:
    return {p.name for p in NETNS_DIR.glob(f"{PREFIX}{pid}-*")}


def _start_cli(*command: str) -> subprocess.Popen[bytes]:
    cli = subprocess.Popen([sys.executable, "-m", "station.cli", "bench", "link", "lan", "--", *command],
                           cwd=REPO, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while len(_namespaces(cli.pid)) < 2:
        assert time.monotonic() < deadline, "the emulator did not come up"
        time.sleep(0.1)
    return cli


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_cli_tears_the_link_down_on_ctrl_c_and_sigterm(stop: signal.Signals) -> None:
    cli = _start_cli("sleep", "60")
    # once the command runs (a signal before would test the start, not the tear-down)
    deadline = time.monotonic() + 20
    while not any(subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.strip()
                  for ns in _namespaces(cli.pid)):
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.1)
    cli.send_signal(stop)
    _, err = cli.communicate(timeout=20)
    assert not _namespaces(cli.pid)
    assert b"| direction | class |" in err  # it still reports what the link carried
    tuns = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"flk{cli.pid}-" not in tuns


def test_namespaces_of_a_killed_emulator_are_removed_by_the_next_one() -> None:
    cli = _start_cli("sleep", "60")
    cli.send_signal(signal.SIGKILL)
    cli.wait()
    left = _namespaces(cli.pid)
    assert len(left) == 2  # SIGKILL leaves no chance to clean up...
    sleeper = subprocess.run(["ip", "netns", "pids", sorted(left)[0]], capture_output=True, text=True).stdout.split()
    with LinkEmulator(profile()):
        assert not _namespaces(cli.pid)  # ...so the next emulator does it
    for pid in sleeper:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_cli_runs_the_command_with_the_link_addresses_and_returns_its_code() -> None:
    done = subprocess.run([sys.executable, "-m", "station.cli", "bench", "link", "lan", "--",
                           "sh", "-c", 'test "$FARLINK_LINK_B" = 198.18.0.2 && exit 7'],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 7
    assert "| direction | class |" in done.stderr
