"""A satellite link between two network namespaces, for tests and benchmarks (no netem needed).

Side "a" (the station's) and side "b" (the server's and specialist's) are network namespaces,
each with one TUN device: ``A_ADDR`` in "a" points at ``B_ADDR`` in "b". A forwarder thread in
this process reads every IP packet either side sends and writes it to the other side after the
profile's ``Bottleneck`` (``up`` = a -> b, ``down`` = b -> a) let it through, counting per
traffic class. Everything is torn down on exit, on Ctrl-C and on errors; namespaces left by a
process that was killed outright are removed (with whatever still runs in them) by the next
emulator that starts.

    with LinkEmulator(get_profile("bgan-64")) as link:
        server = link.popen("b", ["farlink", "serve", "--host", link.b_addr])
        ...
        print(link.stats()["up"]["video"])
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import itertools
import logging
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

from devices.errors import LocalError
from media.bottleneck import Bottleneck
from media.links import LinkProfile
from media.traffic import classify

A_ADDR = "198.18.0.1"
B_ADDR = "198.18.0.2"
SIDES = ("a", "b")
NETNS_DIR = Path("/run/netns")
PREFIX = "farlink-link-"
_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000
_CLONE_NEWNET = 0x40000000
_READ_BURST = 256
_log = logging.getLogger(__name__)
_serial = itertools.count()


def unavailable_reason() -> str | None:
    """Why no emulator can run here (not root, no TUN, no ``ip netns``), or None when it can."""
    if os.geteuid() != 0:
        return "the link emulator needs root (network namespaces and TUN devices)"
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        return "the link emulator needs /dev/net/tun"
    probe = f"{PREFIX}probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create network namespaces: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise LocalError(f"ip {' '.join(args)}: {done.stderr.strip()}", code="link_setup_failed")


def _kill_namespace(name: str) -> None:
    """Kill whatever still runs inside namespace ``name`` (it was started there by us), then delete it."""
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


def remove_stale() -> list[str]:
    """Remove the namespaces of emulators whose process no longer exists; returns their names."""
    removed = []
    for path in NETNS_DIR.glob(f"{PREFIX}*") if NETNS_DIR.is_dir() else []:
        match = re.fullmatch(rf"{PREFIX}(\d+)-\d+-[ab]", path.name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _kill_namespace(path.name)
            removed.append(path.name)
    return removed


def _open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


class LinkEmulator:
    """Context manager: two namespaces joined by an emulated ``profile`` link (see module doc)."""

    a_addr = A_ADDR
    b_addr = B_ADDR

    def __init__(self, profile: LinkProfile, seed: int | None = None) -> None:
        self.profile = profile
        self.seed = seed
        tag = f"{os.getpid()}-{next(_serial)}"
        self.namespaces = {side: f"{PREFIX}{tag}-{side}" for side in SIDES}
        self._tun_names = {side: f"flk{tag}{side}"[-15:] for side in SIDES}
        self._fds: dict[str, int] = {}
        self._processes: list[subprocess.Popen[Any]] = []
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1
        self._lock = threading.Lock()
        self.started_at = 0.0

    # -- set-up and tear-down -------------------------------------------------------------

    def __enter__(self) -> LinkEmulator:
        reason = unavailable_reason()
        if reason:
            raise LocalError(reason, code="link_unavailable")
        remove_stale()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _build(self) -> None:
        rng = random.Random(self.seed)
        p = self.profile
        self._bottlenecks = {
            "up": Bottleneck(p.up_kbps, p.rtt_ms / 2, p.queue_ms, p.loss_at, rng),
            "down": Bottleneck(p.down_kbps, p.rtt_ms / 2, p.queue_ms, p.loss_at, rng),
        }
        peers = {"a": (A_ADDR, B_ADDR), "b": (B_ADDR, A_ADDR)}
        for side in SIDES:
            ns, tun = self.namespaces[side], self._tun_names[side]
            _ip("netns", "add", ns)
            self._fds[side] = _open_tun(tun)
            _ip("link", "set", tun, "netns", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", peers[side][0], "peer", peers[side][1], "dev", tun)
            _ip("-n", ns, "link", "set", tun, "up")
            # IPv4 only: a stray IPv6 path would bypass nothing but would confuse ICE and counts.
            subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"],
                           capture_output=True)
        self._wake_r, self._wake_w = os.pipe()
        self.started_at = time.time()
        self._t0 = time.monotonic()
        self._stop = False
        self._thread = threading.Thread(target=self._forward, name="linkemu", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the processes started in the namespaces, the forwarder, the TUNs and namespaces."""
        for process in self._processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for process in self._processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self._thread is not None:
            self._stop = True
            os.write(self._wake_w, b"x")
            self._thread.join()
            self._thread = None
        for fd in [*self._fds.values(), self._wake_r, self._wake_w]:
            if fd >= 0:
                os.close(fd)
        self._fds.clear()
        self._wake_r = self._wake_w = -1
        for ns in self.namespaces.values():
            if (NETNS_DIR / ns).exists():
                _kill_namespace(ns)

    # -- use ------------------------------------------------------------------------------

    def popen(self, side: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside ``side``'s namespace; it is stopped when the emulator closes."""
        process = subprocess.Popen(["ip", "netns", "exec", self._namespace(side), *argv],
                                   start_new_session=True, **kwargs)
        self._processes.append(process)
        return process

    def socket(self, side: str, kind: int = socket.SOCK_DGRAM) -> socket.socket:
        """An IPv4 socket that lives in ``side``'s namespace (for probes run in this process)."""
        with self.inside(side):
            return socket.socket(socket.AF_INET, kind)

    def addr(self, side: str) -> str:
        return {"a": A_ADDR, "b": B_ADDR}[self._check(side)]

    def elapsed(self) -> float:
        """Seconds since the link came up: the clock of the profile's outage and handover windows."""
        return time.monotonic() - self._t0

    def stats(self) -> dict[str, dict[str, dict[str, int]]]:
        """direction ("up", "down") -> traffic class -> Counter fields, as plain data."""
        with self._lock:
            return {direction: {str(kind): asdict(c) for kind, c in b.counters.items()}
                    for direction, b in self._bottlenecks.items()}

    def _check(self, side: str) -> str:
        if side not in SIDES:
            raise LocalError(f"no side {side!r}; sides are 'a' (station) and 'b' (server)", code="bad_side")
        return side

    def _namespace(self, side: str) -> str:
        return self.namespaces[self._check(side)]

    @contextlib.contextmanager
    def inside(self, side: str) -> Iterator[None]:
        """The calling thread in ``side``'s namespace: sockets it opens meanwhile live there.

        Threads started meanwhile stay there for good; run a whole in-process peer (say an
        asyncio loop with aiortc) in a thread of its own under this.
        """
        libc = ctypes.CDLL(None, use_errno=True)
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(NETNS_DIR / self._namespace(side), os.O_RDONLY)
        try:
            if libc.setns(target, _CLONE_NEWNET) != 0:
                raise LocalError(f"setns: {os.strerror(ctypes.get_errno())}", code="link_setup_failed")
            try:
                yield
            finally:
                libc.setns(home, _CLONE_NEWNET)
        finally:
            os.close(home)
            os.close(target)

    # -- the forwarder thread -------------------------------------------------------------

    def _forward(self) -> None:
        routes = {self._fds["a"]: ("up", self._fds["b"]), self._fds["b"]: ("down", self._fds["a"])}
        in_flight: dict[str, deque[tuple[float, bytes]]] = {"up": deque(), "down": deque()}
        outputs = {"up": self._fds["b"], "down": self._fds["a"]}
        watched = [*routes, self._wake_r]
        while not self._stop:
            now = self.elapsed()
            due = [q[0][0] for q in in_flight.values() if q]
            timeout = max(0.0, min(due) - now) if due else None
            readable, _, _ = select.select(watched, [], [], timeout)
            for fd in readable:
                if fd == self._wake_r:
                    continue
                direction, _ = routes[fd]
                for _ in range(_READ_BURST):
                    try:
                        packet = os.read(fd, 65536)
                    except BlockingIOError:
                        break
                    with self._lock:
                        at = self._bottlenecks[direction].admit(len(packet), classify(packet), self.elapsed())
                    if at is not None:
                        in_flight[direction].append((at, packet))
            now = self.elapsed()
            for direction, queue in in_flight.items():
                while queue and queue[0][0] <= now:
                    _, packet = queue.popleft()
                    try:
                        os.write(outputs[direction], packet)
                    except OSError as exc:  # the far side went down mid-teardown
                        if exc.errno not in (errno.EIO, errno.EINVAL, errno.EBADF):
                            _log.warning("link %s: write failed: %s", direction, exc)
