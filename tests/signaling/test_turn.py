"""TURN REST API credentials against a real coturn (Debian's package): relayed candidates or refusal.

Skipped, with the reason, where ``turnserver`` is not installed (``apt-get install coturn``).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aioice
import pytest
from aiohttp.test_utils import TestServer

from signaling.app import accounts_key, create_app
from signaling.config import ServerConfig
from signaling.turn import credentials
from tests.signaling.helpers import next_of

SECRET = "shared-with-coturn"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[int]:
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.skip("coturn is not installed here (apt-get install coturn)")
    port = free_udp_port()
    process = await asyncio.create_subprocess_exec(
        binary, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
        "--use-auth-secret", f"--static-auth-secret={SECRET}", "--realm=farlink", "--no-tls", "--no-dtls",
        "--no-cli", "--allow-loopback-peers", "--log-file=stdout", "--simple-log",
        f"--pidfile={tmp_path / 'turn.pid'}", "--min-port=49200", "--max-port=49400",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert process.stdout is not None
        while b"Total General servers" not in (line := await asyncio.wait_for(process.stdout.readline(), 30)):
            assert line, "turnserver exited at start"
        drain = asyncio.create_task(process.stdout.read())  # keep its log pipe from filling up
        yield port
        drain.cancel()
    finally:
        process.terminate()
        await process.wait()


async def relayed(port: int, username: str, password: str) -> bool:
    """Gather candidates through coturn; True if it handed out a relayed address."""
    connection = aioice.Connection(ice_controlling=True, turn_server=("127.0.0.1", port), turn_username=username,
                                   turn_password=password, turn_transport="udp", use_ipv6=False)
    try:
        await asyncio.wait_for(connection.gather_candidates(), 20)
        return any(c.type == "relay" for c in connection.local_candidates)
    except (ConnectionError, OSError, asyncio.TimeoutError):
        return False
    finally:
        await connection.close()


async def test_welcome_credentials_are_accepted_by_coturn(coturn: int, tmp_path: Path) -> None:
    url = f"turn:127.0.0.1:{coturn}?transport=udp"
    app = create_app(ServerConfig(data_dir=tmp_path, turn_urls=[url], turn_secret=SECRET, turn_ttl_s=600))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        token = await app[accounts_key].create_station_token("clinic-1")
        async with aiohttp.ClientSession() as http, http.ws_connect(
                server.make_url("/ws"), headers={"Authorization": f"Bearer {token}"}) as ws:
            [turn] = (await next_of(ws, "welcome"))["ice_servers"]
    finally:
        await server.close()
    assert turn["urls"] == [url]
    expiry, user = turn["username"].split(":")
    assert user == "clinic-1" and 590 <= int(expiry) - time.time() <= 610
    assert await relayed(coturn, turn["username"], turn["credential"])
    # A credential signed with another secret, or one past its expiry, is refused by coturn.
    assert not await relayed(coturn, turn["username"], credentials("wrong secret", "clinic-1", time.time(), 600)[1])
    expired = credentials(SECRET, "clinic-1", time.time(), -60)
    assert not await relayed(coturn, *expired)
