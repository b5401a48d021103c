"""``farlink devices ...``: decode captures, list ports and radios, read a device, run a simulator."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from devices.decode import PROTOCOLS, decode
from devices.errors import FarlinkError

EXIT_BAD_INPUT = 2


def _fail(message: str) -> int:
    print(" ".join(f"farlink devices: {message}".split()), file=sys.stderr)
    return EXIT_BAD_INPUT


def _decode(args: argparse.Namespace) -> int:
    try:
        data = bytes.fromhex(args.hex)
    except ValueError as exc:
        return _fail(f"bad_hex: {args.hex!r} is not hexadecimal ({exc})")
    if not data:
        return _fail("truncated: no bytes to decode")
    try:
        result = decode(args.protocol, data)
    except FarlinkError as exc:
        return _fail(str(exc))
    print(json.dumps(result))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="farlink devices", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    decoding = commands.add_parser("decode", help="decode a hex capture; prints JSON readings, exits 2 if malformed")
    decoding.add_argument("protocol", choices=sorted(PROTOCOLS), metavar="PROTOCOL",
                          help=", ".join(PROTOCOLS))
    decoding.add_argument("hex", metavar="HEX", help="the bytes, in hex (spaces allowed)")
    decoding.set_defaults(run=_decode)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))
