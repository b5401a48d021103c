"""Farlink's commands as real processes, for tests whose fault is a process fault.

``ServerProcess`` is ``farlink serve`` on a data directory (SQLite) and a fixed port, so it can
be SIGKILLed and started again where it was; accounts come from ``farlink admin`` on the same
directory. ``StationProcess`` is ``farlink station --config FILE``, optionally inside a network
namespace (``tests.netcut``); its staff page URL is read from its output.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from tests.netcut import NetnsLink

FARLINK = [sys.executable, "-m", "station.cli"]
PAGE_LINE = re.compile(rb"Station page for the clinic staff: (\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def farlink_admin(data_dir: Path, *args: str) -> str:
    """Run ``farlink admin`` on ``data_dir``; its output."""
    done = subprocess.run([*FARLINK, "admin", "--data-dir", str(data_dir), *args],
                          check=True, capture_output=True, text=True)
    return done.stdout.strip()


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    """Poll ``predicate`` (plain or async) until true; AssertionError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)


class Process:
    """One command, its output in ``log``; ``kill()`` is SIGKILL, ``stop()`` SIGTERM."""

    def __init__(self, argv: Sequence[str], log: Path, netns: NetnsLink | None = None) -> None:
        self.argv = list(argv)
        self.log = log
        self.netns = netns
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = self.log.with_suffix(f".{self.starts}.log")
        if self.netns is not None:
            self.proc = self.netns.spawn(self.argv, log)
        else:
            with log.open("wb") as out:
                self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        self.current_log = log

    def output(self) -> bytes:
        return self.current_log.read_bytes()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as a power cut or the OOM killer would."""
        assert self.proc is not None
        self._signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait(10)

    def _signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)  # `ip netns exec` execs the command: the pid is its own


class ServerProcess(Process):
    """``farlink serve`` on every local address (the namespace reaches it through the veth)."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.url = f"http://127.0.0.1:{self.port}/"
        super().__init__([*FARLINK, "serve", "--host", "0.0.0.0", "--port", str(self.port),
                          "--data-dir", str(data_dir), "--log-format", "text"], log)

    async def start_ready(self, timeout: float = 60.0) -> None:
        self.start()

        async def answers() -> bool:
            if not self.running:
                raise AssertionError(f"farlink serve exited:\n{self.output().decode(errors='replace')}")
            try:
                async with aiohttp.ClientSession() as session, session.get(self.url) as res:
                    return res.status == 200
            except aiohttp.ClientError:
                return False
        await wait_until(answers, timeout, "farlink serve to answer")


class StationProcess(Process):
    """``farlink station --config FILE``."""

    def __init__(self, config: Path, log: Path, netns: NetnsLink | None = None) -> None:
        super().__init__([*FARLINK, "station", "--config", str(config)], log, netns)

    async def page_url(self, timeout: float = 60.0) -> str:
        found: list[str] = []

        def printed() -> bool:
            if not self.running:
                raise AssertionError(f"farlink station exited:\n{self.output().decode(errors='replace')}")
            match = PAGE_LINE.search(self.output())
            if match:
                found.append(match.group(1).decode())
            return bool(found)
        await wait_until(printed, timeout, "the station's page URL")
        return found[0]


def write_config(path: Path, server: str, token: str, devices: Sequence[tuple[str, str]] = (),
                 extra: str = "") -> Path:
    """A station config file: the page on any free port, the test pattern and tone."""
    lines = [f'server = "{server}"', f'token = "{token}"', f'data_dir = "{path.parent / "station"}"',
             'camera = "none"', extra, "[page]", "port = 0"]
    for kind, port in devices:
        lines += ["[[devices]]", f'kind = "{kind}"', f'port = "{port}"']
    path.write_text("\n".join(lines) + "\n")
    return path
