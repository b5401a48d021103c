"""``farlink serve`` and ``farlink admin``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from signaling.accounts import Accounts, Role
from signaling.audit import AuditLog
from signaling.app import create_app
from signaling.config import IceServer, ServerConfig
from signaling.store import Store


def add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where SQLite and stills live")
    parser.add_argument("--database-url", help="SQLAlchemy URL, e.g. postgresql+asyncpg://host/db (default: SQLite)")
    parser.add_argument("--ice-server", action="append", default=[], metavar="URL",
                        help="STUN/TURN URL handed to peers (repeatable); none by default")


def server_config(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        data_dir=args.data_dir,
        database_url=args.database_url,
        ice_servers=[IceServer(urls=[url]) for url in args.ice_server],
    )


def serve_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="farlink serve", description="Run the signaling server.")
    add_server_options(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(create_app(server_config(args)), host=args.host, port=args.port)
    return 0


def admin_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="farlink admin", description="Manage accounts and station tokens.")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--database-url")
    sub = parser.add_subparsers(dest="action", required=True)
    user = sub.add_parser("create-user", help="create or update a user")
    user.add_argument("name")
    user.add_argument("--role", choices=[r.value for r in Role if r not in (Role.STATION, Role.RELAY)], default="specialist")
    user.add_argument("--password", help="prompted for when omitted")
    token = sub.add_parser("create-station-token", help="issue an API token for a station")
    token.add_argument("station_id")
    token.add_argument("--label", default="")
    revoke = sub.add_parser("revoke-station-token", help="revoke a station's tokens (all, or the one given)")
    revoke.add_argument("station_id")
    revoke.add_argument("--token", help="revoke only this token; by default every token of the station")
    sub.add_parser("verify-audit", help="check the audit log's hash chain; exit 1 naming the first bad entry")
    args = parser.parse_args(argv)
    config = ServerConfig(data_dir=args.data_dir, database_url=args.database_url)
    config.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> int:
        store = Store(config.db_url)
        await store.open()
        accounts = Accounts(store)
        try:
            if args.action == "create-user":
                password = args.password or getpass.getpass(f"Password for {args.name}: ")
                await accounts.create_user(args.name, password, Role(args.role))
                print(f"user {args.name} ({args.role}) saved")
            elif args.action == "create-station-token":
                print(await accounts.create_station_token(args.station_id, args.label))
            elif args.action == "revoke-station-token":
                count = await accounts.revoke_station_tokens(args.station_id, args.token)
                print(f"revoked {count} token(s) of station {args.station_id}")
                if count == 0:
                    return 1
            elif args.action == "verify-audit":
                verdict = await AuditLog(store).verify()
                if not verdict.ok:
                    print(f"audit log TAMPERED: entry {verdict.first_bad} {verdict.reason}", file=sys.stderr)
                    return 1
                print(f"audit log intact: {verdict.entries} entries")
            return 0
        finally:
            await store.close()

    return asyncio.run(run())
