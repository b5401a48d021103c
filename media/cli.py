"""``farlink bench``: the link emulator and the media benchmark from the command line.

``farlink bench link PROFILE [--b CMD]... -- COMMAND...`` runs COMMAND in the station's side of
an emulated link (side "a", address 198.18.0.1) while each ``--b`` command runs on the far side
(198.18.0.2); both see ``FARLINK_LINK_A`` and ``FARLINK_LINK_B`` in their environment. When
COMMAND ends (or on Ctrl-C) the far-side commands are stopped, the link torn down and what it
carried and dropped printed per traffic class. ``farlink bench media ...``: see
``media/benchmark.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from devices.errors import FarlinkError
from media.links import get_profile, load_profiles
from media.linkemu import LinkEmulator


def counters_table(stats: dict[str, dict[str, dict[str, int]]]) -> str:
    """Per direction and class: packets and bytes delivered, dropped at the queue, lost on air."""
    lines = ["| direction | class | packets | bytes | dropped | lost |", "|---|---|---|---|---|---|"]
    for direction, classes in stats.items():
        for kind, c in sorted(classes.items()):
            lines.append(f"| {direction} | {kind} | {c['packets']} | {c['bytes']} | {c['dropped']} | {c['lost']} |")
    return "\n".join(lines)


def link_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="farlink bench link", description=__doc__,
                                     epilog="-- COMMAND...: what to run on the station's side",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", help=f"one of: {', '.join(load_profiles())}")
    parser.add_argument("--b", action="append", default=[], metavar="CMD",
                        help="a command (one shell-quoted string) to run on the far side (repeatable)")
    parser.add_argument("--seed", type=int, help="seed the link's random loss, for repeatable runs")
    parser.add_argument("--json", type=Path, help="also write the counters as JSON")
    argv = list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        parser.error("give the command to run after --")
    # SIGTERM unwinds like Ctrl-C: through the emulator's clean-up and the counters' report.
    # Ctrl-C too, even where it came in ignored (a command started in the background by a
    # shell without job control inherits SIGINT ignored, and the link then never came down).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with LinkEmulator(get_profile(args.profile), seed=args.seed) as link:
        env = {**os.environ, "FARLINK_LINK_A": link.a_addr, "FARLINK_LINK_B": link.b_addr}
        for far in args.b:
            link.popen("b", shlex.split(far), env=env)
        try:
            code = link.popen("a", command, env=env).wait()
        except KeyboardInterrupt:
            code = 130
        stats = link.stats()
    print(counters_table(stats), file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(stats, indent=1))
    return code


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in ("link", "media"):
        print("usage: farlink bench {link,media} ...  ('farlink bench link --help')", file=sys.stderr)
        return 2
    try:
        if argv[0] == "link":
            return link_main(argv[1:])
        from media.benchmark import main as media_main

        return media_main(argv[1:])
    except FarlinkError as exc:
        print(f"farlink bench: {exc}", file=sys.stderr)
        return 2
