"""``farlink devices ...``: decode captures, list ports and radios, read a device, run a simulator."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from devices.catalog import KINDS, open_source, start_simulator
from devices.decode import PROTOCOLS, decode
from devices.errors import FarlinkError
from devices.reading import Reading
from devices.source import DeviceEvent, Gap

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


def _until_signalled(work: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """Run ``work`` until it returns or Ctrl-C / SIGTERM sets its stop event (then exit 0)."""
    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await work(stop)
    return asyncio.run(run())


async def _first(stop: asyncio.Event, coroutine: Awaitable[Any]) -> Any:
    """``coroutine``'s result, or None once ``stop`` is set."""
    task = asyncio.ensure_future(coroutine)
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopper):
        pending.cancel()
    return task.result() if task in done and not task.cancelled() else None


def _read(args: argparse.Namespace) -> int:
    if (args.port is None) == (not args.simulated):
        return _fail("bad_request: give PORT, or --simulated to read a simulator started here")

    async def work(stop: asyncio.Event) -> int:
        simulator = await start_simulator(args.kind) if args.simulated else None
        port = simulator.port if simulator is not None else args.port
        try:
            source = open_source(args.kind, port)
            print(f"reading {source.name}", file=sys.stderr, flush=True)
            await _first(stop, _print_events(source.events(), args.count))
        finally:
            if simulator is not None:
                await simulator.stop()
        return 0

    try:
        return _until_signalled(work)
    except FarlinkError as exc:
        return _fail(str(exc))


async def _print_events(events: AsyncIterator[DeviceEvent], count: int | None) -> None:
    """Readings on stdout, one JSON object a line; link changes and gaps on stderr."""
    printed = 0
    async for event in events:
        if isinstance(event, Reading):
            print(json.dumps(event.to_json()), flush=True)
            printed += 1
            if count is not None and printed >= count:
                return
        elif isinstance(event, Gap):
            print(f"{event.source}: no data for {event.end - event.start:.1f} s", file=sys.stderr, flush=True)
        else:
            reason = f" ({event.reason})" if event.reason else ""
            print(f"{event.source}: {event.state.value}{reason}", file=sys.stderr, flush=True)


def _simulate(args: argparse.Namespace) -> int:
    async def work(stop: asyncio.Event) -> int:
        options = {} if args.interval is None else {"interval_s": args.interval}
        simulator = await start_simulator(args.kind, **options)
        try:
            print(simulator.port, flush=True)
            if not args.kind.startswith("ble-"):
                print(f"serial {args.kind} simulator; read it with: farlink devices read {args.kind} {simulator.port}",
                      file=sys.stderr, flush=True)
            else:
                print(f"BLE {args.kind} simulator on this process's in-process air (no radio); read one from"
                      f" another process with: farlink devices read {args.kind} --simulated", file=sys.stderr, flush=True)
            await stop.wait()
        finally:
            await simulator.stop()
        return 0

    try:
        return _until_signalled(work)
    except FarlinkError as exc:
        return _fail(str(exc))


def _scan(args: argparse.Namespace) -> int:
    from devices.scan import run_scan  # bleak and pyserial only when scanning

    for line in run_scan(tuple(args.port), args.probe, args.ble_timeout):
        print(line, flush=True)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="farlink devices", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    decoding = commands.add_parser("decode", help="decode a hex capture; prints JSON readings, exits 2 if malformed")
    decoding.add_argument("protocol", choices=sorted(PROTOCOLS), metavar="PROTOCOL",
                          help=", ".join(PROTOCOLS))
    decoding.add_argument("hex", metavar="HEX", help="the bytes, in hex (spaces allowed)")
    decoding.set_defaults(run=_decode)

    scanning = commands.add_parser("scan", help="list serial ports and BLE devices, and what each looks like")
    scanning.add_argument("--port", action="append", default=[], help="also describe this path (e.g. a simulator)")
    scanning.add_argument("--probe", type=float, nargs="?", const=1.5, metavar="SECONDS",
                          help="listen to each port at each profile's line settings to tell what it is")
    scanning.add_argument("--ble-timeout", type=float, default=5.0, metavar="SECONDS")
    scanning.set_defaults(run=_scan)

    reading = commands.add_parser("read", help="live readings of one device, one JSON line each, until Ctrl-C")
    reading.add_argument("kind", choices=KINDS, metavar="KIND", help=", ".join(KINDS))
    reading.add_argument("port", nargs="?", metavar="PORT", help="serial path, BLE address or name")
    reading.add_argument("--simulated", action="store_true", help="start a simulator of KIND here and read it")
    reading.add_argument("--count", type=int, help="stop after this many readings")
    reading.set_defaults(run=_read)

    simulating = commands.add_parser("simulate", help="run a simulated device until Ctrl-C; prints its port or name")
    simulating.add_argument("kind", choices=KINDS, metavar="KIND", help=", ".join(KINDS))
    simulating.add_argument("--interval", type=float, metavar="SECONDS", help="pace of the simulator")
    simulating.set_defaults(run=_simulate)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))
