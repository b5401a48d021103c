"""HTTPS through the real commands: make-cert, then ``farlink serve`` with it and JSON logs."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import aiohttp

FARLINK = [sys.executable, "-m", "station.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_serve_https_with_a_made_certificate(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = subprocess.run([*FARLINK, "admin", "--data-dir", str(data), "make-cert", "localhost", "127.0.0.1"],
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    cert, key = data / "tls" / "cert.pem", data / "tls" / "key.pem"
    assert key.stat().st_mode & 0o077 == 0  # the key is readable by its owner only
    subprocess.run([*FARLINK, "admin", "--data-dir", str(data), "create-user", "doctor", "--password", "pass word"],
                   check=True, capture_output=True, timeout=120)
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        *FARLINK, "serve", "--data-dir", str(data), "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key),
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL)
    trusted = ssl.create_default_context(cafile=str(cert))
    try:
        assert server.stderr is not None
        first = json.loads(await asyncio.wait_for(server.stderr.readline(), 60))  # structured logs
        assert {"asctime", "level", "logger", "message"} <= first.keys()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            for _ in range(100):
                try:
                    async with http.get(f"https://127.0.0.1:{port}/healthz", ssl=trusted) as res:
                        assert res.status == 200
                        break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.2)
            async with http.post(f"https://localhost:{port}/api/login", ssl=trusted,
                                 json={"name": "doctor", "password": "pass word"}) as res:
                assert res.status == 200
                assert "Secure" in res.headers["Set-Cookie"] and "HttpOnly" in res.headers["Set-Cookie"]
            # Without trusting the certificate, or in plain HTTP, there is no conversation.
            for url, context in ((f"https://127.0.0.1:{port}/healthz", ssl.create_default_context()),
                                 (f"http://127.0.0.1:{port}/healthz", None)):
                try:
                    async with http.get(url, ssl=context) as res:
                        assert res.status == 400  # aiohttp answers plain HTTP on a TLS port with 400 at most
                except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientOSError,
                        aiohttp.ServerDisconnectedError):
                    pass
    finally:
        server.terminate()
        await server.wait()
