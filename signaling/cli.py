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

from pythonjsonlogger.json import JsonFormatter

from signaling import tls
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
    parser.add_argument("--turn-url", action="append", default=[], metavar="URL",
                        help="coturn URL (turn:host:3478?transport=udp, repeatable) for time-limited credentials")
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate (chain) to serve HTTPS with")
    parser.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    parser.add_argument("--secure-cookies", action="store_true",
                        help="mark session cookies Secure (behind a TLS-terminating proxy; implied by --tls-cert)")
    parser.add_argument("--log-format", choices=["json", "text"], default="json",
                        help="json: one JSON object per line, for log collectors (default); text: for people")
    parser.add_argument("--turn-secret-file", type=Path,
                        help="file holding coturn's static-auth-secret (TURN REST API credentials)")


def server_config(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        data_dir=args.data_dir,
        database_url=args.database_url,
        ice_servers=[IceServer(urls=[url]) for url in args.ice_server],
        turn_urls=args.turn_url,
        secure_cookies=args.tls_cert is not None or args.secure_cookies,
        turn_secret=args.turn_secret_file.read_text().strip() if args.turn_secret_file else None,
    )


def serve_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="farlink serve", description="Run the signaling server.")
    add_server_options(parser)
    args = parser.parse_args(argv)
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    handler = logging.StreamHandler()
    if args.log_format == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           rename_fields={"levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    ssl_context = tls.server_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    web.run_app(create_app(server_config(args)), host=args.host, port=args.port, ssl_context=ssl_context,
                print=lambda text: logging.getLogger("farlink.serve").info(text))
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
    cert = sub.add_parser("make-cert", help="make a self-signed certificate for a clinic LAN")
    cert.add_argument("names", nargs="+", help="host names and IP addresses the server is reached by")
    cert.add_argument("--cert", type=Path, help="where to write it (default DATA_DIR/tls/cert.pem)")
    cert.add_argument("--key", type=Path, help="where to write the key (default DATA_DIR/tls/key.pem)")
    cert.add_argument("--days", type=int, default=825)
    sub.add_parser("verify-audit", help="check the audit log's hash chain; exit 1 naming the first bad entry")
    args = parser.parse_args(argv)
    config = ServerConfig(data_dir=args.data_dir, database_url=args.database_url)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    if args.action == "make-cert":
        cert_path = args.cert or config.data_dir / "tls" / "cert.pem"
        key_path = args.key or config.data_dir / "tls" / "key.pem"
        tls.make_self_signed(args.names, cert_path, key_path, args.days)
        print(f"certificate {cert_path}\nkey         {key_path}\n"
              f"serve with: farlink serve --tls-cert {cert_path} --tls-key {key_path}")
        return 0

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
