"""The ``farlink`` command: one entry point that hands each subcommand to the package owning it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="farlink", description=__doc__)
    parser.add_argument(
        "command",
        choices=["serve", "station", "demo", "devices", "bench", "admin"],
        help="what to run; 'farlink COMMAND --help' for its options",
    )
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    args, rest = parser.parse_known_args(argv[:1])
    rest = argv[1:]
    if args.command == "devices":
        from devices.cli import main as devices_main

        return devices_main(rest)
    if args.command == "bench":
        from media.cli import main as bench_main

        return bench_main(rest)
    if args.command == "serve":
        from signaling.cli import serve_main

        return serve_main(rest)
    if args.command == "admin":
        from signaling.cli import admin_main

        return admin_main(rest)
    if args.command == "station":
        from station.run import main as station_main

        return station_main(rest)
    from station.demo import main as demo_main

    return demo_main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
