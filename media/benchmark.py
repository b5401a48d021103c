"""``farlink bench media``: a station and a specialist over the link emulator, stock vs Farlink.

Side "a" of the emulated link holds the station; side "b" holds the signaling server and the
specialist (real headless Chromium, see ``bench_browser.py``). Everything runs as separate
processes inside the emulator's network namespaces, started through the public ``farlink``
commands, so what is measured is what a clinic runs. ``bench/media.py`` runs every profile
with both variants; ``farlink bench media --profile NAME --seconds N [--stock] --json FILE``
runs one variant and writes one result object (a list when several profiles were asked for).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from media.benchmetrics import Result, summarise, table
from media.linkemu import LinkEmulator
from media.links import LinkProfile, get_profile, load_profiles

PORT = 8080
USER = "bench"
SERVER_START_S = 30.0
JOIN_GRACE_S = 240.0  # how long the consult may take to reach the waiting room over a thin link
AFTER_OUTAGE_S = 20.0
VARIANTS = ("stock", "farlink")
PYTHONPATH = str(Path(__file__).resolve().parents[1])


def _farlink(*args: str) -> list[str]:
    return [sys.executable, "-m", "station.cli", *args]


def run_seconds(profile: LinkProfile, seconds: float) -> float:
    """A run must outlast the profile's last outage by AFTER_OUTAGE_S to see the recovery."""
    ends = [start + length + AFTER_OUTAGE_S for start, length in profile.outages]
    return max([seconds, *ends])


def _wait_for_server(link: LinkEmulator, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline and server.poll() is None:
        with link.socket("b", socket.SOCK_STREAM) as probe:
            if probe.connect_ex((link.b_addr, PORT)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError("the signaling server did not start; see its log")


@dataclass
class Rig:
    """A consult ready to be joined: the server on side b, a station asking for a consult on side a."""

    link: LinkEmulator
    url: str
    user: str
    password: str
    station: subprocess.Popen[bytes]
    logs: Path


@contextlib.contextmanager
def consult_rig(profile: LinkProfile, work: Path, station_args: Sequence[str] = ()) -> Iterator[Rig]:
    """``farlink serve`` on side b and ``farlink station --simulate contec-v7`` (plus ``station_args``)
    on side a of an emulated ``profile`` link; logs and data in ``work``. All of it is stopped on exit."""
    data = work / "data"
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    password = secrets.token_urlsafe(12)
    subprocess.run(_farlink("admin", "--data-dir", str(data), "create-user", USER, f"--password={password}"),
                   check=True, stdout=subprocess.DEVNULL, env=env)
    token = subprocess.run(_farlink("admin", "--data-dir", str(data), "create-station-token", "bench-station"),
                           check=True, capture_output=True, text=True, env=env).stdout.strip()
    with LinkEmulator(profile) as link, contextlib.ExitStack() as logs:
        url = f"http://{link.b_addr}:{PORT}/"
        server_log, station_log = (logs.enter_context(open(work / f"{name}.log", "wb")) for name in ("server", "station"))
        logs.callback(link.close)  # stops the processes before their logs close
        server = link.popen("b", _farlink("serve", "--host", link.b_addr, "--port", str(PORT), "--data-dir", str(data)),
                            stdout=server_log, stderr=subprocess.STDOUT, env=env)
        _wait_for_server(link, server)
        station = link.popen("a", _farlink("station", "--server", url, f"--token={token}", *station_args,
                                           "--simulate", "contec-v7", "--station-dir", str(work / "station"),
                                           "--page-port", "0", "--reason", f"benchmark {profile.name}"),
                             stdout=station_log, stderr=subprocess.STDOUT, env=env)
        yield Rig(link, url, USER, password, station, work)


@dataclass
class Recording:
    """What one consult over the emulated link left: the specialist's probe data and the link's counters."""

    probe: dict[str, Any]
    counters: dict[str, dict[str, dict[str, int]]]
    link_started_at: float
    logs: Path
    #: (time.time(), counters) once a second while the specialist ran: the window's own traffic
    #: is the end's counters less those at the join (the link check and logins come before it)
    snapshots: list[tuple[float, dict[str, dict[str, dict[str, int]]]]]


def record_consult(profile: LinkProfile, seconds: float, probe_file: Path, station_args: Sequence[str] = ()) -> Recording:
    """Chromium joins the consult of a ``consult_rig`` and records ``seconds`` after the join.

    The probe is empty (no frames, no stats) when the specialist never got to record.
    """
    work = Path(tempfile.mkdtemp(prefix=f"farlink-bench-{profile.name}-"))
    probe_file.unlink(missing_ok=True)
    with consult_rig(profile, work, station_args) as rig, open(work / "browser.log", "wb") as log:
        browser = rig.link.popen("b", [sys.executable, "-m", "media.bench_browser", "--url", rig.url, "--user", rig.user,
                                       f"--password={rig.password}", "--seconds", str(seconds), "--out", str(probe_file)],
                                 stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": PYTHONPATH})
        snapshots = []
        deadline = time.monotonic() + seconds + JOIN_GRACE_S
        while browser.poll() is None and time.monotonic() < deadline:
            snapshots.append((time.time(), rig.link.stats()))
            time.sleep(1.0)
        counters = rig.link.stats()
        started_at = rig.link.started_at
        rig.link.close()  # stops the browser before its log closes
    if probe_file.exists():
        probe = json.loads(probe_file.read_text())
    else:
        print(f"  the specialist recorded nothing; logs in {work}", file=sys.stderr)
        probe = {"frames": [], "vitals": [], "stats": [], "joined_at": started_at}
    return Recording(probe, counters, started_at, work, snapshots=snapshots)


def since(end: dict[str, dict[str, dict[str, int]]],
          start: dict[str, dict[str, dict[str, int]]]) -> dict[str, dict[str, dict[str, int]]]:
    """Link counters (direction -> class -> field) counted between two snapshots."""
    return {direction: {kind: {name: value - start.get(direction, {}).get(kind, {}).get(name, 0)
                               for name, value in fields.items()}
                        for kind, fields in classes.items()}
            for direction, classes in end.items()}


def run_one(profile_name: str, variant: str, seconds: float, out_dir: Path) -> Result:
    """One benchmark run: the result row (``survived`` false if the consult never started)."""
    profile = get_profile(profile_name)
    seconds = run_seconds(profile, seconds)
    load_before = os.getloadavg()[0]
    rec = record_consult(profile, seconds, out_dir / f"{profile_name}-{variant}.probe.json", ["--media", variant])
    joined_ms = int(rec.probe["joined_at"] * 1000)
    outage_end = None
    if profile.outages:
        start_s, length_s = profile.outages[-1]
        outage_end = int((rec.link_started_at + start_s + length_s) * 1000)
    at_join = next((c for t, c in rec.snapshots if t * 1000 >= joined_ms), None)
    counters = since(rec.counters, at_join) if at_join is not None else rec.counters
    result = summarise(profile_name, variant, rec.probe, counters, joined_ms, joined_ms + int(seconds * 1000),
                       outage_end)
    result.load_avg = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def plot(results: list[Result], out_dir: Path) -> Path | None:
    """Frame delay and video bitrate over time, one panel pair per profile."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    profiles = list(dict.fromkeys(r.profile for r in results))
    fig, axes = plt.subplots(len(profiles), 2, figsize=(12, 3 * len(profiles)), squeeze=False)
    for row, name in zip(axes, profiles):
        for r in (r for r in results if r.profile == name):
            path = out_dir / f"{r.profile}-{r.variant}.probe.json"
            if not path.exists():
                continue
            probe = json.loads(path.read_text())
            t0 = probe["joined_at"] * 1000
            timed = [f for f in probe["frames"] if f[3] is not None]
            row[0].plot([(f[0] - t0) / 1000 for f in timed], [f[3] for f in timed], ".", ms=2, label=r.variant)
            stats = probe["stats"]
            rates = [((b["t"] - t0) / 1000, (b["video"]["bytes"] - a["video"]["bytes"]) * 8 / (b["t"] - a["t"]))
                     for a, b in zip(stats, stats[1:]) if "video" in a and "video" in b and b["t"] > a["t"]]
            row[1].plot([x for x, _ in rates], [y for _, y in rates], label=r.variant)
        row[0].set_title(f"{name}: frame delay (ms)")
        row[0].set_yscale("log")
        row[1].set_title(f"{name}: video kbit/s received")
        for ax in row:
            ax.set_xlabel("s since join")
            ax.legend()
    fig.tight_layout()
    path = out_dir / "media.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def run_suite(profiles: Sequence[str], variants: Sequence[str], seconds: float, out_dir: Path) -> list[Result]:
    """Every profile with every variant, one after another; prints and saves the table, JSON, plot."""
    for name in profiles:
        get_profile(name)  # refuse a typo before the first long run
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for name in profiles:
        for variant in variants:
            print(f"running {name} / {variant} for {run_seconds(get_profile(name), seconds):.0f} s ...", flush=True)
            results.append(run_one(name, variant, seconds, out_dir))
            print(table(results[-1:]).splitlines()[-1], flush=True)
    print(table(results))
    (out_dir / "media.md").write_text(table(results) + "\n")
    (out_dir / "media.json").write_text(json.dumps([r.to_json() for r in results], indent=1))
    picture = plot(results, out_dir)
    if picture:
        print(f"plot: {picture}")
    return results


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="farlink bench media", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", action="append", help=f"repeatable; default: all of {', '.join(load_profiles())}")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time after the join (default 60)")
    parser.add_argument("--stock", action="store_true", help="stock aiortc settings instead of Farlink's")
    parser.add_argument("--json", type=Path, help="write the result: one object, or a list for several profiles")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="probe data, table, plot")
    args = parser.parse_args(argv)
    results = run_suite(args.profile or list(load_profiles()), ["stock" if args.stock else "farlink"],
                        args.seconds, args.out)
    if args.json:
        payload = results[0].to_json() if len(results) == 1 else [r.to_json() for r in results]
        args.json.write_text(json.dumps(payload, indent=1))
    return 0 if all(r.survived for r in results) else 1
