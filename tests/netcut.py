"""A network namespace joined to this host by a veth pair whose path can be cut and restored.

A process started with ``NetnsLink.spawn`` lives behind the pair: everything it sends or
receives (signaling TCP, ICE/DTLS/SRTP UDP, ARP) crosses the veth. ``cut()`` replaces the queue
on both ends with a zero-length FIFO, so every packet is dropped silently, as on a satellite
outage (no error reaches either side); ``restore()`` puts the default queues back. Addresses are
a /30 of 198.19.0.0/16 (benchmarking space) picked from the process id, so parallel runs differ.
Needs root and ``ip``: ``NetnsLink.create()`` raises ``Unavailable`` with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO


class Unavailable(Exception):
    """Namespaces or veth pairs are not permitted here."""


def _ip(*args: str, netns: str | None = None) -> None:
    command = ["ip", *(["netns", "exec", netns, "ip"] if netns else []), *args]
    subprocess.run(command, check=True, capture_output=True, text=True)


def _tc(*args: str, netns: str | None = None) -> None:
    command = [*(["ip", "netns", "exec", netns] if netns else []), "tc", *args]
    subprocess.run(command, check=True, capture_output=True, text=True)


class NetnsLink:
    def __init__(self, tag: str) -> None:
        pid = os.getpid()
        self.netns = f"fl-{tag}-{pid}"
        self.outer = f"fl{pid % 100000}o"
        self.inner = f"fl{pid % 100000}i"
        subnet = (pid % 16_000) * 4
        self.host_ip = f"198.19.{subnet // 256}.{subnet % 256 + 1}"
        self.netns_ip = f"198.19.{subnet // 256}.{subnet % 256 + 2}"
        self.cut_now = False

    @classmethod
    def create(cls, tag: str) -> NetnsLink:
        if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tc"):
            raise Unavailable("needs root, ip and tc")
        link = cls(tag)
        try:
            _ip("netns", "add", link.netns)
            _ip("link", "add", link.outer, "type", "veth", "peer", "name", link.inner)
            _ip("link", "set", link.inner, "netns", link.netns)
            _ip("addr", "add", f"{link.host_ip}/30", "dev", link.outer)
            _ip("link", "set", link.outer, "up")
            _ip("addr", "add", f"{link.netns_ip}/30", "dev", link.inner, netns=link.netns)
            _ip("link", "set", link.inner, "up", netns=link.netns)
            _ip("link", "set", "lo", "up", netns=link.netns)
            _ip("route", "add", "default", "via", link.host_ip, netns=link.netns)
        except (subprocess.CalledProcessError, OSError) as exc:
            link.close()
            detail = getattr(exc, "stderr", "") or str(exc)
            raise Unavailable(f"cannot make a namespace and veth pair: {detail.strip()}") from exc
        return link

    def spawn(self, argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside the namespace, its output to ``log``."""
        out: IO[bytes] = log.open("wb")
        return subprocess.Popen(["ip", "netns", "exec", self.netns, *argv], stdout=out, stderr=subprocess.STDOUT)

    def cut(self) -> None:
        _tc("qdisc", "replace", "dev", self.outer, "root", "pfifo", "limit", "0")
        _tc("qdisc", "replace", "dev", self.inner, "root", "pfifo", "limit", "0", netns=self.netns)
        self.cut_now = True

    def restore(self) -> None:
        _tc("qdisc", "del", "dev", self.outer, "root")
        _tc("qdisc", "del", "dev", self.inner, "root", netns=self.netns)
        self.cut_now = False

    def close(self) -> None:
        subprocess.run(["ip", "link", "del", self.outer], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True)
