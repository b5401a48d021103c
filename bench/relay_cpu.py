"""What the server-side relay costs: ``python bench/relay_cpu.py [--viewers 1 2 3 4] [--seconds N]``.

For each viewer count, on loopback: ``farlink serve`` and ``farlink station`` (simulated
oximeter, test pattern) as separate processes; the viewers are Python specialist peers (real
aiortc) in this process: the first claims the consult and invites the others. After a warm-up,
the server process's CPU time (from /proc, user + system) is read over the window, with the
frames each viewer decoded. One viewer is peer to peer (the server only signals); from two on the
relay decodes once and encodes once per viewer. The station sends stock aiortc media by default
(``--station-media``): with Farlink's controller the station would pick its uplink rung from the
delay this shared host's CPU load adds, and the table would measure that instead of the relay. Prints a table, saves
``bench/results/relay_cpu.{md,json}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.specialist import SpecialistPeer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WARMUP_S = 12.0


def farlink(*args: str) -> list[str]:
    return [sys.executable, "-m", "station.cli", *args]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for_port(port: int, server: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError("the server did not start; see server.log in the work directory")


@dataclass
class Processes:
    """``farlink serve`` and ``farlink station`` on loopback; logs in the work directory."""

    url: str
    users: list[tuple[str, str]]  # the specialist accounts: (name, password)
    server: subprocess.Popen[bytes]
    station_args: list[str]
    env: dict[str, str]
    log: BinaryIO
    station: subprocess.Popen[bytes] | None = None

    def start_station(self) -> None:
        self.station = subprocess.Popen(self.station_args, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)

    def stop_station(self) -> None:
        if self.station is not None:
            self.station.terminate()
            self.station.wait(timeout=20)


@contextlib.asynccontextmanager
async def farlink_processes(viewers: int, station_media: str) -> AsyncIterator[Processes]:
    """A server with ``viewers`` specialist accounts and a station (simulated oximeter, test pattern)."""
    work = Path(tempfile.mkdtemp(prefix="farlink-relay-bench-"))
    data, env = work / "data", {**os.environ, "PYTHONPATH": str(ROOT)}
    users = [(f"doctor{i}", secrets.token_urlsafe(9)) for i in range(viewers)]
    for name, password in users:
        subprocess.run(farlink("admin", "--data-dir", str(data), "create-user", name, f"--password={password}"),
                       check=True, stdout=subprocess.DEVNULL, env=env)
    token = subprocess.run(farlink("admin", "--data-dir", str(data), "create-station-token", "bench-clinic"),
                           check=True, capture_output=True, text=True, env=env).stdout.strip()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with open(work / "server.log", "wb") as server_log, open(work / "station.log", "wb") as station_log:
        server = subprocess.Popen(farlink("serve", "--port", str(port), "--data-dir", str(data)),
                                  stdout=server_log, stderr=subprocess.STDOUT, env=env)
        processes = Processes(url, users, server, farlink(
            "station", "--server", url, f"--token={token}", "--simulate", "contec-v7", "--station-dir",
            str(work / "station"), "--page-port", "0", "--media", station_media), env, station_log)
        processes.start_station()
        try:
            await wait_for_port(port, server)
            yield processes
        finally:
            processes.stop_station()
            server.terminate()
            server.wait(timeout=20)


async def run(viewers: int, seconds: float, station_media: str) -> dict[str, float | int | str]:
    async with farlink_processes(viewers, station_media) as procs, contextlib.AsyncExitStack() as stack:
        peers = [await stack.enter_async_context(SpecialistPeer(procs.url, name, pw)) for name, pw in procs.users]
        lead, others = peers[0], peers[1:]
        consult = await lead.join_first_waiting(timeout=60)
        await lead.wait_for(lambda: lead.consult is not None, timeout=30)
        for peer in others:
            await lead.invite(peer.name)
            await peer.wait_for(lambda p=peer: p.invitations, timeout=30)
            await peer.enter(consult["id"])
        await asyncio.sleep(WARMUP_S)
        frames0 = [p.frames for p in peers]
        cpu0, t0 = cpu_seconds(procs.server.pid), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, t1 = cpu_seconds(procs.server.pid), time.monotonic()
        fps = [(p.frames - f) / (t1 - t0) for p, f in zip(peers, frames0)]
    return {
        "viewers": viewers,
        "server_cpu_pct": round(100 * (cpu1 - cpu0) / (t1 - t0), 1),
        "min_viewer_fps": round(min(fps), 1),
        "mean_viewer_fps": round(sum(fps) / len(fps), 1),
        "seconds": round(t1 - t0, 1),
        "station_media": station_media,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--station-media", choices=["stock", "farlink"], default="stock")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    rows = [asyncio.run(run(n, args.seconds, args.station_media)) for n in args.viewers]
    lines = ["| viewers | server CPU % | min viewer fps | mean viewer fps | window s |", "|---|---|---|---|---|"]
    lines += [f"| {r['viewers']} | {r['server_cpu_pct']} | {r['min_viewer_fps']} | {r['mean_viewer_fps']} | {r['seconds']} |"
              for r in rows]
    lines.append(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    text = "\n".join(lines)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "relay_cpu.md").write_text(text + "\n")
    (args.out / "relay_cpu.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
