"""Every link profile, stock aiortc beside Farlink, in one run: ``python bench/media.py [--seconds N]``.

Needs root (network namespaces, TUN) and Chromium at /usr/bin/chromium. Prints one table and
saves ``bench/results/media.{md,json,png}`` plus each run's probe recording.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from media.benchmark import VARIANTS, run_suite  # noqa: E402
from media.links import load_profiles  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--profile", action="append", help="repeatable; default: all")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    results = run_suite(args.profile or list(load_profiles()), VARIANTS, args.seconds, args.out)
    return 0 if all(r.survived for r in results if r.variant == "farlink") else 1


if __name__ == "__main__":
    raise SystemExit(main())
