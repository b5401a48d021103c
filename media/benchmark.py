"""``farlink bench media``: a station and a specialist over the link emulator, stock vs Farlink.

Side "a" of the emulated link holds the station; side "b" holds the signaling server and the
specialist (real headless Chromium, see ``bench_browser.py``). Everything runs as separate
processes inside the emulator's network namespaces, started through the public ``farlink``
commands, so what is measured is what a clinic runs.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from media.benchmetrics import Result, summarise, table
from media.links import load_profiles
from media.linkemu import LinkEmulator

PORT = 8080
USER = "bench"
SERVER_GRACE_S = 40.0


def _farlink(*args: str) -> list[str]:
    return [sys.executable, "-m", "station.cli", *args]


def run_one(profile_name: str, variant: str, seconds: float, out_dir: Path) -> Result:
    profile = load_profiles()[profile_name]
    work = Path(tempfile.mkdtemp(prefix=f"farlink-bench-{profile_name}-"))
    data = work / "data"
    password = secrets.token_urlsafe(8)
    subprocess.run(_farlink("admin", "--data-dir", str(data), "create-user", USER, "--password", password),
                   check=True, stdout=subprocess.DEVNULL)
    token = subprocess.run(_farlink("admin", "--data-dir", str(data), "create-station-token", "bench-station"),
                           check=True, capture_output=True, text=True).stdout.strip()
    probe_file = out_dir / f"{profile_name}-{variant}.probe.json"
    with LinkEmulator(profile) as link:
        url = f"http://{link.b_addr}:{PORT}/"
        logs = {name: open(work / f"{name}.log", "wb") for name in ("server", "station", "browser")}
        server = link.popen("b", _farlink("serve", "--host", link.b_addr, "--port", str(PORT), "--data-dir", str(data)),
                            stdout=logs["server"], stderr=subprocess.STDOUT)
        station = link.popen("a", _farlink(
            "station", "--server", url, "--token", token, "--media", variant,
            "--simulate", "contec-v7", "--reason", f"benchmark {profile_name}"),
            stdout=logs["station"], stderr=subprocess.STDOUT)
        browser = link.popen("b", [sys.executable, "-m", "media.bench_browser", "--url", url, "--user", USER,
                                   "--password", password, "--seconds", str(seconds), "--out", str(probe_file)],
                             stdout=logs["browser"], stderr=subprocess.STDOUT)
        try:
            browser.wait(timeout=seconds + SERVER_GRACE_S + 180)
        finally:
            for process in (browser, station, server):
                if process.poll() is None:
                    process.terminate()
            for process in (browser, station, server):
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
            for log in logs.values():
                log.close()
        counters = link.stats()
        started_ms = int(link.started_at * 1000)
    if not probe_file.exists():
        raise RuntimeError(f"the specialist recorded nothing; see logs in {work}")
    probe = json.loads(probe_file.read_text())
    joined_ms = int(probe["joined_at"] * 1000)
    end_ms = joined_ms + int(seconds * 1000)
    outage_end = None
    if profile.outages:
        start_s, length_s = profile.outages[0]
        outage_end = started_ms + int((start_s + length_s) * 1000)
    return summarise(profile_name, variant, probe, counters, joined_ms, end_ms, outage_end)


def plot(results: list[Result], out_dir: Path) -> Path | None:
    """Frame delay and video bitrate over time, one panel pair per profile."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    profiles = sorted({r.profile for r in results})
    fig, axes = plt.subplots(len(profiles), 2, figsize=(12, 3 * len(profiles)), squeeze=False)
    for row, name in zip(axes, profiles):
        for r in (r for r in results if r.profile == name):
            probe = json.loads((out_dir / f"{r.profile}-{r.variant}.probe.json").read_text())
            t0 = probe["joined_at"] * 1000
            delays = [(f[0] - t0) / 1000 for f in probe["frames"] if f[3] is not None]
            row[0].plot(delays, [f[3] for f in probe["frames"] if f[3] is not None], ".", ms=2, label=r.variant)
            stats = probe["stats"]
            rates = [((b["t"] - t0) / 1000, (b["video"]["bytes"] - a["video"]["bytes"]) * 8 / (b["t"] - a["t"]))
                     for a, b in zip(stats, stats[1:]) if "video" in a and "video" in b and b["t"] > a["t"]]
            row[1].plot([x for x, _ in rates], [y for _, y in rates], label=r.variant)
        row[0].set_title(f"{name}: frame delay (ms)")
        row[1].set_title(f"{name}: video kbit/s received")
        for ax in row:
            ax.set_xlabel("s since join")
            ax.legend()
    fig.tight_layout()
    path = out_dir / "media.png"
    fig.savefig(path, dpi=90)
    return path


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="farlink bench media", description=__doc__)
    parser.add_argument("--profile", action="append", help="link profile (repeatable; default: all)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--stock", action="store_true", help="only stock aiortc settings")
    parser.add_argument("--farlink", action="store_true", help="only Farlink's adaptive media")
    parser.add_argument("--json", type=Path, help="write the result (one object, or a list for several runs)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="probe data, plot, table")
    args = parser.parse_args(argv)
    profiles = args.profile or list(load_profiles())
    variants = ["stock"] if args.stock else ["farlink"] if args.farlink else ["stock", "farlink"]
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for name in profiles:
        for variant in variants:
            print(f"running {name} / {variant} for {args.seconds:.0f} s ...", flush=True)
            results.append(run_one(name, variant, args.seconds, args.out))
            print(table(results[-1:]).splitlines()[-1], flush=True)
    print(table(results))
    (args.out / "media.md").write_text(table(results) + "\n")
    (args.out / "media.json").write_text(json.dumps([r.to_json() for r in results], indent=1))
    if args.json:
        payload = results[0].to_json() if len(results) == 1 else [r.to_json() for r in results]
        args.json.write_text(json.dumps(payload, indent=1))
    picture = plot(results, args.out)
    if picture:
        print(f"plot: {picture}")
    return 0 if all(r.survived for r in results if r.variant == "farlink") else 1
