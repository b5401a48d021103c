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
import pytest
from aiohttp.test_utils import TestServer
from aioice import stun, turn

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
        await answering(port)
        yield port
        drain.cancel()
    finally:
        process.terminate()
        await process.wait()


async def answering(port: int) -> None:
    """Wait until coturn answers a STUN binding request: it logs its start before every listener is bound,
    and a request sent before then is refused (ICMP), which on a loaded host failed an allocation."""
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.setblocking(False)
        probe.connect(("127.0.0.1", port))
        loop = asyncio.get_running_loop()
        for _ in range(60):
            try:
                probe.send(bytes(request))
                if stun.parse_message(await asyncio.wait_for(loop.sock_recv(probe, 2048), 0.5)):
                    return
            except (ConnectionRefusedError, asyncio.TimeoutError):
                await asyncio.sleep(0.2)
    pytest.fail("coturn never answered a STUN binding request")


async def allocate(port: int, username: str, password: str) -> tuple[str, int]:
    """Allocate a relayed address on coturn with these credentials; coturn's refusal raises TransactionFailed."""
    transport, _ = await asyncio.wait_for(turn.create_turn_endpoint(
        asyncio.DatagramProtocol, server_addr=("127.0.0.1", port), username=username, password=password), 20)
    try:
        return tuple(transport.get_extra_info("sockname"))
    finally:
        transport.close()


def refused(failure: pytest.ExceptionInfo[stun.TransactionFailed]) -> bool:
    return bool(failure.value.response.attributes["ERROR-CODE"][0] == 401)


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
    host, _ = await allocate(coturn, turn["username"], turn["credential"])
    assert host == "127.0.0.1"
    # A credential signed with another secret, or one past its expiry, is refused by coturn: 401.
    with pytest.raises(stun.TransactionFailed) as wrong_secret:
        await allocate(coturn, turn["username"], credentials("wrong secret", "clinic-1", time.time(), 600)[1])
    assert refused(wrong_secret)
    with pytest.raises(stun.TransactionFailed) as expired:
        await allocate(coturn, *credentials(SECRET, "clinic-1", time.time(), -60))
    assert refused(expired)
