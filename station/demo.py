"""``farlink demo``: the whole product on one machine.

A signaling server on the embedded default (in-memory state, SQLite under a data directory), a
station with simulated devices and a test pattern, and a specialist account to log in with.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import signal
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from signaling.accounts import Role
from signaling.app import accounts_key, create_app
from signaling.cli import add_server_options, server_config
from station.config import StationConfig
from station.run import add_station_options, config_from_args, run_station

DEMO_DEVICES = ["contec-v7", "visomat-bp", "ble-thermometer"]
SPECIALIST = "doctor"
STATION_ID = "demo-clinic"


async def demo(args: argparse.Namespace) -> None:
    app = create_app(server_config(args))
    runner = web.AppRunner(app)
    await runner.setup()  # runs cleanup_ctx startup: store, accounts, hub
    try:
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        accounts = app[accounts_key]
        password = args.password or secrets.token_urlsafe(9)
        await accounts.create_user(SPECIALIST, password, Role.SPECIALIST)
        token = await accounts.create_station_token(STATION_ID, "demo station")
        url = f"http://{'localhost' if args.host in ('127.0.0.1', '0.0.0.0') else args.host}:{args.port}/"
        print(
            f"\nFarlink demo is running.\n"
            f"  Open:      {url}  (the specialist's page)\n"
            f"  User name: {SPECIALIST}\n"
            f"  Password:  {password}\n"
            f"  Station '{STATION_ID}' with simulated {', '.join(args.simulate)} is waiting for you.\n"
            f"Press Ctrl-C to stop.\n",
            flush=True,
        )
        config = config_from_args(args, StationConfig(server=url, token=token))
        await run_station(config, "Farlink demo clinic")
    finally:
        await runner.cleanup()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="farlink demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_options(parser)
    add_station_options(parser)
    parser.add_argument("--password", help="the demo specialist's password (default: random, printed)")
    parser.set_defaults(data_dir=Path("data"), station_dir=Path("data/station"),
                        reason="Demo consult: please review vitals")
    args = parser.parse_args(argv)
    args.simulate = args.simulate or list(DEMO_DEVICES)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    loop = asyncio.new_event_loop()
    task = loop.create_task(demo(args))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        print("Farlink demo stopped.")
    finally:
        loop.close()
    return 0
